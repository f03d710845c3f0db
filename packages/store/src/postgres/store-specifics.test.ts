import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTendrilError, resourceHash, resourceId, type StoredEvent } from '@tendril/core';
import { TokenBucket } from '@tendril/delivery';
import type { DeliveryRoute } from '../delivery-types.js';
import { openPostgresStore } from './open.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './migrations.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../postgres-test-database.test-helper.js';
import type { PageCommit, PendingChange, Store } from '../types.js';

const ALL: DeliveryRoute = { subscriptionId: 'all', connectionIds: [], resourceTypes: [], eventTypes: [] };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function patient(connectionId: string, sourceId: string, family = sourceId): PendingChange {
  const id = resourceId(connectionId, 'Patient', sourceId);
  const resource = { resourceType: 'Patient', id, sourceId, name: { family } };
  const hash = resourceHash(resource);
  return {
    resourceType: 'Patient',
    sourceId,
    resourceId: id,
    kind: 'created',
    hash,
    data: { ...resource, meta: { hash } },
    refs: {},
  };
}

function page(
  connectionId: string,
  changes: PendingChange[],
  seenAt = '2025-01-20T14:05:00.000Z',
): PageCommit {
  return {
    connectionId,
    connectorId: 'open-dental',
    stream: 'patient',
    changes,
    seen: [],
    state: { mode: 'timestamp', watermark: '2025-01-20 14:03:11' },
    seenAt,
  };
}

/**
 * What only PostgreSQL has to prove: several processes (here: several pools, each a "worker") on
 * one store at once. The behaviour both backends share is the contract suite (store.test.ts, pglite-store.test.ts).
 * The database has an ICU `en-US` default collation, under which `a` sorts before `B`: the store
 * must page in byte order anyway, as SQLite does.
 */
describe('openPostgresStore (PostgreSQL specifics)', () => {
  let db: PostgresTestDatabase;
  const opened: Store[] = [];
  const open = (schema: string, routes: readonly DeliveryRoute[] = [], poolSize?: number): Store => {
    const store = openPostgresStore(db.url, {
      schema,
      deliveryRoutes: routes,
      ...(poolSize === undefined ? {} : { poolSize }),
    });
    opened.push(store);
    return store;
  };

  beforeAll(async () => {
    db = await createPostgresTestDatabase({ icuLocale: 'en-US' });
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await db?.drop();
  });

  it('migrates exactly once when several workers start at the same moment, and refuses a newer schema', async () => {
    const schema = db.nextSchema();
    const workers = Array.from({ length: 5 }, () => open(schema));
    await Promise.all(workers.map((w) => w.migrate()));
    const recorded = await db.query<{ version: number; n: string }>(
      'SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
      [],
      schema,
    );
    expect(recorded.map((r) => [r.version, Number(r.n)])).toEqual(
      POSTGRES_MIGRATIONS.map((m) => [m.version, 1]),
    );
    expect(Math.max(...recorded.map((r) => r.version))).toBe(POSTGRES_SCHEMA_VERSION);

    await db.query(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', now())",
      [POSTGRES_SCHEMA_VERSION + 1],
      schema,
    );
    const newer = open(schema);
    const error = await newer.migrate().catch((e: unknown) => e);
    expect(isTendrilError(error, 'TENDRIL_E_STORE_SCHEMA')).toBe(true);
    expect((error as Error).message).toContain(`schema version ${POSTGRES_SCHEMA_VERSION + 1}`);
    await expect(newer.countEvents()).rejects.toMatchObject({ code: 'TENDRIL_E_STORE_SCHEMA' });
  });

  it('applies a step missing below the highest recorded one (steps written in parallel land in any order)', async () => {
    const schema = db.nextSchema();
    await open(schema).migrate();
    // As if this database had been migrated by a build that had step 4 but not yet step 3.
    await db.query(
      'DROP INDEX shadow_stream_business_date; ALTER TABLE shadow DROP COLUMN business_date',
      [],
      schema,
    );
    await db.query('DELETE FROM schema_migrations WHERE version = 3', [], schema);
    const store = open(schema);
    await store.commitPage(page('c1', [{ ...patient('c1', '1'), businessDate: '2025-03-01' }]));
    expect((await store.getShadow('c1', 'Patient', ['1'])).get('1')?.businessDate).toBe('2025-03-01');
  });

  it('never hands out one sequence twice when two workers commit pages for one connection at once', async () => {
    const schema = db.nextSchema();
    const first = open(schema);
    const second = open(schema);
    await first.migrate();
    const PAGES = 12;
    const PER_PAGE = 15;
    const worker = async (store: Store, tag: string): Promise<number[][]> => {
      const pages: number[][] = [];
      for (let p = 0; p < PAGES; p += 1) {
        const changes = Array.from({ length: PER_PAGE }, (_, i) => patient('c1', `${tag}-${p}-${i}`));
        const events = await store.commitPage(page('c1', changes));
        pages.push(events.map((e) => e.envelope.sequence));
      }
      return pages;
    };
    // Two loops per pool: four writers interleaving on one connection's counter.
    const results = await Promise.all([
      worker(first, 'a'),
      worker(second, 'b'),
      worker(first, 'c'),
      worker(second, 'd'),
    ]);
    const all = results.flat(2);
    const total = 4 * PAGES * PER_PAGE;
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    const sorted = [...all].sort((x, y) => x - y);
    // No gap either: the range is exactly [min, min + total).
    expect(sorted[total - 1]! - sorted[0]!).toBe(total - 1);
    // Each page's sequences are one consecutive block.
    for (const pageSequences of results.flat()) {
      pageSequences.forEach((sequence, i) => expect(sequence).toBe(pageSequences[0]! + i));
    }
    expect(await first.countEvents('c1')).toBe(total);
    const listed = await second.listEvents({ connectionId: 'c1', limit: total + 1 });
    expect(listed.map((e) => e.envelope.sequence)).toEqual(sorted);
  });

  it('leases each delivery to exactly one of several workers leasing at once (SKIP LOCKED)', async () => {
    const schema = db.nextSchema();
    const first = open(schema, [ALL]);
    const second = open(schema, [ALL]);
    const COUNT = 150;
    const committed: StoredEvent[] = [];
    for (let p = 0; p < 3; p += 1) {
      committed.push(
        ...(await first.commitPage(
          page(
            'c1',
            Array.from({ length: COUNT / 3 }, (_, i) => patient('c1', `${p}-${i}`)),
          ),
        )),
      );
    }
    expect(await first.deliveries.count({ status: 'pending' })).toBe(COUNT);
    const worker = async (store: Store, owner: string): Promise<number[]> => {
      const taken: number[] = [];
      for (;;) {
        const batch = await store.deliveries.lease({
          owner,
          nowMs: T0,
          leaseMs: 60_000,
          limit: 4,
          subscriptionIds: ['all'],
        });
        if (batch.length === 0) return taken;
        for (const d of batch) expect(d.leaseOwner).toBe(owner);
        taken.push(...batch.map((d) => d.id));
      }
    };
    const results = await Promise.all([
      worker(first, 'w1'),
      worker(second, 'w2'),
      worker(first, 'w3'),
      worker(second, 'w4'),
      worker(first, 'w5'),
      worker(second, 'w6'),
    ]);
    const all = results.flat();
    expect(all).toHaveLength(COUNT);
    expect(new Set(all).size).toBe(COUNT);
    // Every worker's leases are recorded as its own.
    const rows = await db.query<{ lease_owner: string; n: string }>(
      'SELECT lease_owner, COUNT(*) AS n FROM deliveries GROUP BY lease_owner ORDER BY lease_owner',
      [],
      schema,
    );
    const expected = results.map((ids, i) => [`w${i + 1}`, ids.length] as const).filter(([, n]) => n > 0);
    expect(rows.map((r) => [r.lease_owner, Number(r.n)])).toEqual(expected);
    expect(
      await second.deliveries.lease({
        owner: 'late',
        nowMs: T0,
        leaseMs: 60_000,
        limit: 10,
        subscriptionIds: ['all'],
      }),
    ).toEqual([]);
  });

  it('completes concurrently from two workers and still hands each key its next event exactly once', async () => {
    const schema = db.nextSchema();
    const first = open(schema, [ALL]);
    const second = open(schema, [ALL]);
    // Three versions of each of 20 patients: each key's events must go out one after another.
    for (let version = 1; version <= 3; version += 1) {
      await first.commitPage(
        page(
          'c1',
          Array.from({ length: 20 }, (_, i) => patient('c1', String(i), `v${version}`)),
        ),
      );
    }
    const sent: { id: number; resourceId: string; sequence: number }[] = [];
    const worker = async (store: Store, owner: string): Promise<void> => {
      for (let round = 0; round < 200; round += 1) {
        const batch = await store.deliveries.lease({
          owner,
          nowMs: T0 + round,
          leaseMs: 60_000,
          limit: 3,
          subscriptionIds: ['all'],
        });
        if (batch.length === 0) {
          if ((await store.deliveries.count({ status: 'pending' })) === 0) return;
          continue;
        }
        sent.push(...batch.map((d) => ({ id: d.id, resourceId: d.resourceId, sequence: d.sequence })));
        await store.deliveries.completeMany(
          batch.map((d) => ({
            deliveryId: d.id,
            owner,
            attempt: { startedAtMs: T0, endedAtMs: T0 + 1, status: 200, outcome: 'delivered' as const },
            resolution: { kind: 'delivered' as const },
          })),
        );
      }
    };
    await Promise.all([worker(first, 'w1'), worker(second, 'w2'), worker(first, 'w3')]);
    expect(sent).toHaveLength(60);
    expect(new Set(sent.map((s) => s.id)).size).toBe(60);
    // Per resource, in sequence order (docs/delivery.md, "Ordering").
    const byResource = new Map<string, number[]>();
    for (const s of sent) byResource.set(s.resourceId, [...(byResource.get(s.resourceId) ?? []), s.sequence]);
    for (const sequences of byResource.values()) {
      expect(sequences).toHaveLength(3);
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    }
    expect(await second.deliveries.count({ status: 'delivered' })).toBe(60);
  });

  it('keeps every key leasable while pages commit new events and workers complete old ones at the same time', async () => {
    const schema = db.nextSchema();
    const writer = open(schema, [ALL]);
    const workers = [open(schema, [ALL]), open(schema, [ALL])];
    const PATIENTS = 10;
    const VERSIONS = 8;
    let writing = true;
    const sent: { resourceId: string; sequence: number }[] = [];
    const work = async (store: Store, owner: string): Promise<void> => {
      for (let round = 0; ; round += 1) {
        const batch = await store.deliveries.lease({
          owner,
          nowMs: T0 + round,
          leaseMs: 60_000,
          limit: 4,
          subscriptionIds: ['all'],
        });
        if (batch.length === 0 && !writing && (await store.deliveries.nextDueAtMs(['all'])) === undefined)
          return;
        sent.push(...batch.map((d) => ({ resourceId: d.resourceId, sequence: d.sequence })));
        await store.deliveries.completeMany(
          batch.map((d) => ({
            deliveryId: d.id,
            owner,
            attempt: { startedAtMs: T0, endedAtMs: T0 + 1, status: 200, outcome: 'delivered' as const },
            resolution: { kind: 'delivered' as const },
          })),
        );
      }
    };
    const write = async (): Promise<void> => {
      for (let version = 1; version <= VERSIONS; version += 1) {
        await writer.commitPage(
          page(
            'c1',
            Array.from({ length: PATIENTS }, (_, i) => patient('c1', String(i), `v${version}`)),
          ),
        );
      }
      writing = false;
    };
    await Promise.all([write(), work(workers[0]!, 'w1'), work(workers[1]!, 'w2')]);
    // Nothing is left pending without a head (a stuck key would stay pending for ever).
    expect(await writer.deliveries.count({ status: 'pending' })).toBe(0);
    expect(sent).toHaveLength(PATIENTS * VERSIONS);
    const byResource = new Map<string, number[]>();
    for (const s of sent) byResource.set(s.resourceId, [...(byResource.get(s.resourceId) ?? []), s.sequence]);
    for (const sequences of byResource.values())
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
  });

  it('pages source ids in byte order whatever the database collation', async () => {
    const schema = db.nextSchema();
    const store = open(schema);
    const ids = ['a', 'B', 'b', 'A', '10', '9', '_x'];
    await store.commitPage(
      page(
        'c1',
        ids.map((id) => patient('c1', id)),
        '2025-04-01T00:00:00.000Z',
      ),
    );
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const batch = await store.staleLiveSourceIds('c1', 'patient', '2025-05-01T00:00:00.000Z', {
        limit: 3,
        ...(after === undefined ? {} : { afterSourceId: after }),
      });
      if (batch.length === 0) break;
      pages.push(batch.map((r) => r.sourceId));
      after = batch.at(-1)!.sourceId;
    }
    // JavaScript's default sort is UTF-16 code unit order: byte order for these ASCII ids.
    expect(pages.flat()).toEqual([...ids].sort());
    expect(pages.flat()).toEqual(['10', '9', 'A', 'B', '_x', 'a', 'b']);
  });

  it('keeps one token bucket per subscription for all workers, with the dispatcher bucket’s arithmetic', async () => {
    const schema = db.nextSchema();
    const first = open(schema);
    const second = open(schema);
    const take = (store: Store, nowMs: number, ratePerSecond = 2) =>
      store.deliveries.takeThrottleToken!({ subscriptionId: 'lake', ratePerSecond, nowMs });
    // Rate 2/s, capacity 2: two requests go at once (from either worker), the third waits 500 ms.
    expect(await take(first, T0)).toEqual({ ok: true });
    expect(await take(second, T0)).toEqual({ ok: true });
    expect(await take(first, T0)).toEqual({ ok: false, waitMs: 500 });
    expect(await take(second, T0 + 499)).toEqual({ ok: false, waitMs: 1 });
    expect(await take(second, T0 + 500)).toEqual({ ok: true });
    // Another subscription has its own bucket.
    expect(
      await second.deliveries.takeThrottleToken!({ subscriptionId: 'other', ratePerSecond: 2, nowMs: T0 }),
    ).toEqual({ ok: true });

    // Many takes at one instant from both pools: exactly `capacity` succeed.
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? first : second).deliveries.takeThrottleToken!({
          subscriptionId: 'burst',
          ratePerSecond: 5,
          nowMs: T0,
        }),
      ),
    );
    expect(burst.filter((r) => r.ok)).toHaveLength(5);

    // The same answers as packages/delivery's in-memory TokenBucket over an irregular schedule.
    const memory = new TokenBucket(3, T0);
    let now = T0;
    for (let i = 0; i < 40; i += 1) {
      now += [0, 0, 90, 333, 7, 1000, 0, 250][i % 8]!;
      const shared = await (i % 2 === 0 ? first : second).deliveries.takeThrottleToken!({
        subscriptionId: 'same',
        ratePerSecond: 3,
        nowMs: now,
      });
      expect(shared).toEqual(memory.take(now));
    }
  });

  it('reports an unreachable server as retryable and a missing database as a fix, never with the password', async () => {
    const down = openPostgresStore('postgres://postgres:s3cret-pw@127.0.0.1:1/tendril', { poolSize: 1 });
    const unreachable = await down.migrate().catch((e: unknown) => e);
    await down.close();
    expect(isTendrilError(unreachable, 'TENDRIL_E_STORE')).toBe(true);
    expect((unreachable as { retryable: boolean }).retryable).toBe(true);
    expect((unreachable as Error).message).toContain('reachable');
    expect((unreachable as Error).message).not.toContain('s3cret-pw');

    const url = new URL(db.url);
    url.pathname = `/${db.name}_missing`;
    const missing = openPostgresStore(url.toString(), { poolSize: 1 });
    const error = await missing.countEvents().catch((e: unknown) => e);
    await missing.close();
    expect(isTendrilError(error, 'TENDRIL_E_STORE')).toBe(true);
    expect((error as { retryable: boolean; details: Record<string, unknown> }).retryable).toBe(false);
    expect((error as { details: Record<string, unknown> }).details['sqlState']).toBe('3D000');
    expect((error as Error).message).toContain('does not exist');
  });

  it('queues writebacks idempotently, lets concurrent workers claim each command once, and emits the result event', async () => {
    const schema = db.nextSchema();
    const first = open(schema, [ALL]);
    const second = open(schema, [ALL]);
    await first.writebacks.createApiKey({
      id: 'k1',
      name: 'vendor',
      secretHash: 'ab'.repeat(32),
      connectionIds: ['c1'],
      subscriptionIds: ['all'],
      createdAt: '2030-01-01T00:00:00.000Z',
    });
    const accept = (store: Store, n: number, payloadHash = `p${n}`) =>
      store.writebacks.accept({
        id: `0190aaaa-0000-7000-8000-${String(n).padStart(12, '0')}`,
        clientId: 'k1',
        connectionId: 'c1',
        command: 'Appointment.confirm',
        idempotencyKey: `key-${n}`,
        payloadHash,
        input: { appointmentId: `a${n}` },
        resourceType: 'Appointment',
        acceptedAt: `2030-01-01T00:00:${String(n).padStart(2, '0')}.000Z`,
        deadline: '2030-01-01T01:00:00.000Z',
      });
    // The same key sent to two workers at once: one command.
    const [a, b] = await Promise.all([accept(first, 0), accept(second, 0)]);
    expect([a.kind, b.kind].sort()).toEqual(['created', 'existing']);
    expect((await accept(first, 0, 'other')).kind).toBe('key-reused');
    for (let n = 1; n < 10; n += 1) await accept(n % 2 === 0 ? first : second, n);
    expect(await first.writebacks.countPending()).toBe(10);

    const claims = await Promise.all(
      [first, second, first, second].map((store) =>
        store.writebacks.claim({ now: '2030-01-01T00:10:00.000Z', limit: 3 }),
      ),
    );
    const claimed = claims.flatMap((c) => c.claimed.map((r) => r.id));
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.length).toBe(10);

    const record = await second.writebacks.finish({
      id: claimed[0]!,
      status: 'written',
      finishedAt: '2030-01-01T00:10:01.000Z',
      sourceId: '77',
      resourceId: resourceId('c1', 'Appointment', '77'),
      connectorId: 'open-dental',
    });
    expect(record).toMatchObject({ status: 'written', phase: 'done', sourceId: '77' });
    // Finishing again records and emits nothing more.
    await first.writebacks.finish({
      id: claimed[0]!,
      status: 'failed',
      finishedAt: '2030-01-01T00:10:02.000Z',
      connectorId: 'open-dental',
    });
    const events = await first.listEvents({ connectionId: 'c1', limit: 10 });
    expect(events.map((e) => e.envelope.type)).toEqual(['appointment.writeback.written']);
    expect(await first.deliveries.count({ subscriptionId: 'all', eventId: events[0]!.envelope.id })).toBe(1);
    expect((await first.writebacks.listAudit(claimed[0]!)).map((e) => e.action)).toEqual(
      claimed[0] === a.record.id
        ? ['accepted', 'replayed', 'replayed', 'executing', 'written']
        : expect.arrayContaining(['executing', 'written']),
    );
    expect(
      await second.writebacks.resolveSourceId('c1', 'Appointment', resourceId('c1', 'Appointment', '77')),
    ).toBe('77');
    expect(await second.writebacks.countPending()).toBe(9);
  });
});
