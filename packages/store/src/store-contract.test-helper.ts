import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  customElementEnvelope,
  customElementEvents,
  eventId,
  isTendrilError,
  resourceHash,
  resourceId,
  tombstone,
  type ChangeKind,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import type { PageCommit, PendingChange, Store, StreamState } from './types.js';

/**
 * The behaviour every Store backend must share. Each backend's test file calls this with a factory
 * that returns a fresh, empty store (one per test), so SQLite and PostgreSQL run the same suite.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    /** Date.now() × 1000 just before the store was created: no sequence may be below it. */
    let createdFloor: number;

    beforeEach(async () => {
      createdFloor = Date.now() * 1000;
      store = await open();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
    });

    it('migrates idempotently', async () => {
      await store.migrate();
      await store.migrate();
      expect(await store.countEvents()).toBe(0);
    });

    it('commits a page and returns the events exactly as listEvents reads them back', async () => {
      const a = patientChange('c1', '1042', 'created', { family: 'Rivera' });
      const b = patientChange('c1', '7', 'created', { family: 'Nguyen' });
      const state = timestampState('2025-01-20 14:03:11');
      const events = await store.commitPage(page('c1', [a, b], { state }));

      expect(events).toHaveLength(2);
      const [first, second] = events as [StoredEvent, StoredEvent];
      expect(second.envelope.sequence).toBe(first.envelope.sequence + 1);
      for (const [event, change] of [
        [first, a],
        [second, b],
      ] as const) {
        expect(event.kind).toBe('created');
        expect(event.sourceId).toBe(change.sourceId);
        expect(event.connectorId).toBe('open-dental');
        expect(event.refs).toEqual(change.refs);
        expect(event.envelope).toMatchObject({
          type: 'patient.created',
          connectionId: 'c1',
          resourceType: 'Patient',
          resourceId: change.resourceId,
          occurredAt: '2025-01-20T14:03:11.000Z',
          data: change.data,
        });
        expect(event.envelope.id).toBe(
          eventId('c1', 'Patient', change.sourceId, change.hash, event.envelope.sequence),
        );
      }
      expect(await store.listEvents({ limit: 10 })).toEqual(events);
      expect(await store.countEvents()).toBe(2);
      expect(await store.countEvents('c1')).toBe(2);
      expect(await store.countEvents('other')).toBe(0);
      expect(await store.getStreamState('c1', 'patient')).toEqual(state);
    });

    it('writes nothing of a page when anything inside its transaction fails', async () => {
      const kept = patientChange('c1', '1', 'created', { family: 'Kept' });
      const oldState = timestampState('2025-01-01 00:00:00');
      const [committed] = await store.commitPage(
        page('c1', [kept], { state: oldState, seenAt: '2025-01-01T00:00:00.000Z' }),
      );

      const good = patientChange('c1', '2', 'created', { family: 'Good' });
      // JSON cannot carry a BigInt, so serialising the second event throws after the first
      // change's shadow row and event were already written inside the transaction.
      const poisoned: PendingChange = {
        ...patientChange('c1', '3', 'created', { family: 'Poison' }),
        data: { resourceType: 'Patient', sourceId: '3', weight: 10n },
      };
      const failing = page('c1', [good, poisoned], {
        seen: [{ resourceType: 'Patient', sourceId: '1' }],
        seenAt: '2025-02-01T00:00:00.000Z',
        state: {
          ...timestampState('2025-02-01 00:00:00'),
          inProgress: { lower: 'a', upper: 'b', after: { key: ['3'] } },
        },
      });
      const error = await store.commitPage(failing).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTendrilError(error, 'TENDRIL_E_STORE')).toBe(true);
      expect((error as Error).message).not.toContain('Poison');

      expect(await store.countEvents()).toBe(1);
      const shadow = await store.getShadow('c1', 'Patient', ['1', '2', '3']);
      expect([...shadow.keys()]).toEqual(['1']);
      expect(shadow.get('1')?.lastSeenAt).toBe('2025-01-01T00:00:00.000Z');
      expect(await store.getStreamState('c1', 'patient')).toEqual(oldState);

      // The failed page consumed no sequence either.
      const [next] = await store.commitPage(page('c1', [good]));
      expect(next!.envelope.sequence).toBe(committed!.envelope.sequence + 1);
    });

    it('allocates strictly increasing sequences per connection, starting at epoch ms × 1000', async () => {
      const sequences: Record<string, number[]> = { c1: [], c2: [] };
      for (let round = 0; round < 3; round += 1) {
        for (const connection of ['c1', 'c2'] as const) {
          const count = connection === 'c1' ? 3 : 1;
          const changes = Array.from({ length: count }, (_, i) =>
            patientChange(connection, `${round}-${i}`, 'created', { family: `F${round}${i}` }),
          );
          const events = await store.commitPage(page(connection, changes));
          sequences[connection]!.push(...events.map((e) => e.envelope.sequence));
        }
      }
      const ceiling = Date.now() * 1000;
      for (const [connection, list] of Object.entries(sequences)) {
        expect(list.length).toBe(connection === 'c1' ? 9 : 3);
        expect(list[0]).toBeGreaterThanOrEqual(createdFloor);
        expect(list[0]).toBeLessThanOrEqual(ceiling);
        // Consecutive: the other connection's commits in between took nothing from this one.
        list.forEach((sequence, i) => {
          expect(Number.isSafeInteger(sequence)).toBe(true);
          expect(sequence).toBe(list[0]! + i);
        });
      }
      const stored = await store.listEvents({ connectionId: 'c2', limit: 100 });
      expect(stored.map((e) => e.envelope.sequence)).toEqual(sequences['c2']);
    });

    it('gives a re-committed change a new sequence and so a new event id', async () => {
      const change = patientChange('c1', '1042', 'created', { family: 'Rivera' });
      const [first] = await store.commitPage(page('c1', [change]));
      const again = { ...change, kind: 'updated' as const };
      const [second] = await store.commitPage(page('c1', [again]));
      expect(second!.envelope.sequence).toBeGreaterThan(first!.envelope.sequence);
      expect(second!.envelope.id).not.toBe(first!.envelope.id);
      expect(second!.envelope.id).toBe(
        eventId('c1', 'Patient', '1042', change.hash, second!.envelope.sequence),
      );
      expect(await store.countEvents('c1')).toBe(2);
    });

    it('keeps shadow rows: hash, deleted flag, resource id, stream and lastSeenAt', async () => {
      const a = patientChange('c1', 'a', 'created', { family: 'A' });
      const b = patientChange('c1', 'b', 'created', { family: 'B' });
      await store.commitPage(page('c1', [a, b], { seenAt: '2025-03-01T10:00:00Z' }));

      let shadow = await store.getShadow('c1', 'Patient', ['a', 'b', 'missing']);
      expect(shadow.size).toBe(2);
      expect(shadow.get('a')).toEqual({
        hash: a.hash,
        deleted: false,
        resourceId: a.resourceId,
        stream: 'patient',
        lastSeenAt: '2025-03-01T10:00:00.000Z',
      });
      expect(await store.getShadow('c1', 'Practitioner', ['a'])).toEqual(new Map());
      expect(await store.getShadow('c2', 'Patient', ['a'])).toEqual(new Map());
      expect(await store.getShadow('c1', 'Patient', [])).toEqual(new Map());

      // b deleted, a only seen again; a later "seen" with an older read time must not move it back.
      const deleteB = patientChange('c1', 'b', 'deleted');
      await store.commitPage(
        page('c1', [deleteB], {
          seen: [{ resourceType: 'Patient', sourceId: 'a' }],
          seenAt: '2025-03-02T10:00:00Z',
        }),
      );
      await store.commitPage(
        page('c1', [], {
          seen: [{ resourceType: 'Patient', sourceId: 'a' }],
          seenAt: '2025-03-01T12:00:00Z',
        }),
      );
      shadow = await store.getShadow('c1', 'Patient', ['a', 'b']);
      expect(shadow.get('a')).toMatchObject({
        hash: a.hash,
        deleted: false,
        lastSeenAt: '2025-03-02T10:00:00.000Z',
      });
      expect(shadow.get('b')).toMatchObject({
        hash: deleteB.hash,
        deleted: true,
        lastSeenAt: '2025-03-02T10:00:00.000Z',
      });

      // Resurrection clears the flag.
      const backB = patientChange('c1', 'b', 'created', { family: 'B2' });
      await store.commitPage(page('c1', [backB], { seenAt: '2025-03-03T10:00:00Z' }));
      expect((await store.getShadow('c1', 'Patient', ['b'])).get('b')).toMatchObject({
        hash: backB.hash,
        deleted: false,
      });

      // A "seen" for a row the shadow does not hold creates nothing.
      await store.commitPage(page('c1', [], { seen: [{ resourceType: 'Patient', sourceId: 'ghost' }] }));
      expect((await store.getShadow('c1', 'Patient', ['ghost'])).size).toBe(0);
    });

    it('pages stale live source ids in source-id order and counts live rows', async () => {
      const ids = ['05', '01', '04', '02', '03', '06', '07'];
      await store.commitPage(
        page(
          'c1',
          ids.map((id) => patientChange('c1', id, 'created', { family: id })),
          { seenAt: '2025-04-01T00:00:00Z' },
        ),
      );
      // Other stream and other connection, also stale: never returned.
      await store.commitPage(
        page('c1', [patientChange('c1', '00', 'created', {})], {
          stream: 'other',
          seenAt: '2025-04-01T00:00:00Z',
        }),
      );
      await store.commitPage(
        page('c2', [patientChange('c2', '00', 'created', {})], { seenAt: '2025-04-01T00:00:00Z' }),
      );
      // Seen in the new scan: 02 and 06; deleted: 04.
      await store.commitPage(
        page('c1', [patientChange('c1', '04', 'deleted')], {
          seen: [
            { resourceType: 'Patient', sourceId: '02' },
            { resourceType: 'Patient', sourceId: '06' },
          ],
          seenAt: '2025-04-02T00:00:00Z',
        }),
      );

      const scanStartedAt = '2025-04-01T12:00:00.000Z';
      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const batch = await store.staleLiveSourceIds('c1', 'patient', scanStartedAt, {
          limit: 2,
          ...(after === undefined ? {} : { afterSourceId: after }),
        });
        if (batch.length === 0) break;
        expect(batch.every((r) => r.resourceType === 'Patient')).toBe(true);
        pages.push(batch.map((r) => r.sourceId));
        after = batch[batch.length - 1]!.sourceId;
      }
      expect(pages).toEqual([
        ['01', '03'],
        ['05', '07'],
      ]);
      expect(await store.staleLiveSourceIds('c1', 'patient', '2025-04-01T00:00:00Z', { limit: 10 })).toEqual(
        [],
      );
      expect(await store.staleLiveSourceIds('c1', 'patient', scanStartedAt, { limit: 0 })).toEqual([]);

      expect(await store.countLive('c1', 'patient')).toBe(6);
      expect(await store.countLive('c1', 'other')).toBe(1);
      expect(await store.countLive('c1', 'nothing')).toBe(0);
    });

    it('keeps business dates of window rows and pages stale rows dated inside a window', async () => {
      const dated = (id: string, day: string): PendingChange => ({
        ...patientChange('c1', id, 'created', { family: id }),
        businessDate: day,
      });
      await store.commitPage(
        page(
          'c1',
          [
            dated('a', '2025-02-28'),
            dated('b', '2025-03-01'),
            dated('c', '2025-03-15'),
            dated('d', '2025-03-31'),
            dated('e', '2025-04-01'),
          ],
          { stream: 'appts', seenAt: '2025-03-01T00:00:00Z' },
        ),
      );
      // An undated row of the same stream is never a window candidate.
      await store.commitPage(
        page('c1', [patientChange('c1', 'f', 'created', {})], {
          stream: 'appts',
          seenAt: '2025-03-01T00:00:00Z',
        }),
      );
      expect((await store.getShadow('c1', 'Patient', ['b'])).get('b')?.businessDate).toBe('2025-03-01');
      expect((await store.getShadow('c1', 'Patient', ['f'])).get('f')).not.toHaveProperty('businessDate');

      // Seen again: c keeps its date when none is given, d moves out of the window.
      await store.commitPage(
        page('c1', [], {
          stream: 'appts',
          seen: [
            { resourceType: 'Patient', sourceId: 'c' },
            { resourceType: 'Patient', sourceId: 'd', businessDate: '2025-06-30' },
          ],
          seenAt: '2025-03-02T00:00:00Z',
        }),
      );
      expect((await store.getShadow('c1', 'Patient', ['c'])).get('c')?.businessDate).toBe('2025-03-15');
      expect((await store.getShadow('c1', 'Patient', ['d'])).get('d')?.businessDate).toBe('2025-06-30');

      const window = { from: '2025-03-01', until: '2025-04-01' };
      const stale = await store.staleLiveSourceIds('c1', 'appts', '2025-03-02T00:00:00Z', {
        limit: 10,
        businessDate: window,
      });
      expect(stale.map((r) => r.sourceId)).toEqual(['b']);
      const all = await store.staleLiveSourceIds('c1', 'appts', '2025-03-03T00:00:00Z', {
        limit: 1,
        businessDate: window,
      });
      expect(all.map((r) => r.sourceId)).toEqual(['b']);
      const next = await store.staleLiveSourceIds('c1', 'appts', '2025-03-03T00:00:00Z', {
        limit: 10,
        afterSourceId: 'b',
        businessDate: window,
      });
      expect(next.map((r) => r.sourceId)).toEqual(['c']);
      await expect(
        store.staleLiveSourceIds('c1', 'appts', '2025-03-03T00:00:00Z', {
          limit: 10,
          businessDate: { from: 'March', until: '2025-04-01' },
        }),
      ).rejects.toMatchObject({ code: 'TENDRIL_E_STORE' });
    });

    it('lists events with filters, after a sequence, limited, in both directions', async () => {
      await store.commitPage(
        page('c1', [patientChange('c1', '1', 'created', {}), patientChange('c1', '2', 'created', {})]),
      );
      await store.commitPage(page('c2', [patientChange('c2', '1', 'created', {})]));
      const appointment = change('c1', 'Appointment', '9', 'created', { status: 'booked' });
      await store.commitPage(page('c1', [appointment, patientChange('c1', '1', 'updated', { family: 'X' })]));

      const c1 = await store.listEvents({ connectionId: 'c1', limit: 100 });
      expect(c1.map((e) => [e.envelope.resourceType, e.sourceId, e.kind])).toEqual([
        ['Patient', '1', 'created'],
        ['Patient', '2', 'created'],
        ['Appointment', '9', 'created'],
        ['Patient', '1', 'updated'],
      ]);
      const c1Sequences = c1.map((e) => e.envelope.sequence);
      expect(c1Sequences).toEqual([...c1Sequences].sort((x, y) => x - y));

      expect((await store.listEvents({ connectionId: 'c1', limit: 2 })).map((e) => e.envelope.id)).toEqual(
        c1.slice(0, 2).map((e) => e.envelope.id),
      );
      expect(
        (await store.listEvents({ connectionId: 'c1', limit: 100, newestFirst: true })).map(
          (e) => e.envelope.id,
        ),
      ).toEqual([...c1].reverse().map((e) => e.envelope.id));
      expect(
        (await store.listEvents({ connectionId: 'c1', afterSequence: c1Sequences[1]!, limit: 100 })).map(
          (e) => e.envelope.id,
        ),
      ).toEqual(c1.slice(2).map((e) => e.envelope.id));
      expect(
        (
          await store.listEvents({
            connectionId: 'c1',
            afterSequence: c1Sequences[1]!,
            limit: 1,
            newestFirst: true,
          })
        ).map((e) => e.envelope.id),
      ).toEqual([c1[3]!.envelope.id]);

      const appointments = await store.listEvents({ resourceType: 'Appointment', limit: 100 });
      expect(appointments.map((e) => e.envelope.type)).toEqual(['appointment.created']);
      expect(await store.listEvents({ connectionId: 'c2', resourceType: 'Appointment', limit: 100 })).toEqual(
        [],
      );

      const all = await store.listEvents({ limit: 100 });
      expect(all).toHaveLength(5);
      const keys = all.map((e) => [e.envelope.sequence, e.envelope.connectionId] as const);
      const sorted = [...keys].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
      expect(keys).toEqual(sorted);
      expect((await store.listEvents({ limit: 100, newestFirst: true })).map((e) => e.envelope.id)).toEqual(
        [...all].reverse().map((e) => e.envelope.id),
      );
      expect(await store.listEvents({ limit: 0 })).toEqual([]);
    });

    it('round-trips stream state, including an in-progress window with its keyset position', async () => {
      expect(await store.getStreamState('c1', 'appointment')).toBeUndefined();
      const running: StreamState = {
        mode: 'timestamp',
        watermark: '2025-01-20 14:03:11.123456',
        inProgress: {
          lower: '2025-01-20 14:03:11.123456',
          upper: '2025-01-20 14:08:00',
          after: { cursor: '2025-01-20 14:05:00.5', key: ['1042', '7'] },
        },
        lastPollStartedAt: '2025-01-20T14:08:01.000Z',
      };
      await store.saveStreamState('c1', 'appointment', running);
      expect(await store.getStreamState('c1', 'appointment')).toEqual(running);
      expect(await store.getStreamState('c2', 'appointment')).toBeUndefined();

      const done: StreamState = {
        mode: 'timestamp',
        watermark: '2025-01-20 14:08:00',
        lastPollStartedAt: '2025-01-20T14:08:01.000Z',
        lastPollFinishedAt: '2025-01-20T14:08:02.000Z',
        lastError: { code: 'TENDRIL_E_DB_QUERY', message: 'earlier failure', at: '2025-01-20T14:00:00.000Z' },
      };
      await store.saveStreamState('c1', 'appointment', done);
      const read = await store.getStreamState('c1', 'appointment');
      expect(read).toEqual(done);
      expect(read).not.toHaveProperty('inProgress');

      const snapshot: StreamState = {
        mode: 'snapshot',
        inProgress: {
          lower: '',
          upper: '',
          after: { key: ['12', 'a:b'] },
          scanStartedAt: '2025-01-20T14:00:00.000Z',
        },
      };
      await store.commitPage(page('c1', [], { stream: 'claim', state: snapshot }));
      expect(await store.getStreamState('c1', 'claim')).toEqual(snapshot);
    });

    it('records runs: start, finish, list newest first with filters', async () => {
      const first = await store.startRun({
        connectionId: 'c1',
        stream: 'patient',
        kind: 'poll',
        startedAt: '2025-05-01T00:00:00Z',
      });
      const second = await store.startRun({
        connectionId: 'c1',
        stream: 'patient',
        kind: 'reconcile',
        startedAt: '2025-05-01T01:00:00Z',
      });
      const third = await store.startRun({
        connectionId: 'c2',
        stream: 'claim',
        kind: 'backload',
        startedAt: '2025-05-01T02:00:00Z',
      });
      for (const id of [first, second, third])
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(new Set([first, second, third]).size).toBe(3);

      const counts = { read: 10, created: 2, updated: 3, deleted: 1, unchanged: 4 };
      await store.finishRun(first, { status: 'succeeded', finishedAt: '2025-05-01T00:00:05Z', counts });
      await store.finishRun(third, {
        status: 'failed',
        finishedAt: '2025-05-01T02:00:01Z',
        counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
        error: { code: 'TENDRIL_E_DB_CONNECT', message: 'unreachable' },
      });

      const all = await store.listRuns({ limit: 10 });
      expect(all.map((r) => r.id)).toEqual([third, second, first]);
      expect(all[0]).toEqual({
        id: third,
        connectionId: 'c2',
        stream: 'claim',
        kind: 'backload',
        status: 'failed',
        startedAt: '2025-05-01T02:00:00.000Z',
        finishedAt: '2025-05-01T02:00:01.000Z',
        counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
        error: { code: 'TENDRIL_E_DB_CONNECT', message: 'unreachable' },
      });
      expect(all[1]).toEqual({
        id: second,
        connectionId: 'c1',
        stream: 'patient',
        kind: 'reconcile',
        status: 'running',
        startedAt: '2025-05-01T01:00:00.000Z',
        counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
      });
      expect(all[2]).toMatchObject({ status: 'succeeded', counts, finishedAt: '2025-05-01T00:00:05.000Z' });
      expect(all[2]).not.toHaveProperty('error');

      expect((await store.listRuns({ connectionId: 'c1', limit: 10 })).map((r) => r.id)).toEqual([
        second,
        first,
      ]);
      expect(
        (await store.listRuns({ connectionId: 'c1', stream: 'patient', limit: 1 })).map((r) => r.id),
      ).toEqual([second]);
      expect(await store.listRuns({ stream: 'nothing', limit: 10 })).toEqual([]);

      await expect(
        store.finishRun('00000000-0000-7000-8000-000000000000', {
          status: 'succeeded',
          finishedAt: '2025-05-01T00:00:00Z',
          counts,
        }),
      ).rejects.toMatchObject({ code: 'TENDRIL_E_STORE', retryable: false });
    });

    it('appends custom element events (nightly script rows): sequenced after page events, idempotent by id', async () => {
      const [patientEvent] = await store.commitPage(page('c1', [patientChange('c1', '1', 'created')]));
      const run = {
        connectionId: 'c1',
        script: 'recall-list',
        element: 'recall_list',
        ranAt: '2025-01-21T07:00:00.000Z',
        runDate: '2025-01-21',
        columns: ['PatNum', 'DateDue'],
        rows: [
          { PatNum: '12', DateDue: '2025-02-01' },
          { PatNum: '13', DateDue: null },
          { PatNum: '12', DateDue: '2025-02-01' },
        ],
      };
      const drafts = customElementEvents(run);
      const first = await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: CONNECTOR_ID,
        events: drafts,
      });
      expect(first.existing).toBe(0);
      expect(first.inserted.map((e) => e.envelope.id)).toEqual(drafts.map((d) => d.id));
      expect(first.inserted.map((e) => e.envelope.sequence)).toEqual(
        [1, 2, 3].map((n) => patientEvent!.envelope.sequence + n),
      );
      for (const [event, draft] of first.inserted.map((e, i) => [e, drafts[i]!] as const)) {
        expect(event).toEqual({
          envelope: customElementEnvelope(draft, 'c1', event.envelope.sequence),
          kind: 'created',
          sourceId: draft.sourceId,
          connectorId: CONNECTOR_ID,
          refs: {},
        });
        expect(event.envelope).toMatchObject({
          type: 'recall_list.row',
          resourceType: 'CustomElement',
          occurredAt: run.ranAt,
        });
      }
      expect(
        await store.listEvents({
          connectionId: 'c1',
          afterSequence: patientEvent!.envelope.sequence,
          limit: 10,
        }),
      ).toEqual(first.inserted);
      expect(await store.listEvents({ resourceType: 'Patient', limit: 10 })).toHaveLength(1);

      // The same run again (a catch-up on the same day): nothing new, no sequence used.
      const again = await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: CONNECTOR_ID,
        events: drafts,
      });
      expect(again).toEqual({ inserted: [], existing: 3 });
      // One changed row the next time: only it is new, right after the last sequence.
      const changed = customElementEvents({
        ...run,
        rows: [run.rows[0]!, { PatNum: '13', DateDue: '2025-03-01' }],
      });
      const third = await store.appendCustomEvents({
        connectionId: 'c1',
        connectorId: CONNECTOR_ID,
        events: changed,
      });
      expect(third.existing).toBe(1);
      expect(third.inserted.map((e) => e.envelope.id)).toEqual([changed[1]!.id]);
      expect(third.inserted[0]!.envelope.sequence).toBe(first.inserted[2]!.envelope.sequence + 1);
      const [nextPage] = await store.commitPage(page('c1', [patientChange('c1', '2', 'created')]));
      expect(nextPage!.envelope.sequence).toBe(third.inserted[0]!.envelope.sequence + 1);
      expect(await store.countEvents('c1')).toBe(6);
    });

    it('keeps a relay cursor per connection that only moves forward', async () => {
      expect(await store.getRelayCursor('c1')).toBeUndefined();
      await store.saveRelayCursor('c1', 1_714_000_000_000_010);
      await store.saveRelayCursor('c2', 5);
      // A late, lower ack (a duplicate after a reconnect) must not move the cursor back.
      await store.saveRelayCursor('c1', 1_714_000_000_000_002);
      expect(await store.getRelayCursor('c1')).toBe(1_714_000_000_000_010);
      await store.saveRelayCursor('c1', 1_714_000_000_000_011);
      expect(await store.getRelayCursor('c1')).toBe(1_714_000_000_000_011);
      expect(await store.getRelayCursor('c2')).toBe(5);
      await expect(store.saveRelayCursor('c1', -1)).rejects.toMatchObject({ code: 'TENDRIL_E_STORE' });
    });

    it('keeps quarantined rows with the page: recorded, counted again, released when they map', async () => {
      const bad = {
        resourceType: 'Appointment' as const,
        sourceId: '17',
        errorCode: 'TENDRIL_E_VALIDATION',
        field: 'status',
        reason: 'invalid_value',
      };
      await store.commitPage(
        page('c1', [patientChange('c1', '1', 'created')], {
          stream: 'appointments',
          quarantined: [bad, { ...bad, sourceId: '18', field: 'start', reason: 'invalid_string' }],
        }),
      );
      expect(await store.countQuarantine('c1')).toBe(2);
      expect(await store.countQuarantine('c1', 'appointments')).toBe(2);
      expect(await store.countQuarantine('c1', 'patients')).toBe(0);
      expect(await store.countQuarantine('c2')).toBe(0);
      // Seen failing again (by a refused page, outside a commit): the count goes up, first seen stays.
      await store.recordQuarantine('c1', 'appointments', [{ ...bad, field: 'end' }], '2025-01-21T08:00:00Z');
      const [first] = await store.listQuarantine({ connectionId: 'c1', sourceId: '17', limit: 10 });
      expect(first).toEqual({
        connectionId: 'c1',
        stream: 'appointments',
        resourceType: 'Appointment',
        sourceId: '17',
        errorCode: 'TENDRIL_E_VALIDATION',
        field: 'end',
        reason: 'invalid_value',
        firstSeenAt: '2025-01-20T14:05:00.000Z',
        lastSeenAt: '2025-01-21T08:00:00.000Z',
        count: 2,
      });
      // Mapped on a later page: it leaves quarantine; the other row stays.
      await store.commitPage(
        page('c1', [], {
          stream: 'appointments',
          released: { resourceType: 'Appointment', sourceIds: ['17', '99'] },
        }),
      );
      const left = await store.listQuarantine({ connectionId: 'c1', limit: 10 });
      expect(left.map((r) => r.sourceId)).toEqual(['18']);
      // Same source id of another resource type is another row.
      await store.commitPage(page('c1', [], { released: { resourceType: 'Patient', sourceIds: ['18'] } }));
      expect(await store.countQuarantine('c1')).toBe(1);
    });

    it('refuses work once closed', async () => {
      await store.close();
      await expect(store.countEvents()).rejects.toMatchObject({ code: 'TENDRIL_E_STORE' });
      store = await open(); // afterEach closes this one
    });
  });
}

const CONNECTOR_ID = 'open-dental';

function change(
  connectionId: string,
  resourceType: ResourceType,
  sourceId: string,
  kind: ChangeKind,
  content: Record<string, unknown> = {},
): PendingChange {
  const id = resourceId(connectionId, resourceType, sourceId);
  if (kind === 'deleted') {
    const data = tombstone(
      resourceType,
      sourceId,
      { connectionId, connectorId: CONNECTOR_ID },
      '2025-01-20T14:05:00.000Z',
    );
    const meta = data['meta'] as { hash: string };
    return { resourceType, sourceId, resourceId: id, kind, hash: meta.hash, data, refs: {} };
  }
  const resource = { resourceType, id, sourceId, ...content };
  const hash = resourceHash(resource);
  const data = {
    ...resource,
    meta: {
      source: { system: CONNECTOR_ID, connectionId },
      sourceUpdatedAt: '2025-01-20T14:03:11.000Z',
      syncedAt: '2025-01-20T14:05:00.000Z',
      hash,
    },
  };
  return { resourceType, sourceId, resourceId: id, kind, hash, data, refs: { primaryPractitionerId: '7' } };
}

function patientChange(
  connectionId: string,
  sourceId: string,
  kind: ChangeKind,
  content: Record<string, unknown> = {},
): PendingChange {
  return change(connectionId, 'Patient', sourceId, kind, content);
}

function timestampState(watermark: string): StreamState {
  return { mode: 'timestamp', watermark };
}

function page(
  connectionId: string,
  changes: readonly PendingChange[],
  overrides: Partial<Omit<PageCommit, 'connectionId' | 'changes'>> = {},
): PageCommit {
  return {
    connectionId,
    connectorId: CONNECTOR_ID,
    stream: 'patient',
    changes,
    seen: [],
    state: timestampState('2025-01-20 14:03:11'),
    seenAt: '2025-01-20T14:05:00.000Z',
    ...overrides,
  };
}
