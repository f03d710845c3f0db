import { afterEach, describe, expect, it } from 'vitest';
import {
  customElementEvents,
  resourceHash,
  resourceId,
  tombstone,
  type ChangeKind,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import type { DeliveryRoute } from './delivery-types.js';
import type { PageCommit, PendingChange, Store } from './types.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const LEASE = 60_000;

const ALL: DeliveryRoute = { subscriptionId: 'all', connectionIds: [], resourceTypes: [], eventTypes: [] };
const APPOINTMENTS_C1: DeliveryRoute = {
  subscriptionId: 'appts',
  connectionIds: ['c1'],
  resourceTypes: [],
  eventTypes: ['appointment.*'],
};
const PATIENTS_CREATED: DeliveryRoute = {
  subscriptionId: 'new-patients',
  connectionIds: [],
  resourceTypes: ['Pat*'],
  eventTypes: ['patient.created'],
};

function change(
  connectionId: string,
  resourceType: ResourceType,
  sourceId: string,
  kind: ChangeKind,
  version = 1,
): PendingChange {
  const id = resourceId(connectionId, resourceType, sourceId);
  if (kind === 'deleted') {
    const data = tombstone(
      resourceType,
      sourceId,
      { connectionId, connectorId: 'open-dental' },
      '2025-01-20T14:05:00.000Z',
    );
    return {
      resourceType,
      sourceId,
      resourceId: id,
      kind,
      hash: (data['meta'] as { hash: string }).hash,
      data,
      refs: {},
    };
  }
  const resource = { resourceType, id, sourceId, version };
  const hash = resourceHash(resource);
  const data = {
    ...resource,
    meta: { sourceUpdatedAt: `2025-01-${String(10 + version).padStart(2, '0')}T00:00:00.000Z`, hash },
  };
  return { resourceType, sourceId, resourceId: id, kind, hash, data, refs: {} };
}

function page(connectionId: string, changes: PendingChange[]): PageCommit {
  return {
    connectionId,
    connectorId: 'open-dental',
    stream: 'patient',
    changes,
    seen: [],
    state: { mode: 'timestamp', watermark: '2025-01-20 14:03:11' },
    seenAt: '2025-01-20T14:05:00.000Z',
  };
}

const attempt = (startedAtMs: number, status: number, outcome: 'delivered' | 'retryable' | 'permanent') => ({
  startedAtMs,
  endedAtMs: startedAtMs + 5,
  status,
  responseBytes: 2,
  outcome,
});

/**
 * The delivery behaviour every Store backend must share (docs/delivery.md, "Failure classes" and "Dead letters and replay", docs/sync-semantics.md, "The commit rule"
 * step 3). `open(routes)` returns a fresh, empty store routing committed events to `routes`; the
 * store's clock must be at or before 2030-01-01 so that rows committed "now" are due at T0.
 */
export function describeDeliveryStoreContract(
  name: string,
  open: (routes: readonly DeliveryRoute[]) => Promise<Store>,
): void {
  describe(`Delivery store contract: ${name}`, () => {
    const opened: Store[] = [];
    const fresh = async (routes: readonly DeliveryRoute[] = [ALL]): Promise<Store> => {
      const store = await open(routes);
      await store.migrate();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('commitPage writes one delivery per matching subscription, in the page order, filters applied', async () => {
      const store = await fresh([ALL, APPOINTMENTS_C1, PATIENTS_CREATED]);
      const events = await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Appointment', '9', 'created'),
          change('c1', 'Patient', '2', 'updated'),
        ]),
      );
      await store.commitPage(page('c2', [change('c2', 'Appointment', '9', 'created')]));

      const of = async (subscriptionId: string) =>
        (await store.deliveries.list({ subscriptionId, limit: 100 })).map((d) => [
          d.connectionId,
          d.eventType,
        ]);
      expect(await of('all')).toEqual([
        ['c1', 'patient.created'],
        ['c1', 'appointment.created'],
        ['c1', 'patient.updated'],
        ['c2', 'appointment.created'],
      ]);
      expect(await of('appts')).toEqual([['c1', 'appointment.created']]);
      expect(await of('new-patients')).toEqual([['c1', 'patient.created']]);

      const first = (await store.deliveries.list({ subscriptionId: 'all', limit: 1 }))[0]!;
      expect(first).toMatchObject({
        eventId: events[0]!.envelope.id,
        sequence: events[0]!.envelope.sequence,
        status: 'pending',
        origin: 'live',
        attempts: 0,
        redrive: false,
      });
    });

    it('appendCustomEvents routes nightly script rows like page events (resource type CustomElement, type <element>.row)', async () => {
      const CUSTOM: DeliveryRoute = {
        subscriptionId: 'custom',
        connectionIds: ['c1'],
        resourceTypes: ['CustomElement'],
        eventTypes: [],
      };
      const RECALLS: DeliveryRoute = {
        subscriptionId: 'recalls',
        connectionIds: [],
        resourceTypes: [],
        eventTypes: ['recall_list.*'],
      };
      const store = await fresh([ALL, APPOINTMENTS_C1, PATIENTS_CREATED, CUSTOM, RECALLS]);
      const drafts = (connectionId: string, element: string) =>
        customElementEvents({
          connectionId,
          script: 'report',
          element,
          ranAt: '2025-01-21T07:00:00.000Z',
          runDate: '2025-01-21',
          columns: ['n'],
          rows: [{ n: 1 }, { n: 2 }],
        });
      const appended = await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: 'open-dental',
        events: drafts('c1', 'recall_list'),
      });
      await store.appendCustomEvents({
        connectionId: 'c2',
        connectorId: 'open-dental',
        events: drafts('c2', 'recall_list'),
      });
      await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: 'open-dental',
        events: drafts('c1', 'balances'),
      });
      // The same rows again: no second delivery.
      await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: 'open-dental',
        events: drafts('c1', 'recall_list'),
      });

      const of = async (subscriptionId: string) =>
        (await store.deliveries.list({ subscriptionId, limit: 100 })).map((d) => [
          d.connectionId,
          d.eventType,
          d.resourceType,
        ]);
      expect(await of('all')).toEqual([
        ['c1', 'recall_list.row', 'CustomElement'],
        ['c1', 'recall_list.row', 'CustomElement'],
        ['c2', 'recall_list.row', 'CustomElement'],
        ['c2', 'recall_list.row', 'CustomElement'],
        ['c1', 'balances.row', 'CustomElement'],
        ['c1', 'balances.row', 'CustomElement'],
      ]);
      expect(await of('custom')).toEqual([
        ['c1', 'recall_list.row', 'CustomElement'],
        ['c1', 'recall_list.row', 'CustomElement'],
        ['c1', 'balances.row', 'CustomElement'],
        ['c1', 'balances.row', 'CustomElement'],
      ]);
      expect((await of('recalls')).map(([c]) => c)).toEqual(['c1', 'c1', 'c2', 'c2']);
      expect(await of('appts')).toEqual([]);
      expect(await of('new-patients')).toEqual([]);
      const leased = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ['custom'],
      });
      expect(leased.map((d) => d.event)).toEqual(expect.arrayContaining(appended.inserted));
    });

    it('writes no delivery rows when the page transaction fails, and none twice for a redone event', async () => {
      const store = await fresh();
      const poisoned: PendingChange = {
        ...change('c1', 'Patient', '3', 'created'),
        data: { resourceType: 'Patient', weight: 10n },
      };
      await expect(
        store.commitPage(page('c1', [change('c1', 'Patient', '1', 'created'), poisoned])),
      ).rejects.toMatchObject({
        code: 'TENDRIL_E_STORE',
      });
      expect(await store.deliveries.count({})).toBe(0);
      await store.commitPage(page('c1', [change('c1', 'Patient', '1', 'created')]));
      expect(await store.deliveries.count({})).toBe(1);
    });

    it("enqueueFromLog copies another log's events once per event id and routes them to the given routes only", async () => {
      // Opened with no routes: only the routes handed in count (the hub's subscriptions, read at run time).
      const store = await fresh([]);
      const logged = (
        position: number,
        id: string,
        resource: string,
        sequence: number,
        type = 'patient.updated',
      ) => ({
        position,
        event: {
          envelope: {
            id,
            type,
            occurredAt: '2025-01-20T14:05:00.000Z',
            connectionId: 'site-a-conn',
            resourceType: type.startsWith('site.') ? 'Site' : 'Patient',
            resourceId: resource,
            sequence,
            data: { resourceType: 'Patient', id: resource },
          },
          kind: 'updated',
          sourceId: resource,
          connectorId: 'open-dental',
          refs: {},
        } as unknown as StoredEvent,
      });
      const routes: DeliveryRoute[] = [
        { subscriptionId: 'v1', connectionIds: [], resourceTypes: [], eventTypes: [] },
        { subscriptionId: 'v1-site', connectionIds: [], resourceTypes: [], eventTypes: ['site.*'] },
      ];
      // Agent sequences (large) and the log's own positions (small) never meet: the copy is keyed by position.
      const batch = [
        logged(1, 'e1', 'p1', 9_000_001),
        logged(2, 'e2', 'p1', 9_000_002),
        logged(3, 'e3', 'st_1', 3, 'site.online'),
      ];
      expect(
        await store.deliveries.enqueueFromLog({ stream: 'site:st_1', events: batch, routes, nowMs: T0 }),
      ).toEqual({ events: 3, deliveries: 4 });
      // Handed in again (a worker that died before saving its position, or a second worker): nothing new.
      expect(
        await store.deliveries.enqueueFromLog({
          stream: 'site:st_1',
          events: [...batch, logged(4, 'e4', 'p2', 9_000_003)],
          routes,
          nowMs: T0,
        }),
      ).toEqual({ events: 1, deliveries: 1 });
      const v1 = await store.deliveries.list({ subscriptionId: 'v1', limit: 10 });
      expect(v1.map((d) => [d.eventId, d.sequence])).toEqual([
        ['e1', 9_000_001],
        ['e2', 9_000_002],
        ['e3', 3],
        ['e4', 9_000_003],
      ]);
      expect(
        (await store.deliveries.list({ subscriptionId: 'v1-site', limit: 10 })).map((d) => d.eventId),
      ).toEqual(['e3']);
      // Leased with the event as relayed, per resource in order: p1's second event waits behind its first.
      const leased = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ['v1'],
      });
      expect(leased.map((d) => d.eventId).sort()).toEqual(['e1', 'e3', 'e4']);
      expect(leased.find((d) => d.eventId === 'e1')!.event.envelope).toMatchObject({
        id: 'e1',
        connectionId: 'site-a-conn',
        sequence: 9_000_001,
      });
    });

    it('leases only the head of each key, oldest first, and each delivery to one worker until its lease expires', async () => {
      const store = await fresh();
      await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Patient', '2', 'created'),
          change('c1', 'Patient', '1', 'updated', 2),
        ]),
      );
      const subscriptionIds = ['all'];
      const a = await store.deliveries.lease({
        owner: 'a',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds,
      });
      expect(a.map((d) => [d.resourceId, d.eventType])).toEqual([
        [resourceId('c1', 'Patient', '1'), 'patient.created'],
        [resourceId('c1', 'Patient', '2'), 'patient.created'],
      ]);
      expect(a[0]!.event.envelope.id).toBe(a[0]!.eventId);
      expect(a[0]!.eligibleAtMs).toBe(T0);
      // Taken: nobody else gets them, and patient 1's update waits behind its head.
      expect(
        await store.deliveries.lease({
          owner: 'b',
          nowMs: T0 + 1,
          leaseMs: LEASE,
          limit: 10,
          subscriptionIds,
        }),
      ).toEqual([]);
      // Unknown subscriptions lease nothing.
      expect(
        await store.deliveries.lease({
          owner: 'b',
          nowMs: T0,
          leaseMs: LEASE,
          limit: 10,
          subscriptionIds: ['x'],
        }),
      ).toEqual([]);
      // Worker a died: after the lease expires worker b takes the same deliveries.
      const b = await store.deliveries.lease({
        owner: 'b',
        nowMs: T0 + LEASE,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds,
      });
      expect(b.map((d) => d.id)).toEqual(a.map((d) => d.id));
      expect(b[0]!.eligibleAtMs).toBe(T0); // the lifetime clock is not restarted
      // a's late result is recorded but does not override b's lease.
      const late = await store.deliveries.complete({
        deliveryId: a[0]!.id,
        owner: 'a',
        attempt: attempt(T0 + LEASE + 1, 200, 'delivered'),
        resolution: { kind: 'delivered' },
      });
      expect(late.applied).toBe(false);
      const shown = await store.deliveries.get(a[0]!.id);
      expect(shown?.delivery.status).toBe('pending');
      expect(shown?.attempts).toHaveLength(1);
    });

    it('records attempts, schedules retries, and releases the key to its next event when delivered or dead', async () => {
      const store = await fresh();
      await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Patient', '1', 'updated', 2),
          change('c1', 'Patient', '1', 'updated', 3),
        ]),
      );
      const ids = ['all'];
      const [head] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ids,
      });
      await store.deliveries.complete({
        deliveryId: head!.id,
        owner: 'w',
        attempt: attempt(T0, 503, 'retryable'),
        resolution: { kind: 'retry', dueAtMs: T0 + 20_000 },
      });
      // Waiting to retry still holds the key.
      expect(
        await store.deliveries.lease({
          owner: 'w',
          nowMs: T0 + 19_999,
          leaseMs: LEASE,
          limit: 10,
          subscriptionIds: ids,
        }),
      ).toEqual([]);
      expect(await store.deliveries.nextDueAtMs(ids)).toBe(T0 + 20_000);
      const [again] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0 + 20_000,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ids,
      });
      expect(again).toMatchObject({ id: head!.id, attempts: 1, lastStatus: 503 });
      await store.deliveries.complete({
        deliveryId: head!.id,
        owner: 'w',
        attempt: attempt(T0 + 20_000, 204, 'delivered'),
        resolution: { kind: 'delivered' },
      });
      const [second] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0 + 20_010,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ids,
      });
      expect(second!.eventType).toBe('patient.updated');
      expect(second!.sequence).toBeGreaterThan(head!.sequence);
      const result = await store.deliveries.complete({
        deliveryId: second!.id,
        owner: 'w',
        attempt: attempt(T0 + 20_010, 400, 'permanent'),
        resolution: { kind: 'dead', reason: 'permanent', redrive: false },
      });
      expect(result).toEqual({ applied: true, consecutivePermanentFailures: 1 });
      const [third] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0 + 20_020,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ids,
      });
      expect(third!.sequence).toBeGreaterThan(second!.sequence);

      const shown = await store.deliveries.get(head!.id);
      expect(shown!.delivery).toMatchObject({
        status: 'delivered',
        attempts: 2,
        lastStatus: 204,
        finishedAtMs: T0 + 20_005,
      });
      expect(shown!.attempts.map((a) => [a.number, a.status, a.outcome, a.responseBytes])).toEqual([
        [1, 503, 'retryable', 2],
        [2, 204, 'delivered', 2],
      ]);
      expect(await store.deliveries.list({ status: 'dead', limit: 10 })).toMatchObject([
        { id: second!.id, deadReason: 'permanent', lastStatus: 400, redrive: false },
      ]);
      // A delivered request ends the run of permanent failures.
      const done = await store.deliveries.complete({
        deliveryId: third!.id,
        owner: 'w',
        attempt: attempt(T0 + 20_020, 200, 'delivered'),
        resolution: { kind: 'delivered' },
      });
      expect(done.consecutivePermanentFailures).toBe(0);
    });

    it('completeAndLease records a batch and leases in one transaction: both or neither', async () => {
      const store = await fresh();
      await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Patient', '1', 'updated', 2),
          change('c1', 'Patient', '2', 'created'),
          change('c1', 'Patient', '3', 'created'),
        ]),
      );
      const lease = { owner: 'w', leaseMs: LEASE, limit: 10, subscriptionIds: ['all'] };
      const [p1, p2, p3] = await store.deliveries.lease({ ...lease, nowMs: T0 });
      const delivered = (id: number, at: number) => ({
        deliveryId: id,
        owner: 'w',
        attempt: attempt(at, 204, 'delivered'),
        resolution: { kind: 'delivered' as const },
      });
      const dead = (id: number, at: number) => ({
        deliveryId: id,
        owner: 'w',
        attempt: attempt(at, 400, 'permanent'),
        resolution: { kind: 'dead' as const, reason: 'permanent' as const, redrive: false },
      });
      // One bad completion: nothing of the batch is recorded and nothing is leased.
      await expect(
        store.deliveries.completeAndLease([delivered(p1!.id, T0 + 1), delivered(987_654_321, T0 + 1)], {
          ...lease,
          nowMs: T0 + 2,
        }),
      ).rejects.toThrow();
      expect((await store.deliveries.get(p1!.id))!.attempts).toEqual([]);
      expect(await store.deliveries.lease({ ...lease, owner: 'x', nowMs: T0 + 3 })).toEqual([]);
      // The run of permanent failures after each row of a mixed batch, and the lease sees the
      // batch: patient 1's update became the head when its creation was delivered.
      const { results, leased } = await store.deliveries.completeAndLease(
        [dead(p2!.id, T0 + 4), delivered(p1!.id, T0 + 4), dead(p3!.id, T0 + 4), dead(p1!.id, T0 + 5)],
        { ...lease, nowMs: T0 + 10 },
      );
      expect(results).toEqual([
        { applied: true, consecutivePermanentFailures: 1 },
        { applied: true, consecutivePermanentFailures: 0 },
        { applied: true, consecutivePermanentFailures: 1 },
        // p1 is no longer pending: recorded, not applied; the run is as the row before left it.
        { applied: false, consecutivePermanentFailures: 1 },
      ]);
      expect(leased.map((d) => [d.resourceId, d.eventType, d.leaseOwner])).toEqual([
        [resourceId('c1', 'Patient', '1'), 'patient.updated', 'w'],
      ]);
      expect((await store.deliveries.get(p1!.id))!.attempts.map((a) => a.number)).toEqual([1, 2]);
      expect(await store.deliveries.subscriptionStates()).toMatchObject([
        { subscriptionId: 'all', consecutivePermanentFailures: 1 },
      ]);
    });

    it('records a batch of attempts each on its own delivery, numbered after its earlier ones', async () => {
      const store = await fresh();
      await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Patient', '2', 'created'),
          change('c1', 'Patient', '3', 'created'),
        ]),
      );
      const lease = { owner: 'w', leaseMs: LEASE, limit: 10, subscriptionIds: ['all'] };
      const first = await store.deliveries.lease({ ...lease, nowMs: T0 });
      expect(first).toHaveLength(3);
      await store.deliveries.completeMany(
        first.map((d, i) => ({
          deliveryId: d.id,
          owner: 'w',
          attempt: attempt(T0 + i, 500 + i, 'retryable'),
          resolution: { kind: 'retry' as const, dueAtMs: T0 + 100 },
        })),
      );
      const again = await store.deliveries.lease({ ...lease, nowMs: T0 + 100 });
      expect(again.map((d) => d.id).sort()).toEqual(first.map((d) => d.id).sort());
      const results = await store.deliveries.completeMany(
        again.map((d) => ({
          deliveryId: d.id,
          owner: 'w',
          attempt: attempt(T0 + 200, 200 + first.findIndex((f) => f.id === d.id), 'delivered'),
          resolution: { kind: 'delivered' as const },
        })),
      );
      expect(results.every((r) => r.applied)).toBe(true);
      for (const [i, d] of first.entries()) {
        const got = (await store.deliveries.get(d.id))!;
        expect(got.delivery.status).toBe('delivered');
        expect(got.attempts.map((a) => [a.deliveryId, a.number, a.status, a.outcome, a.probe])).toEqual([
          [d.id, 1, 500 + i, 'retryable', false],
          [d.id, 2, 200 + i, 'delivered', false],
        ]);
      }
    });

    it('releases a lease without counting an attempt', async () => {
      const store = await fresh();
      await store.commitPage(page('c1', [change('c1', 'Patient', '1', 'created')]));
      const [d] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 1,
        subscriptionIds: ['all'],
      });
      await store.deliveries.release({ deliveryId: d!.id, owner: 'w', dueAtMs: T0 + 500 });
      expect(
        await store.deliveries.lease({
          owner: 'v',
          nowMs: T0 + 499,
          leaseMs: LEASE,
          limit: 1,
          subscriptionIds: ['all'],
        }),
      ).toEqual([]);
      const [again] = await store.deliveries.lease({
        owner: 'v',
        nowMs: T0 + 500,
        leaseMs: LEASE,
        limit: 1,
        subscriptionIds: ['all'],
      });
      expect(again).toMatchObject({ id: d!.id, attempts: 0, eligibleAtMs: T0 });
    });

    it('replays behind the key’s pending events, and redrives a dead letter ahead of them, with the same event id', async () => {
      const store = await fresh();
      await store.commitPage(page('c1', [change('c1', 'Patient', '1', 'created')]));
      const ids = ['all'];
      const [first] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 1,
        subscriptionIds: ids,
      });
      await store.deliveries.complete({
        deliveryId: first!.id,
        owner: 'w',
        attempt: attempt(T0, 503, 'retryable'),
        resolution: { kind: 'dead', reason: 'retries-exhausted', redrive: true },
      });
      await store.commitPage(page('c1', [change('c1', 'Patient', '1', 'updated', 2)]));
      expect(await store.deliveries.redrivable('all', 10)).toEqual([
        { id: first!.id, eventId: first!.eventId },
      ]);
      const oldest = await store.deliveries.oldestRedrivable('all');
      expect(oldest?.event.envelope.id).toBe(first!.eventId);

      const [redriven] = await store.deliveries.enqueue({
        subscriptionId: 'all',
        items: [{ eventId: first!.eventId, replayOf: first!.id }],
        origin: 'redrive',
        nowMs: T0 + 1,
      });
      expect(await store.deliveries.redrivable('all', 10)).toEqual([]);
      const [lead] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0 + 2,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ids,
      });
      expect(lead).toMatchObject({
        id: redriven,
        eventId: first!.eventId,
        origin: 'redrive',
        attempts: 0,
        replayOf: first!.id,
      });
      await store.deliveries.complete({
        deliveryId: redriven!,
        owner: 'w',
        attempt: attempt(T0 + 2, 200, 'delivered'),
        resolution: { kind: 'delivered' },
      });

      // A manual replay of the (now delivered) first event queues behind the pending update.
      const [replayed] = await store.deliveries.enqueue({
        subscriptionId: 'all',
        items: [{ eventId: first!.eventId, replayOf: first!.id }],
        origin: 'replay',
        nowMs: T0 + 3,
      });
      const order: string[] = [];
      for (let i = 0; i < 2; i += 1) {
        const [d] = await store.deliveries.lease({
          owner: 'w',
          nowMs: T0 + 10 + i,
          leaseMs: LEASE,
          limit: 10,
          subscriptionIds: ids,
        });
        order.push(`${d!.origin}:${d!.eventType}`);
        await store.deliveries.complete({
          deliveryId: d!.id,
          owner: 'w',
          attempt: attempt(T0 + 10 + i, 200, 'delivered'),
          resolution: { kind: 'delivered' },
        });
      }
      expect(order).toEqual(['live:patient.updated', 'replay:patient.created']);
      expect((await store.deliveries.get(replayed!))!.delivery.status).toBe('delivered');
    });

    it('records a probe on a dead letter and turns it into a delivered row when it gets through', async () => {
      const store = await fresh();
      await store.commitPage(page('c1', [change('c1', 'Patient', '1', 'created')]));
      const [d] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 1,
        subscriptionIds: ['all'],
      });
      await store.deliveries.complete({
        deliveryId: d!.id,
        owner: 'w',
        attempt: attempt(T0, 503, 'retryable'),
        resolution: { kind: 'dead', reason: 'lifetime-exceeded', redrive: true },
      });
      await store.deliveries.recordProbe({
        deliveryId: d!.id,
        attempt: { ...attempt(T0 + 1, 502, 'retryable') },
        delivered: false,
        stillRedrivable: true,
      });
      expect((await store.deliveries.get(d!.id))!.delivery).toMatchObject({
        status: 'dead',
        redrive: true,
        attempts: 2,
      });
      await store.deliveries.recordProbe({
        deliveryId: d!.id,
        attempt: { ...attempt(T0 + 2, 200, 'delivered') },
        delivered: true,
        stillRedrivable: false,
      });
      const shown = await store.deliveries.get(d!.id);
      expect(shown!.delivery).toMatchObject({
        status: 'delivered',
        redrive: false,
        attempts: 3,
        lastStatus: 200,
      });
      expect(shown!.attempts.map((a) => a.probe)).toEqual([false, true, true]);
    });

    it('keeps subscription state and the run of permanent failures', async () => {
      const store = await fresh();
      expect(await store.deliveries.subscriptionStates()).toEqual([]);
      await store.deliveries.setSubscriptionState({
        subscriptionId: 'all',
        state: 'unreachable',
        reason: 'r',
        nowMs: T0,
        nextProbeAtMs: T0 + 60_000,
      });
      await store.deliveries.setSubscriptionState({
        subscriptionId: 'all',
        state: 'unreachable',
        reason: 'r2',
        nowMs: T0 + 5,
        nextProbeAtMs: T0 + 120_000,
      });
      expect(await store.deliveries.subscriptionStates()).toEqual([
        {
          subscriptionId: 'all',
          state: 'unreachable',
          reason: 'r2',
          consecutivePermanentFailures: 0,
          changedAtMs: T0,
          nextProbeAtMs: T0 + 120_000,
        },
      ]);
      await store.deliveries.setSubscriptionState({
        subscriptionId: 'all',
        state: 'active',
        nowMs: T0 + 9,
        resetFailures: true,
      });
      expect(await store.deliveries.subscriptionStates()).toEqual([
        { subscriptionId: 'all', state: 'active', consecutivePermanentFailures: 0, changedAtMs: T0 + 9 },
      ]);
    });

    it('backloads the current state of each resource to one subscription, resumably, skipping pending ones', async () => {
      const store = await fresh([]); // no live routes: only the backload creates rows
      await store.commitPage(
        page('c1', [
          change('c1', 'Patient', '1', 'created'),
          change('c1', 'Patient', '2', 'created'),
          change('c1', 'Patient', '3', 'created'),
          change('c1', 'Appointment', '7', 'created'),
        ]),
      );
      const events = await store.commitPage(
        page('c1', [change('c1', 'Patient', '1', 'updated', 2), change('c1', 'Patient', '3', 'deleted')]),
      );
      await store.commitPage(page('c2', [change('c2', 'Patient', '1', 'created')]));

      const route: DeliveryRoute = {
        subscriptionId: 'lake',
        connectionIds: ['c1'],
        resourceTypes: [],
        eventTypes: [],
      };
      const filter = { subscriptionId: 'lake', resourceType: 'Patient' };
      expect(await store.deliveries.countCurrent(filter, route)).toBe(2);

      const first = await store.deliveries.backloadPage({ filter, route, limit: 1, nowMs: T0 });
      expect(first).toMatchObject({ resumed: false, enqueued: 1, totalEnqueued: 1, done: false });
      // A second run (the first was interrupted) continues the same job.
      const second = await store.deliveries.backloadPage({ filter, route, limit: 1, nowMs: T0 });
      expect(second).toMatchObject({ jobId: first.jobId, resumed: true, enqueued: 1, totalEnqueued: 2 });
      const third = await store.deliveries.backloadPage({ filter, route, limit: 1, nowMs: T0 });
      expect(third).toMatchObject({ enqueued: 0, done: true });

      const rows = await store.deliveries.list({ subscriptionId: 'lake', limit: 10 });
      expect(rows.map((d) => [d.origin, d.eventType, d.resourceId])).toEqual([
        ['backload', 'patient.created', resourceId('c1', 'Patient', '2')],
        ['backload', 'patient.updated', resourceId('c1', 'Patient', '1')],
      ]);
      expect(rows[1]!.eventId).toBe(events[0]!.envelope.id);

      // Restarted: a new job, and resources with a pending delivery are not queued twice.
      const restarted = await store.deliveries.backloadPage({
        filter,
        route,
        limit: 10,
        nowMs: T0,
        restart: true,
      });
      expect(restarted).toMatchObject({ resumed: false, enqueued: 0, done: true });
      expect(restarted.jobId).not.toBe(first.jobId);
      // --since keeps only resources whose latest event occurred since then.
      const since = { subscriptionId: 'lake', since: '2025-01-12' };
      expect(await store.deliveries.countCurrent(since, route)).toBe(1);
    });

    it('lists and counts with filters, and makes a waiting delivery due now', async () => {
      const store = await fresh();
      const events: StoredEvent[] = await store.commitPage(
        page('c1', [change('c1', 'Patient', '1', 'created'), change('c1', 'Appointment', '2', 'created')]),
      );
      expect(await store.deliveries.count({ resourceType: 'Appointment' })).toBe(1);
      expect(await store.deliveries.count({ eventId: events[0]!.envelope.id })).toBe(1);
      const all = await store.deliveries.list({ limit: 10 });
      expect(await store.deliveries.list({ afterId: all[0]!.id, limit: 10 })).toEqual(all.slice(1));
      expect(await store.deliveries.count({ sinceMs: all[0]!.createdAtMs + 1 })).toBe(0);
      const [d] = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0,
        leaseMs: LEASE,
        limit: 1,
        subscriptionIds: ['all'],
      });
      await store.deliveries.complete({
        deliveryId: d!.id,
        owner: 'w',
        attempt: attempt(T0, 500, 'retryable'),
        resolution: { kind: 'retry', dueAtMs: T0 + 3_600_000 },
      });
      expect(await store.deliveries.retryNow(d!.id, T0 + 10)).toBe(true);
      const again = await store.deliveries.lease({
        owner: 'w',
        nowMs: T0 + 10,
        leaseMs: LEASE,
        limit: 10,
        subscriptionIds: ['all'],
      });
      expect(again.map((x) => x.id)).toContain(d!.id);
      // Per connection (the status page's figures).
      await store.commitPage(page('c2', [change('c2', 'Patient', '9', 'created')]));
      expect(await store.deliveries.count({ connectionId: 'c1', status: 'pending' })).toBe(2);
      expect(await store.deliveries.count({ connectionId: 'c2' })).toBe(1);
      expect(await store.deliveries.count({ connectionId: 'c3' })).toBe(0);
    });
  });
}
