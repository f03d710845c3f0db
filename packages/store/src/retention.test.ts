import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceHash, resourceId, type WritebackCommand } from '@tendril/core';
import { openPostgresStore } from './postgres/open.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from './postgres-test-database.test-helper.js';
import { openSqliteStore } from './sqlite/open.js';
import type { PageCommit, PendingChange, RetentionPolicy, Store } from './types.js';

const DAY = 86_400_000;
const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const POLICY: RetentionPolicy = {
  deliveredDays: 7,
  deadLetterDays: 14,
  outboxDays: 30,
  auditDays: 90,
  runDays: 30,
};
const ROUTE = { subscriptionId: 'sub-1', connectionIds: [], resourceTypes: [], eventTypes: [] };

/** A pinned clock the tests move forward. */
class Clock {
  ms = T0;
  readonly now = (): Date => new Date(this.ms);
  day(n: number): void {
    this.ms = T0 + n * DAY;
  }
}

function change(sourceId: string, version: number, padding = ''): PendingChange {
  const id = resourceId('c1', 'Patient', sourceId);
  const resource = { resourceType: 'Patient', id, sourceId, name: { family: `F${version}${padding}` } };
  const hash = resourceHash(resource);
  return {
    resourceType: 'Patient',
    sourceId,
    resourceId: id,
    kind: version === 1 ? 'created' : 'updated',
    hash,
    data: { ...resource, meta: { syncedAt: new Date(T0).toISOString(), hash } },
    refs: {},
  };
}

function page(changes: PendingChange[], watermark: string, seenAt: string): PageCommit {
  return {
    connectionId: 'c1',
    connectorId: 'open-dental',
    stream: 'patient',
    changes,
    seen: [],
    state: { mode: 'timestamp', watermark },
    seenAt,
  };
}

interface Backend {
  readonly name: string;
  open(clock: Clock, routed: boolean): Store;
}

function describeRetention(backend: () => Promise<Backend>): void {
  it('prunes delivered rows, dead letters, superseded outbox events, finished writebacks and old runs, each after its days', async () => {
    const b = await backend();
    const clock = new Clock();
    const store = b.open(clock, true);
    try {
      const seenAt = clock.now().toISOString();
      await store.commitPage(page([change('1', 1), change('2', 1), change('3', 1)], 'w1', seenAt));
      await store.commitPage(page([change('1', 2)], 'w2', seenAt));
      const attempt = { startedAtMs: T0, endedAtMs: T0 + 5, status: 204, outcome: 'delivered' as const };
      for (let round = 0; round < 2; round += 1) {
        const leased = await store.deliveries.lease({
          owner: 'w',
          nowMs: clock.ms,
          leaseMs: 60_000,
          limit: 10,
          subscriptionIds: ['sub-1'],
        });
        for (const d of leased) {
          const dead = d.resourceId === resourceId('c1', 'Patient', '3');
          await store.deliveries.complete({
            deliveryId: d.id,
            owner: 'w',
            attempt: dead ? { ...attempt, status: 400, outcome: 'permanent' } : attempt,
            resolution: dead ? { kind: 'dead', reason: 'permanent', redrive: false } : { kind: 'delivered' },
          });
        }
      }
      expect(await store.deliveries.count({ status: 'delivered' })).toBe(3);
      expect(await store.deliveries.count({ status: 'dead' })).toBe(1);
      const wb = {
        id: '01900000-0000-7000-8000-000000000001',
        clientId: 'key-a',
        connectionId: 'c1',
        command: 'Patient.create' as WritebackCommand,
        idempotencyKey: 'idem-1',
        payloadHash: 'hash-1',
        input: { name: { family: 'W' } },
        resourceType: 'Patient' as const,
        acceptedAt: seenAt,
        deadline: new Date(T0 + 3_600_000).toISOString(),
      };
      await store.writebacks.accept(wb);
      await store.writebacks.finish({
        id: wb.id,
        status: 'written',
        finishedAt: seenAt,
        connectorId: 'openemr',
      });
      for (const minute of [1, 2]) {
        const run = await store.startRun({
          connectionId: 'c1',
          stream: 'patient',
          kind: 'poll',
          startedAt: new Date(T0 + minute * 60_000).toISOString(),
        });
        await store.finishRun(run, {
          status: 'succeeded',
          finishedAt: new Date(T0 + minute * 60_000 + 1000).toISOString(),
          counts: { read: 1, created: 0, updated: 0, deleted: 0, unchanged: 1 },
        });
      }

      // Day 5: nothing is old enough.
      clock.day(5);
      expect(await store.prune(POLICY)).toMatchObject({ deliveries: 0, deadLetters: 0, outbox: 0, runs: 0 });

      // Day 20: delivered rows (7 days) and the dead letter (14 days) go; a dry run only counts.
      clock.day(20);
      const dry = await store.prune(POLICY, { dryRun: true });
      expect(dry).toMatchObject({
        dryRun: true,
        deliveries: 3,
        deadLetters: 1,
        attempts: 4,
        outbox: 0,
        reclaimed: 'dry-run',
      });
      expect(await store.deliveries.count({})).toBe(4);
      const pruned = await store.prune(POLICY);
      expect(pruned).toMatchObject({
        dryRun: false,
        deliveries: 3,
        deadLetters: 1,
        attempts: 4,
        outbox: 0,
        runs: 0,
      });
      expect(pruned.sizeBytesAfter).toBeGreaterThan(0);
      expect(await store.deliveries.count({})).toBe(0);
      expect(await store.countEvents('c1')).toBe(5);

      // Day 40: the superseded event of patient 1 goes — with a hub, only once the hub acked it —
      // and the older of the two runs; the newest event of every resource stays.
      clock.day(40);
      expect(await store.prune(POLICY, { keepUnrelayed: true })).toMatchObject({ outbox: 0, runs: 1 });
      await store.saveRelayCursor('c1', Number.MAX_SAFE_INTEGER);
      expect(await store.prune(POLICY, { keepUnrelayed: true })).toMatchObject({ outbox: 1, runs: 0 });
      const left = await store.listEvents({ connectionId: 'c1', limit: 10 });
      expect(left.map((e) => `${e.sourceId}:${e.kind}`).sort()).toEqual(
        ['1:updated', '2:created', '3:created', ':created'].sort(),
      );
      expect((await store.listRuns({ connectionId: 'c1', limit: 10 })).length).toBe(1);
      expect(await store.writebacks.get(wb.id)).toBeDefined();

      // Day 100: the finished writeback and its audit rows (90 days).
      clock.day(100);
      const last = await store.prune(POLICY);
      expect(last).toMatchObject({ writebacks: 1, outbox: 0 });
      expect(last.audit).toBeGreaterThanOrEqual(2);
      expect(await store.writebacks.get(wb.id)).toBeUndefined();
      expect(await store.writebacks.listAudit(wb.id)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('keeps a delivery a replay points at, and a pending delivery keeps its event', async () => {
    const b = await backend();
    const clock = new Clock();
    const store = b.open(clock, true);
    try {
      const seenAt = clock.now().toISOString();
      await store.commitPage(page([change('7', 1)], 'w1', seenAt));
      await store.commitPage(page([change('7', 2)], 'w2', seenAt));
      const [first] = await store.deliveries.lease({
        owner: 'w',
        nowMs: clock.ms,
        leaseMs: 60_000,
        limit: 10,
        subscriptionIds: ['sub-1'],
      });
      await store.deliveries.complete({
        deliveryId: first!.id,
        owner: 'w',
        attempt: { startedAtMs: T0, endedAtMs: T0 + 5, status: 204, outcome: 'delivered' },
        resolution: { kind: 'delivered' },
      });
      await store.deliveries.enqueue({
        subscriptionId: 'sub-1',
        items: [{ eventId: first!.event.envelope.id, replayOf: first!.id }],
        origin: 'replay',
        nowMs: clock.ms,
      });
      clock.day(60);
      const report = await store.prune(POLICY);
      // The original stays (a pending replay points at it); the replay and the second delivery are pending.
      expect(report.deliveries).toBe(0);
      expect(report.outbox).toBe(0);
      expect(await store.countEvents('c1')).toBe(2);
    } finally {
      await store.close();
    }
  });
}

let dir: string;
let counter = 0;
let pg: PostgresTestDatabase;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-retention-'));
  pg = await createPostgresTestDatabase();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pg.drop();
});

const routes = (routed: boolean) => (routed ? [ROUTE] : []);

describe('retention and pruning on SQLite (docs/store.md, "Retention and pruning")', () => {
  describeRetention(async () => {
    const path = join(dir, `store-${(counter += 1)}.db`);
    return {
      name: 'sqlite',
      open: (clock, routed) => openSqliteStore(path, { now: clock.now, deliveryRoutes: routes(routed) }),
    };
  });

  it('runs VACUUM after a large prune and the file shrinks', async () => {
    const path = join(dir, `store-${(counter += 1)}.db`);
    const clock = new Clock();
    const store = openSqliteStore(path, { now: clock.now });
    try {
      const padding = 'x'.repeat(2000);
      const seenAt = clock.now().toISOString();
      const ids = Array.from({ length: 300 }, (_, i) => String(i + 1));
      await store.commitPage(
        page(
          ids.map((id) => change(id, 1, padding)),
          'w1',
          seenAt,
        ),
      );
      await store.commitPage(
        page(
          ids.map((id) => change(id, 2)),
          'w2',
          seenAt,
        ),
      );
      clock.day(40);
      const report = await store.prune(POLICY);
      expect(report).toMatchObject({ outbox: 300, reclaimed: 'vacuum' });
      expect(report.sizeBytesAfter).toBeLessThan(report.sizeBytesBefore / 2);
      expect(await store.sizeBytes()).toBe(report.sizeBytesAfter);
    } finally {
      await store.close();
    }
  });
});

describe('retention and pruning on PostgreSQL (docs/store.md, "Retention and pruning")', () => {
  describeRetention(async () => {
    const schema = pg.nextSchema();
    return {
      name: 'postgres',
      open: (clock, routed) =>
        openPostgresStore(pg.url, { schema, poolSize: 2, now: clock.now, deliveryRoutes: routes(routed) }),
    };
  });

  it('leaves space to autovacuum and prunes the fleet run log', async () => {
    const schema = pg.nextSchema();
    const clock = new Clock();
    const store = openPostgresStore(pg.url, { schema, poolSize: 2, now: clock.now });
    try {
      await store.migrate();
      await pg.query(
        `INSERT INTO fleet_runs (connection_id, kind, worker_id, started_at, finished_at, status)
         VALUES ('c1', 'poll', 'w1', $1, $1, 'succeeded'), ('c1', 'poll', 'w1', $2, NULL, 'running')`,
        [new Date(T0).toISOString(), new Date(T0 + 1000).toISOString()],
        schema,
      );
      clock.day(40);
      const report = await store.prune(POLICY);
      expect(report).toMatchObject({ fleetRuns: 1, reclaimed: 'autovacuum' });
      expect(report.sizeBytesBefore).toBeGreaterThan(0);
      expect(await pg.query('SELECT id FROM fleet_runs', [], schema)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
