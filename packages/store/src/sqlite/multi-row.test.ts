import Database from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { describe, expect, it } from 'vitest';
import { resourceHash, resourceId } from '@tendril/core';
import { Slot } from '../slots.js';
import type { PendingChange } from '../types.js';
import { SqliteStatements } from './driver.js';
import { insertShape, MAX_ROWS_PER_STATEMENT, runBatchRows } from './multi-row.js';
import { openSqliteStore, WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES } from './open.js';

/** A batch INSERT as prepared.ts compiles one: column slots for the row, a value slot for the query. */
function upsert(onConflict: string): CompiledQuery {
  const query = CompiledQuery.raw(
    `insert into "t" ("k", "v", "tag", "fixed") values (?, ?, ?, 'a?b') ${onConflict}`,
  );
  return { ...query, parameters: [new Slot('k', 'column'), new Slot('v', 'column'), 'tag-1'] };
}

function table(): { db: Database.Database; statements: SqliteStatements } {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL, tag TEXT NOT NULL, fixed TEXT NOT NULL)');
  return { db, statements: new SqliteStatements(db) };
}

/** Rows with repeated keys: which of a key's rows wins shows that rows are applied in order. */
const rows = Array.from({ length: 1_000 }, (_, i) => ({ k: `key-${i % 97}`, v: i }));

describe('SQLite batches and checkpoints on the page-commit path', () => {
  it('finds the one VALUES tuple outside quotes, with its parameter counts', () => {
    const shape = insertShape(upsert('on conflict ("k") do nothing').sql, 3);
    expect(shape).toMatchObject({ tuple: "(?, ?, ?, 'a?b')", before: 0, width: 3 });
    expect(insertShape('update "t" set "v" = ? from (select ? as "k") as "u"', 2)).toBeNull();
    // A parameter count that does not match the text is not trusted.
    expect(insertShape(upsert('on conflict ("k") do nothing').sql, 4)).toBeNull();
  });

  it('applies rows in order, as row-by-row statements would: the last update and the first insert win', () => {
    for (const conflict of [
      'on conflict ("k") do update set "v" = excluded."v"',
      'on conflict ("k") do nothing',
    ]) {
      const query = upsert(conflict);
      const many = table();
      const result = runBatchRows(many.statements, query, query.parameters, rows);
      const one = table();
      const insert = one.db.prepare(
        `insert into "t" ("k", "v", "tag", "fixed") values (?, ?, ?, 'a?b') ${conflict}`,
      );
      for (const row of rows) insert.run(row.k, row.v, 'tag-1');
      const all = 'SELECT k, v, tag, fixed FROM t ORDER BY k';
      expect(many.db.prepare(all).all()).toEqual(one.db.prepare(all).all());
      expect(Number(result.numAffectedRows)).toBe(conflict.includes('update') ? 1_000 : 97);
    }
  });

  it('returns every inserted row of a RETURNING insert across its chunks', () => {
    const base = upsert('on conflict ("k") do nothing returning "k"');
    const { statements } = table();
    const result = runBatchRows(statements, base, base.parameters, rows);
    const keys = (result.rows as { k: string }[]).map((r) => r.k);
    expect(new Set(keys).size).toBe(97);
    expect(keys).toHaveLength(97);
  });

  it('commits a page larger than one statement with every event, sequence and shadow row in order', async () => {
    const store = openSqliteStore(':memory:');
    await store.migrate();
    const count = MAX_ROWS_PER_STATEMENT * 3 + 77;
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
