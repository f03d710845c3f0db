import { resourceHash, resourceId, type WritebackCommand } from '@tendril/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryRoute } from './delivery-types.js';
import type { Store } from './types.js';
import type { AcceptInput } from './writeback-types.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

let sequence = 0;
/** A command as the API would accept it; ids are UUIDv7-shaped and unique per call. */
function command(overrides: Partial<AcceptInput> = {}): AcceptInput {
  sequence += 1;
  const hex = sequence.toString(16).padStart(12, '0');
  return {
    id: `01900000-0000-7000-8000-${hex}`,
    clientId: 'key-a',
    connectionId: 'c1',
    command: 'Appointment.book' as WritebackCommand,
    idempotencyKey: `idem-${sequence}`,
    payloadHash: `hash-${sequence}`,
    input: { patientId: '00000000-0000-5000-8000-000000000001', start: '2030-02-01T15:00:00Z' },
    resourceType: 'Appointment',
    acceptedAt: at(sequence),
    deadline: at(600_000),
    ...overrides,
  };
}

/**
 * The writeback half of the store (writeback-types.ts) as every backend must behave: API keys,
 * idempotent acceptance, one-claim-per-command, the append-only audit log, atomic finish with its
 * result event and bound deliveries, recovery of interrupted commands, and source-id resolution.
 * Each backend's test file calls this with a factory that returns a fresh, migrated store.
 */
/** Two subscriptions that take every event: result events must reach only the one bound to the client's key. */
const ROUTES: readonly DeliveryRoute[] = [
  { subscriptionId: 'sub-bound', connectionIds: [], resourceTypes: [], eventTypes: [] },
  { subscriptionId: 'someone-else', connectionIds: [], resourceTypes: [], eventTypes: [] },
];

export function describeWritebackStoreContract(
  name: string,
  open: (deliveryRoutes: readonly DeliveryRoute[]) => Promise<Store>,
): void {
  describe(`WritebackStore contract: ${name}`, () => {
    const opened: Store[] = [];
    const fresh = async () => {
      const store = await open(ROUTES);
      await store.migrate();
      opened.push(store);
      return store;
    };
    const key = (id: string, subscriptionIds: string[] = [], connectionIds = ['c1']) => ({
      id,
      name: `client ${id}`,
      secretHash: 'ab'.repeat(32),
      connectionIds,
      subscriptionIds,
      createdAt: at(0),
    });

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    it('API keys: created, read back with their hash, listed without it, revoked once', async () => {
      const store = await fresh();
      await store.writebacks.createApiKey(key('key-a', ['sub-1'], ['c1', 'c2']));
      await store.writebacks.createApiKey(key('key-b'));
      expect(await store.writebacks.getApiKey('key-a')).toMatchObject({
        id: 'key-a',
        secretHash: 'ab'.repeat(32),
        connectionIds: ['c1', 'c2'],
        subscriptionIds: ['sub-1'],
      });
      expect(await store.writebacks.getApiKey('missing')).toBeUndefined();
      const listed = await store.writebacks.listApiKeys();
      expect(listed.map((k) => k.id).sort()).toEqual(['key-a', 'key-b']);
      expect(JSON.stringify(listed)).not.toContain('ab'.repeat(32));
      expect(await store.writebacks.revokeApiKey('key-b', at(10))).toBe(true);
      expect(await store.writebacks.revokeApiKey('key-b', at(20))).toBe(false);
      expect(await store.writebacks.revokeApiKey('missing', at(20))).toBe(false);
      expect((await store.writebacks.getApiKey('key-b'))?.revokedAt).toBe(at(10));
    });

    it('accept: created once per (client, connection, key); same payload is the existing command; another payload is key-reused', async () => {
      const store = await fresh();
      const first = command({ idempotencyKey: 'k1', payloadHash: 'p1' });
      const created = await store.writebacks.accept(first);
      expect(created.kind).toBe('created');
      expect(created.record).toMatchObject({
        id: first.id,
        status: 'accepted',
        phase: 'queued',
        warnings: [],
      });
      const again = await store.writebacks.accept(command({ idempotencyKey: 'k1', payloadHash: 'p1' }));
      expect(again).toMatchObject({ kind: 'existing', record: { id: first.id } });
      const reused = await store.writebacks.accept(command({ idempotencyKey: 'k1', payloadHash: 'p2' }));
      expect(reused).toMatchObject({ kind: 'key-reused', record: { id: first.id } });
      // The key is scoped: another client, or another connection, may use the same key.
      expect((await store.writebacks.accept(command({ idempotencyKey: 'k1', clientId: 'key-b' }))).kind).toBe(
        'created',
      );
      expect(
        (await store.writebacks.accept(command({ idempotencyKey: 'k1', connectionId: 'c2' }))).kind,
      ).toBe('created');
      expect(await store.writebacks.countPending()).toBe(3);
      expect(await store.writebacks.countPending('c2')).toBe(1);
      expect(await store.writebacks.countPending('no-such-connection')).toBe(0);
      expect((await store.writebacks.get(first.id))?.input).toEqual(first.input);
      // Each replay of the key is audited on the original command (same payload or not).
      expect((await store.writebacks.listAudit(first.id)).map((a) => a.action)).toEqual([
        'accepted',
        'replayed',
        'replayed',
      ]);
    });

    it('claim: oldest first, each command once; an expired one is returned unclaimed for timed_out', async () => {
      const store = await fresh();
      const a = command({ acceptedAt: at(1) });
      const b = command({ acceptedAt: at(2) });
      const late = command({ acceptedAt: at(3), deadline: at(5) });
      for (const c of [a, b, late]) await store.writebacks.accept(c);
      const first = await store.writebacks.claim({ now: at(10), limit: 1 });
      expect(first.claimed.map((r) => r.id)).toEqual([a.id]);
      expect(first.claimed[0]).toMatchObject({ status: 'accepted', phase: 'executing', startedAt: at(10) });
      const rest = await store.writebacks.claim({ now: at(10), limit: 10 });
      expect(rest.claimed.map((r) => r.id)).toEqual([b.id]);
      expect(rest.expired.map((r) => r.id)).toEqual([late.id]);
      expect((await store.writebacks.get(late.id))?.phase).toBe('queued');
      expect((await store.writebacks.claim({ now: at(10), limit: 10 })).claimed).toEqual([]);
      // Concurrent claimers never share a command.
      const many = Array.from({ length: 6 }, () => command());
      for (const c of many) await store.writebacks.accept(c);
      const claims = await Promise.all(
        [1, 2, 3].map(() => store.writebacks.claim({ now: at(20), limit: 6 })),
      );
      const ids = claims.flatMap((c) => c.claimed.map((r) => r.id));
      expect(ids.sort()).toEqual(many.map((c) => c.id).sort());
    });

    it('finish: final state, audit entry and result event at once; a second finish changes nothing', async () => {
      const store = await fresh();
      await store.writebacks.createApiKey(key('key-a', ['sub-bound']));
      const c = command();
      await store.writebacks.accept(c);
      await store.writebacks.claim({ now: at(10), limit: 1 });
      await store.writebacks.audit([
        {
          writebackId: c.id,
          at: at(11),
          action: 'statement',
          detail: { sql: 'INSERT INTO t (a) VALUES (?)' },
        },
      ]);
      const resource = {
        resourceType: 'Appointment',
        id: resourceId('c1', 'Appointment', '77'),
        status: 'booked',
      };
      const done = await store.writebacks.finish({
        id: c.id,
        status: 'written',
        finishedAt: at(12),
        sourceId: '77',
        resourceId: resource.id,
        resource: { ...resource, meta: { hash: resourceHash(resource) } },
        warnings: ['start differs'],
        connectorId: 'openemr',
      });
      expect(done).toMatchObject({
        status: 'written',
        phase: 'done',
        sourceId: '77',
        resourceId: resource.id,
        warnings: ['start differs'],
        finishedAt: at(12),
      });
      expect((await store.writebacks.listAudit(c.id)).map((a) => a.action)).toEqual([
        'accepted',
        'executing',
        'statement',
        'written',
      ]);
      const events = (await store.listEvents({ connectionId: 'c1', limit: 100 })).filter(
        (e) => e.envelope.type === 'appointment.writeback.written',
      );
      expect(events).toHaveLength(1);
      expect(events[0]!.envelope.resourceId).toBe(resource.id);
      expect(events[0]!.envelope.data as { id: string; status: string }).toMatchObject({
        id: c.id,
        status: 'written',
      });
      // Delivered only to the client's bound subscriptions.
      expect(await store.deliveries.count({ subscriptionId: 'sub-bound' })).toBe(1);
      expect(await store.deliveries.count({ subscriptionId: 'someone-else' })).toBe(0);

      const twice = await store.writebacks.finish({
        id: c.id,
        status: 'failed',
        finishedAt: at(13),
        error: { code: 'vendor_error', message: 'x' },
        connectorId: 'openemr',
      });
      expect(twice.status).toBe('written');
      expect(
        (await store.listEvents({ connectionId: 'c1', limit: 100 })).filter((e) =>
          e.envelope.type.includes('writeback'),
        ),
      ).toHaveLength(1);
      expect(await store.writebacks.countPending()).toBe(0);
    });

    it('failed and timed_out results carry their error, and are emitted as patient.* for patient commands', async () => {
      const store = await fresh();
      const c = command({ command: 'Patient.create' as WritebackCommand, resourceType: 'Patient' });
      await store.writebacks.accept(c);
      await store.writebacks.claim({ now: at(10), limit: 1 });
      const failed = await store.writebacks.finish({
        id: c.id,
        status: 'failed',
        finishedAt: at(11),
        error: {
          code: 'patient_match_ambiguous',
          message: 'more than one',
          details: { candidateIds: ['a', 'b'] },
        },
        compensated: false,
        connectorId: 'openemr',
      });
      expect(failed).toMatchObject({
        status: 'failed',
        error: { code: 'patient_match_ambiguous', details: { candidateIds: ['a', 'b'] } },
        compensated: false,
      });
      const late = command();
      await store.writebacks.accept(late);
      await store.writebacks.finish({
        id: late.id,
        status: 'timed_out',
        finishedAt: at(12),
        connectorId: 'openemr',
      });
      const types = (await store.listEvents({ connectionId: 'c1', limit: 100 })).map((e) => e.envelope.type);
      expect(types).toEqual(
        expect.arrayContaining(['patient.writeback.failed', 'appointment.writeback.timed_out']),
      );
      expect((await store.writebacks.get(late.id))?.startedAt).toBeUndefined();
    });

    it('interrupted: commands left executing are returned (never re-claimed)', async () => {
      const store = await fresh();
      const c = command();
      const queued = command();
      await store.writebacks.accept(c);
      await store.writebacks.claim({ now: at(10), limit: 1 });
      await store.writebacks.accept(queued);
      expect((await store.writebacks.interrupted()).map((r) => r.id)).toEqual([c.id]);
      expect((await store.writebacks.claim({ now: at(20), limit: 10 })).claimed.map((r) => r.id)).toEqual([
        queued.id,
      ]);
    });

    it('resolveSourceId: the shadow store first, then earlier writeback results; unknown is undefined', async () => {
      const store = await fresh();
      const polledId = resourceId('c1', 'Patient', '5');
      const data = { resourceType: 'Patient', id: polledId, sourceId: '5' };
      await store.commitPage({
        connectionId: 'c1',
        connectorId: 'openemr',
        stream: 'patients',
        changes: [
          {
            resourceType: 'Patient',
            sourceId: '5',
            resourceId: polledId,
            kind: 'created',
            hash: resourceHash(data),
            data: { ...data, meta: { hash: resourceHash(data) } },
            refs: {},
          },
        ],
        seen: [],
        state: { mode: 'timestamp', watermark: '2030-01-01 00:00:00' },
        seenAt: at(1),
      });
      expect(await store.writebacks.resolveSourceId('c1', 'Patient', polledId)).toBe('5');
      const c = command({ command: 'Patient.create' as WritebackCommand, resourceType: 'Patient' });
      await store.writebacks.accept(c);
      const writtenId = resourceId('c1', 'Patient', '9');
      await store.writebacks.finish({
        id: c.id,
        status: 'written',
        finishedAt: at(2),
        sourceId: '9',
        resourceId: writtenId,
        resource: { id: writtenId },
        connectorId: 'openemr',
      });
      expect(await store.writebacks.resolveSourceId('c1', 'Patient', writtenId)).toBe('9');
      expect(await store.writebacks.resolveSourceId('c2', 'Patient', writtenId)).toBeUndefined();
      expect(
        await store.writebacks.resolveSourceId('c1', 'Patient', resourceId('c1', 'Patient', '404')),
      ).toBeUndefined();
    });
  });
}
