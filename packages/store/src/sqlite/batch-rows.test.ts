import Database from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { describe, expect, it } from 'vitest';
import { resourceHash, resourceId } from '@tendril/core';
import { Slot } from '../slots.js';
import type { PendingChange } from '../types.js';
import { runBatchRows } from './batch-rows.js';
import { SqliteStatements, type SqliteDatabase } from './driver.js';
import { openSqliteStore, WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES } from './open.js';

/** A batch INSERT as prepared.ts compiles one: column slots for the row, a value slot for the query. */
function upsert(onConflict: string): CompiledQuery {
  const query = CompiledQuery.raw(
    `insert into "t" ("k", "v", "tag", "fixed") values (?, ?, ?, 'a?b') ${onConflict}`,
  );
  return { ...query, parameters: [new Slot('k', 'column'), new Slot('v', 'column'), 'tag-1'] };
}

/** A table, and every SQL text prepared on its connection. */
function table(): { db: Database.Database; statements: SqliteStatements; prepared: string[] } {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL, tag TEXT NOT NULL, fixed TEXT NOT NULL)');
  const prepared: string[] = [];
  const recording: SqliteDatabase = {
    get name() {
      return db.name;
    },
    get memory() {
      return db.memory;
    },
    get inTransaction() {
      return db.inTransaction;
    },
    prepare: (text) => {
      prepared.push(text);
      return db.prepare(text);
    },
    pragma: (source, options) => db.pragma(source, options),
    close: () => db.close(),
  };
  return { db, statements: new SqliteStatements(recording), prepared };
}

/** Rows with repeated keys: which of a key's rows wins shows that rows are applied in order. */
const rows = Array.from({ length: 1_000 }, (_, i) => ({ k: `key-${i % 97}`, v: i }));

describe('SQLite batches and checkpoints on the page-commit path', () => {
  // A multi-row INSERT makes SQLite copy every page it touches into a statement journal first;
  // with random-keyed indexes that doubled a backload's writes (sqlite/batch-rows.ts).
  it('runs a batch as its one-row statement, prepared once, never as a multi-row INSERT', () => {
    const query = upsert('on conflict ("k") do update set "v" = excluded."v"');
    const { db, statements, prepared } = table();
    runBatchRows(statements, query, query.parameters, rows);
    expect(prepared).toEqual([query.sql]);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 97 });
  });

  it('applies rows in order: the last update and the first insert win, and counts what changed', () => {
    for (const conflict of [
      'on conflict ("k") do update set "v" = excluded."v"',
      'on conflict ("k") do nothing',
    ]) {
      const query = upsert(conflict);
      const { db, statements } = table();
      const result = runBatchRows(statements, query, query.parameters, rows);
      const stored = db.prepare('SELECT k, v, tag, fixed FROM t ORDER BY v').all() as {
        k: string;
        v: number;
      }[];
      expect(stored).toHaveLength(97);
      for (const row of stored) {
        const versions = rows.filter((r) => r.k === row.k).map((r) => r.v);
        expect(row.v).toBe(conflict.includes('update') ? Math.max(...versions) : Math.min(...versions));
      }
      expect(stored[0]).toMatchObject({ tag: 'tag-1', fixed: 'a?b' });
      expect(Number(result.numAffectedRows)).toBe(conflict.includes('update') ? 1_000 : 97);
    }
  });

  it('returns every inserted row of a RETURNING insert', () => {
    const base = upsert('on conflict ("k") do nothing returning "k"');
    const { statements } = table();
    const result = runBatchRows(statements, base, base.parameters, rows);
    const keys = (result.rows as { k: string }[]).map((r) => r.k);
    expect(new Set(keys).size).toBe(97);
    expect(keys).toHaveLength(97);
  });

  it('commits a page of 1,077 changes with every event, sequence and shadow row in order', async () => {
    const store = openSqliteStore(':memory:');
    await store.migrate();
    const count = 1_077;
    const changes: PendingChange[] = Array.from({ length: count }, (_, i) => {
      // Every tenth change repeats an earlier source id: the last change of a source id wins the shadow.
      const sourceId = String(i % 10 === 9 ? i - 5 : i);
      const id = resourceId('c1', 'Patient', sourceId);
      const resource = { resourceType: 'Patient', id, sourceId, name: { family: `F${i}` } };
      return {
        resourceType: 'Patient',
        sourceId,
        resourceId: id,
        kind: 'created',
        hash: resourceHash(resource),
        data: resource,
        refs: {},
      };
    });
    const stored = await store.commitPage({
      connectionId: 'c1',
      connectorId: 'open-dental',
      stream: 'patients',
      changes,
      seen: [],
      state: { mode: 'timestamp' },
      seenAt: '2026-01-01T00:00:00.000Z',
    });
    const events = await store.listEvents({ connectionId: 'c1', limit: 10_000 });
    expect(events).toHaveLength(count);
    expect(events.map((e) => e.envelope)).toEqual(stored.map((e) => e.envelope));
    const first = events[0]!.envelope.sequence;
    expect(events.map((e) => e.envelope.sequence)).toEqual(events.map((_, i) => first + i));
    expect(events.map((e) => e.envelope.data['name'])).toEqual(changes.map((c) => c.data['name']));
    const shadow = await store.getShadow(
      'c1',
      'Patient',
      changes.map((c) => c.sourceId),
    );
    const last = new Map(changes.map((c) => [c.sourceId, c.hash]));
    expect(shadow.size).toBe(last.size);
    for (const [sourceId, hash] of last) expect(shadow.get(sourceId)?.hash).toBe(hash);
    await store.close();
  });

  // A checkpoint per page commit copied the same random-key index pages again and again.
  it('opens the store with checkpoints spaced for page commits, and the WAL cut back after one', async () => {
    const database = new Database(':memory:');
    const store = openSqliteStore(database);
    expect(database.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
    expect(database.pragma('journal_size_limit', { simple: true })).toBe(WAL_SIZE_LIMIT_BYTES);
    expect(WAL_AUTOCHECKPOINT_PAGES).toBeGreaterThan(1_000);
    await store.close();
  });
});
