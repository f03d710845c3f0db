import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTendrilError, resourceHash, resourceId, type StoredEvent } from '@tendril/core';
import { openSqliteStore } from './open.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './migrations.js';
import { describeStoreContract } from '../store-contract.test-helper.js';
import type { PageCommit, PendingChange, Store } from '../types.js';

let dir: string;
let counter = 0;
const freshPath = (): string => join(dir, `store-${(counter += 1)}.db`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-store-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeStoreContract('sqlite file', async () => openSqliteStore(freshPath()));
describeStoreContract('sqlite :memory:', async () => openSqliteStore(':memory:'));
// The same contract with the payloads sealed by a site key (docs/security.md, "PHI at rest").
describeStoreContract('sqlite file, sealed payloads', async () =>
  openSqliteStore(freshPath(), { siteKey: randomBytes(32) }),
);

function patient(connectionId: string, sourceId: string, family: string): PendingChange {
  const id = resourceId(connectionId, 'Patient', sourceId);
  const resource = { resourceType: 'Patient', id, sourceId, name: { family } };
  const hash = resourceHash(resource);
  return {
    resourceType: 'Patient',
    sourceId,
    resourceId: id,
    kind: 'created',
    hash,
    data: { ...resource, meta: { syncedAt: '2025-01-20T14:05:00.000Z', hash } },
    refs: {},
  };
}

function page(connectionId: string, changes: PendingChange[], watermark = '2025-01-20 14:03:11'): PageCommit {
  return {
    connectionId,
    connectorId: 'open-dental',
    stream: 'patient',
    changes,
    seen: [],
    state: { mode: 'timestamp', watermark },
    seenAt: '2025-01-20T14:05:00.000Z',
  };
}

async function withStore<T>(path: string, fn: (store: Store) => Promise<T>, now?: () => Date): Promise<T> {
  const store = openSqliteStore(path, now === undefined ? {} : { now });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A second, raw connection to the same file: how these tests look under the store and tamper with it. */
function raw<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('openSqliteStore (SQLite specifics)', () => {
  it('creates the parent directory, runs in WAL mode and keeps its data across reopen', async () => {
    const path = join(dir, 'nested', 'deeper', 'tendril.db');
    const [event] = await withStore(path, (store) =>
      store.commitPage(page('c1', [patient('c1', '1', 'Rivera')])),
    );
    expect(existsSync(path)).toBe(true);

    raw(path, (db) => {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(
        SQLITE_MIGRATIONS.map((m) => m.version).sort((x, y) => x - y),
      );
      expect(Math.max(...SQLITE_MIGRATIONS.map((m) => m.version))).toBe(SQLITE_SCHEMA_VERSION);
    });

    await withStore(path, async (store) => {
      expect(await store.listEvents({ limit: 10 })).toEqual([event]);
      expect((await store.getShadow('c1', 'Patient', ['1'])).get('1')?.hash).toBe(
        patient('c1', '1', 'Rivera').hash,
      );
      expect(await store.getStreamState('c1', 'patient')).toEqual({
        mode: 'timestamp',
        watermark: '2025-01-20 14:03:11',
      });
    });
  });

  it('starts a connection at the pinned clock × 1000 and continues from the stored value after reopen', async () => {
    const path = freshPath();
    const pinned = Date.parse('2031-06-01T00:00:00.000Z');
    const first = await withStore(
      path,
      (store) => store.commitPage(page('c1', [patient('c1', '1', 'A'), patient('c1', '2', 'B')])),
      () => new Date(pinned),
    );
    expect(first.map((e) => e.envelope.sequence)).toEqual([pinned * 1000, pinned * 1000 + 1]);

    // Reopened with a clock far in the past: the stored value wins, sequences keep increasing.
    const second = await withStore(
      path,
      (store) => store.commitPage(page('c1', [patient('c1', '3', 'C')])),
      () => new Date(0),
    );
    expect(second[0]!.envelope.sequence).toBe(pinned * 1000 + 2);
    raw(path, (db) => {
      expect(
        db.prepare('SELECT last_sequence FROM connection_sequence WHERE connection_id = ?').pluck().get('c1'),
      ).toBe(pinned * 1000 + 2);
      expect(db.prepare('SELECT typeof(sequence) FROM outbox LIMIT 1').pluck().get()).toBe('integer');
    });
  });

  it('rolls back a page when SQLite itself fails mid-transaction, and wraps the error', async () => {
    const path = freshPath();
    await withStore(path, (store) => store.commitPage(page('c1', [patient('c1', '1', 'Kept')], 'old')));
    // A trigger aborts the insert of the second event, after the first was written in the same transaction.
    raw(path, (db) =>
      db.exec(`CREATE TRIGGER poison BEFORE INSERT ON outbox WHEN NEW.source_id = 'poison'
               BEGIN SELECT RAISE(ABORT, 'injected failure'); END`),
    );
    await withStore(path, async (store) => {
      const error = await store
        .commitPage(page('c1', [patient('c1', '2', 'Good'), patient('c1', 'poison', 'Secret')], 'new'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isTendrilError(error, 'TENDRIL_E_STORE')).toBe(true);
      const tendril = error as Error & { retryable: boolean; details: Record<string, unknown> };
      expect(tendril.retryable).toBe(true);
      expect(tendril.cause).toBeInstanceOf(Database.SqliteError);
      expect(tendril.details['sqliteCode']).toMatch(/^SQLITE_CONSTRAINT/);
      expect(tendril.message).not.toMatch(/Secret|poison|injected/);

      expect(await store.countEvents()).toBe(1);
      expect([...(await store.getShadow('c1', 'Patient', ['1', '2', 'poison'])).keys()]).toEqual(['1']);
      expect(await store.getStreamState('c1', 'patient')).toEqual({ mode: 'timestamp', watermark: 'old' });
    });
  });

  it('inserts an event whose id already exists as a no-op (ON CONFLICT (id) DO NOTHING)', async () => {
    const path = freshPath();
    const change = patient('c1', '1042', 'Rivera');
    const [original] = await withStore(path, (store) => store.commitPage(page('c1', [change])));
    const before = raw(path, (db) => db.prepare('SELECT * FROM outbox').all());

    // A redone page after a lost commit acknowledgement: the sequence counter is back where it was,
    // so the store derives the very same event id and the insert must change nothing.
    raw(path, (db) =>
      db
        .prepare('UPDATE connection_sequence SET last_sequence = ? WHERE connection_id = ?')
        .run(original!.envelope.sequence - 1, 'c1'),
    );
    const [redone] = await withStore(
      path,
      (store) => store.commitPage(page('c1', [change], 'redone')),
      () => new Date('2030-01-01T00:00:00Z'),
    );
    expect(redone!.envelope.id).toBe(original!.envelope.id);
    expect(redone!.envelope.sequence).toBe(original!.envelope.sequence);

    const after = raw(path, (db) => db.prepare('SELECT * FROM outbox').all());
    expect(after).toEqual(before); // same single row, created_at untouched
    await withStore(path, async (store) => {
      expect(await store.countEvents()).toBe(1);
      expect(await store.getStreamState('c1', 'patient')).toEqual({ mode: 'timestamp', watermark: 'redone' });
    });
  });

  it('refuses a store written by a newer schema', async () => {
    const path = freshPath();
    await withStore(path, async () => undefined);
    raw(path, (db) =>
      db
        .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(SQLITE_SCHEMA_VERSION + 1, 'future', '2040-01-01T00:00:00.000Z'),
    );
    const store = openSqliteStore(path);
    try {
      await expect(store.migrate()).rejects.toMatchObject({
        code: 'TENDRIL_E_STORE_SCHEMA',
        retryable: false,
      });
      // Any other call checks too, rather than writing into a schema it does not know.
      await expect(store.countEvents()).rejects.toMatchObject({ code: 'TENDRIL_E_STORE_SCHEMA' });
    } finally {
      await store.close();
    }
  });

  it('applies a step numbered below the highest recorded one, and keeps old shadow rows undated', async () => {
    const path = freshPath();
    await withStore(path, (store) => store.commitPage(page('c1', [patient('c1', '1', 'Rivera')])));
    // A store that recorded every step except the business-date one (version 3), as if the steps
    // had been written in another order: the column goes and the step is forgotten.
    raw(path, (db) => {
      db.exec('DROP INDEX shadow_stream_business_date; ALTER TABLE shadow DROP COLUMN business_date');
      db.prepare('DELETE FROM schema_migrations WHERE version = 3').run();
    });
    await withStore(path, async (store) => {
      expect((await store.getShadow('c1', 'Patient', ['1'])).get('1')).not.toHaveProperty('businessDate');
      await store.commitPage(page('c1', [{ ...patient('c1', '2', 'Okafor'), businessDate: '2025-05-01' }]));
      expect((await store.getShadow('c1', 'Patient', ['2'])).get('2')?.businessDate).toBe('2025-05-01');
    });
    raw(path, (db) => {
      expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toContain(3);
    });
  });

  // Undated rows (every stream but window streams) in this index made a backload dirty pages all
  // over it: their NULL date left them in random source-id order (migration step 9).
  it('keeps undated shadow rows out of the business-date index, which a dated scan still walks', async () => {
    const path = freshPath();
    await withStore(path, (store) =>
      store.commitPage(
        page('c1', [
          patient('c1', '1', 'Rivera'),
          { ...patient('c1', '2', 'Okafor'), businessDate: '2025-05-01' },
        ]),
      ),
    );
    raw(path, (db) => {
      const indexed = db
        .prepare(
          'SELECT source_id FROM shadow INDEXED BY shadow_stream_business_date WHERE business_date IS NOT NULL',
        )
        .pluck()
        .all();
      expect(indexed).toEqual(['2']);
      const index = (db.pragma('index_list(shadow)') as { name: string; partial: number }[]).find(
        (i) => i.name === 'shadow_stream_business_date',
      );
      expect(index?.partial).toBe(1);
      // The dated stale scan (core-store.ts, staleLiveSourceIds) implies business_date IS NOT NULL.
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT resource_type, source_id FROM shadow INDEXED BY shadow_stream_business_date
           WHERE connection_id = ? AND stream = ? AND deleted = 0 AND last_seen_at < ?
             AND business_date >= ? AND business_date < ? ORDER BY source_id, resource_type LIMIT 10`,
        )
        .all('c1', 'patient', '2026-01-01T00:00:00.000Z', '2025-01-01', '2026-01-01') as { detail: string }[];
      expect(plan.map((row) => row.detail).join(' ')).toContain('shadow_stream_business_date');
    });
  });

  it('takes an already-opened database, sets its pragmas, and closes it on close', async () => {
    const path = freshPath();
    const database = new Database(path);
    const store = openSqliteStore(database);
    const [event] = await store.commitPage(page('c1', [patient('c1', '1', 'Rivera')]));
    expect(database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(database.pragma('foreign_keys', { simple: true })).toBe(1);
    await store.close();
    expect(database.open).toBe(false);
    await withStore(path, async (reopened) =>
      expect(await reopened.listEvents({ limit: 5 })).toEqual([event]),
    );
  });

  it('wraps an unusable path in TENDRIL_E_STORE', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    let error: unknown;
    try {
      openSqliteStore(join(file, 'store.db'));
    } catch (e) {
      error = e;
    }
    expect(isTendrilError(error, 'TENDRIL_E_STORE')).toBe(true);
    expect((error as Error).cause).toBeDefined();
  });

  it('never hands out one sequence twice when two stores in this process share a file', async () => {
    const path = freshPath();
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      const commits: Promise<StoredEvent[]>[] = [];
      for (let i = 0; i < 40; i += 1) {
        const store = i % 2 === 0 ? a : b;
        commits.push(
          store.commitPage(page('c1', [patient('c1', `${i}-x`, 'X'), patient('c1', `${i}-y`, 'Y')])),
        );
      }
      const sequences = (await Promise.all(commits)).flat().map((e) => e.envelope.sequence);
      expect(new Set(sequences).size).toBe(80);
      const sorted = [...sequences].sort((x, y) => x - y);
      expect(sorted[79]! - sorted[0]!).toBe(79);
      expect(await a.countEvents('c1')).toBe(80);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('never hands out one sequence twice when two processes commit to one file in parallel', async () => {
    const path = freshPath();
    await withStore(path, async () => undefined);
    const perPage = 3;
    const perWorker = await runWorkers(path, ['w1', 'w2'], 600, perPage);
    // Each worker's own sequences increase; together they never collide.
    for (const list of perWorker) expect(list).toEqual([...list].sort((x, y) => x - y));
    // The two really ran at the same time: their ranges of sequences overlap.
    const [w1, w2] = perWorker as [number[], number[]];
    expect(w1[0]!).toBeLessThan(w2[w2.length - 1]!);
    expect(w2[0]!).toBeLessThan(w1[w1.length - 1]!);
    const sequences = perWorker.flat();
    expect(sequences.length).toBeGreaterThanOrEqual(2 * 10 * perPage);
    expect(new Set(sequences).size).toBe(sequences.length);
    const sorted = [...sequences].sort((x, y) => x - y);
    expect(sorted[sorted.length - 1]! - sorted[0]!).toBe(sequences.length - 1);

    await withStore(path, async (store) => {
      expect(await store.countEvents('c1')).toBe(sequences.length);
      const listed = (await store.listEvents({ connectionId: 'c1', limit: sequences.length + 1 })).map(
        (e) => e.envelope.sequence,
      );
      expect(listed).toEqual(sorted);
    });
  }, 120_000);
});

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const storeModule = fileURLToPath(new URL('./open.ts', import.meta.url));

/**
 * Starts one child process per label. Each loads this package's TypeScript through Vite (the
 * same transform vitest uses), opens its own Store on `path`, waits until every child is ready,
 * then commits pages of `perPage` changes for connection `c1` for `durationMs` (at least 10 pages,
 * and on until the other child has committed between two of its pages, so both were busy at the
 * same time even when one starts late) and reports the sequences.
 */
async function runWorkers(
  path: string,
  labels: string[],
  durationMs: number,
  perPage: number,
): Promise<number[][]> {
  const script = join(dir, 'commit-worker.mjs');
  writeFileSync(script, WORKER_SOURCE);
  const vitestNode = pathToFileURL(createRequire(import.meta.url).resolve('vitest/node')).href;
  const children = labels.map((label) =>
    fork(script, [vitestNode, repoRoot, storeModule, path, label, String(durationMs), String(perPage)], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const done = children.map(
    (child) =>
      new Promise<number[]>((resolvePromise, reject) => {
        child.on('message', (message: { type: string; sequences?: number[]; error?: string }) => {
          if (message.type === 'done') resolvePromise(message.sequences ?? []);
          if (message.type === 'error') reject(new Error(message.error));
        });
        child.on('exit', (code) => {
          if (code !== 0) reject(new Error(`commit worker exited with ${code}`));
        });
      }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolvePromise) => {
          child.on('message', (message: { type: string }) => {
            if (message.type === 'ready') resolvePromise();
          });
        }),
    ),
  );
  for (const child of children) child.send('go');
  try {
    return await Promise.all(done);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

const WORKER_SOURCE = `
const [vitestNode, root, storeModule, path, label, durationText, perPageText] = process.argv.slice(2);
try {
  const { createViteServer } = await import(vitestNode);
  const server = await createViteServer({
    root,
    configFile: root + 'vitest.config.ts',
    logLevel: 'silent',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  const { openSqliteStore } = await server.ssrLoadModule(storeModule);
  const store = openSqliteStore(path);
  await store.migrate();
  await new Promise((resolve) => { process.once('message', resolve); process.send({ type: 'ready' }); });
  const sequences = [];
  const started = Date.now();
  // Until the other process has committed between two of this one's pages (a gap in its own
  // sequences), however slowly either started on a loaded machine; at most a minute.
  const interleaved = () => sequences.length > 0 && sequences[sequences.length - 1] - sequences[0] + 1 > sequences.length;
  for (let p = 0; p < 10 || Date.now() - started < Number(durationText) || (!interleaved() && Date.now() - started < 60000); p += 1) {
    const changes = [];
    for (let i = 0; i < Number(perPageText); i += 1) {
      const sourceId = label + '-' + p + '-' + i;
      changes.push({ resourceType: 'Patient', sourceId, resourceId: sourceId, kind: 'created', hash: 'h' + sourceId,
        data: { resourceType: 'Patient', sourceId }, refs: {} });
    }
    const events = await store.commitPage({ connectionId: 'c1', connectorId: 'open-dental', stream: 'patient', changes,
      seen: [], state: { mode: 'timestamp', watermark: label + p }, seenAt: new Date().toISOString() });
    for (const event of events) sequences.push(event.envelope.sequence);
  }
  await store.close();
  await server.close();
  process.send({ type: 'done', sequences }, () => process.exit(0));
} catch (error) {
  process.send({ type: 'error', error: String(error && error.stack || error) }, () => process.exit(1));
}
`;
