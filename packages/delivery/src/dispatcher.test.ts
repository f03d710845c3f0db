import { afterEach, describe, expect, it } from 'vitest';
import { resourceId, type EventEnvelope } from '@tendril/core';
import type { Store } from '@tendril/store';
import { createDispatcher, DELIVERY_EVENTS, TENDRIL_USER_AGENT, type Dispatcher } from './dispatcher.js';
import {
  commit,
  fakeClock,
  memoryLogger,
  patientChange,
  runUntilIdle,
  storeFor,
  subscriptionsFor,
  T0,
  verifiedByLibrary,
  type FakeClock,
} from './dispatcher.test-support.js';
import { resumeSubscription } from './resume.js';
import { startLoopbackReceiver, type LoopbackReceiver, type ReceiverAnswer } from './loopback-receiver.js';

interface Harness {
  clock: FakeClock;
  store: Store;
  receiver: LoopbackReceiver;
  dispatcher: Dispatcher;
  logger: ReturnType<typeof memoryLogger>;
  /** Fake-clock time of each request, as offsets from T0 in ms. */
  times: number[];
}

const open: Harness[] = [];

async function harness(
  subscription: Record<string, unknown>,
  answer: (index: number) => ReceiverAnswer,
  delivery: Record<string, unknown> = {},
): Promise<Harness> {
  const clock = fakeClock();
  const times: number[] = [];
  const receiver = await startLoopbackReceiver((request) => {
    times.push(clock.now() - T0);
    return answer(request.index);
  });
  const { resolved, config } = subscriptionsFor(
    [{ id: 'sub', url: receiver.url, ...subscription }],
    delivery,
  );
  const store = await storeFor(config, clock);
  const logger = memoryLogger();
  const dispatcher = createDispatcher({
    store,
    subscriptions: resolved,
    logger,
    clock: clock.now,
    random: () => 0.5,
    settings: { ...config.delivery, jitter: 0 },
  });
  const h = { clock, store, receiver, dispatcher, logger, times };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.dispatcher.stop({ graceMs: 0 });
    await h.receiver.close();
    await h.store.close();
  }
});

const envelopeOf = (body: Buffer): EventEnvelope => JSON.parse(body.toString('utf8')) as EventEnvelope;

describe('dispatcher against a real HTTP receiver', () => {
  it('a receiver that fails 3 times then succeeds sees exactly the scheduled attempts, each signed for its own time', async () => {
    const policy = {
      healthyRetryPolicy: {
        minDelayTarget: 5,
        maxDelayTarget: 260,
        numRetries: 10,
        backoffFunction: 'exponential',
      },
    };
    const h = await harness({ policy, apiKey: { header: 'x-api-key', value: 'k-123' } }, (i) =>
      i < 3 ? { status: 503 } : { status: 200, body: 'ok' },
    );
    const [event] = await commit(h.store, [patientChange('1', 1)]);
    await runUntilIdle(h.store, h.dispatcher, h.clock, ['sub']);

    // Exponential from 5 s: retries after 5, 10, 20 s; attempt k starts when the previous one ended + delay.
    expect(h.times).toEqual([0, 5_000, 15_000, 35_000]);
    const requests = h.receiver.requests;
    for (const [i, request] of requests.entries()) {
      expect(request.headers['webhook-id']).toBe(event!.envelope.id);
      expect(request.headers['webhook-timestamp']).toBe(String(Math.floor((T0 + h.times[i]!) / 1000)));
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toBe(TENDRIL_USER_AGENT);
      expect(request.headers['x-api-key']).toBe('k-123');
      expect(verifiedByLibrary(request)).toBe(true);
      expect(envelopeOf(request.body)).toEqual(event!.envelope);
    }
    // The library rejects a tampered body, so the check above can fail.
    expect(verifiedByLibrary({ ...requests[0]!, body: Buffer.from('{}') })).toBe(false);

    const [delivery] = await h.store.deliveries.list({ limit: 10 });
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 4, lastStatus: 200 });
    const shown = await h.store.deliveries.get(delivery!.id);
    expect(
      shown!.attempts.map((a) => [a.number, a.status, a.outcome, a.startedAtMs - T0, a.responseBytes]),
    ).toEqual([
      [1, 503, 'retryable', 0, 0],
      [2, 503, 'retryable', 5_000, 0],
      [3, 503, 'retryable', 15_000, 0],
      [4, 200, 'delivered', 35_000, 2],
    ]);
  });

  it('dead-letters after the retry budget (1 + numRetries requests) and marks the subscription unreachable', async () => {
    const h = await harness({}, () => ({ status: 500 })); // SNS default: 3 retries, 20 s apart
    await commit(h.store, [patientChange('1', 1)]);
    await h.dispatcher.drainOnce();
    for (const at of [20_000, 40_000, 60_000]) {
      h.clock.set(T0 + at);
      await h.dispatcher.drainOnce();
    }
    expect(h.times).toEqual([0, 20_000, 40_000, 60_000]);
    const [dead] = await h.store.deliveries.list({ status: 'dead', limit: 10 });
    expect(dead).toMatchObject({
      deadReason: 'retries-exhausted',
      redrive: true,
      attempts: 4,
      lastStatus: 500,
    });
    const states = await h.store.deliveries.subscriptionStates();
    expect(states).toMatchObject([
      { subscriptionId: 'sub', state: 'unreachable', nextProbeAtMs: T0 + 60_000 + 60_000 },
    ]);
    expect(h.logger.entries.map((e) => e['event']).filter(Boolean)).toEqual([
      DELIVERY_EVENTS.dead,
      DELIVERY_EVENTS.unreachable,
    ]);
  });

  it('dead-letters a 400 at once and moves on to the same resource’s next event', async () => {
    const h = await harness({}, (i) => (i === 0 ? { status: 400 } : { status: 204 }));
    const events = await commit(h.store, [patientChange('1', 1), patientChange('1', 2)]);
    await h.dispatcher.drainOnce();
    expect(h.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual(events.map((e) => e.envelope.id));
    const rows = await h.store.deliveries.list({ limit: 10 });
    expect(rows.map((d) => [d.status, d.deadReason, d.attempts])).toEqual([
      ['dead', 'permanent', 1],
      ['delivered', undefined, 1],
    ]);
    expect(h.logger.entries.find((e) => e['event'] === DELIVERY_EVENTS.dead)).toMatchObject({
      status: 400,
      reason: 'permanent',
    });
    expect((await h.store.deliveries.subscriptionStates())[0]?.state ?? 'active').toBe('active');
  });

  it('a 410 disables the subscription: nothing more is sent until it is resumed', async () => {
    const h = await harness({}, () => ({ status: 410 }));
    await commit(h.store, [patientChange('1', 1), patientChange('2', 1)]);
    await h.dispatcher.drainOnce();
    await h.dispatcher.drainOnce();
    expect(h.receiver.requests.length).toBeLessThanOrEqual(2);
    const sentBeforeDisable = h.receiver.requests.length;
    expect(await h.store.deliveries.subscriptionStates()).toMatchObject([{ state: 'disabled' }]);
    expect(h.logger.entries.some((e) => e['event'] === DELIVERY_EVENTS.disabled)).toBe(true);
    await commit(h.store, [patientChange('3', 1)]);
    await h.dispatcher.drainOnce();
    expect(h.receiver.requests.length).toBe(sentBeforeDisable);
    expect(await h.store.deliveries.count({ status: 'pending' })).toBeGreaterThanOrEqual(1);
  });

  it('a 410 with 8 requests in flight: resume re-sends every one, in order, once each (issue 11, defect 5)', async () => {
    let gone = true;
    const waiting: (() => void)[] = [];
    const h = await harness({}, () => ({ status: 200 }), { concurrency: 8 });
    // The receiver holds requests until 8 are in flight, then answers all of them 410.
    h.receiver.answer(async () => {
      if (!gone) return { status: 200 };
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 8) for (const release of waiting.splice(0)) release();
      });
      return { status: 410 };
    });
    const ids = ['1', '2', '3', '4', '5', '6', '7', '8'];
    const first = await commit(
      h.store,
      ids.map((id) => patientChange(id, 1)),
    );
    await h.dispatcher.drainOnce();
    expect(h.receiver.requests).toHaveLength(8);
    expect(await h.store.deliveries.count({ status: 'dead' })).toBe(8);
    expect(await h.store.deliveries.subscriptionStates()).toMatchObject([{ state: 'disabled' }]);
    // Changes keep coming while it is disabled: queued, not sent.
    const later = await commit(h.store, [patientChange('1', 2), patientChange('9', 1)]);

    // "Fix the URL, then tendril deliveries resume."
    gone = false;
    expect(await resumeSubscription(h.store, 'sub', h.clock.now())).toBe(8);
    await runUntilIdle(h.store, h.dispatcher, h.clock, ['sub']);

    const delivered = h.receiver.requests.slice(8).map((r) => r.headers['webhook-id']);
    const expected = [...first, ...later].map((e) => e.envelope.id);
    expect([...delivered].sort()).toEqual([...expected].sort()); // each event once: no loss, no duplicate
    // Per-resource order: patient 1's first version before its second.
    expect(delivered.indexOf(first[0]!.envelope.id)).toBeLessThan(delivered.indexOf(later[0]!.envelope.id));
    expect(await h.store.deliveries.count({ status: 'pending' })).toBe(0);
    expect(await h.store.deliveries.subscriptionStates()).toMatchObject([{ state: 'active' }]);
    // A second resume finds nothing left to redrive.
    expect(await resumeSubscription(h.store, 'sub', h.clock.now())).toBe(0);
  });

  it('pauses a subscription after a run of permanent failures, with an event saying so', async () => {
    const h = await harness({}, () => ({ status: 422 }), { pauseAfterPermanentFailures: 3, concurrency: 1 });
    await commit(
      h.store,
      ['1', '2', '3', '4', '5'].map((id) => patientChange(id, 1)),
    );
    await h.dispatcher.drainOnce();
    expect(h.receiver.requests).toHaveLength(3);
    expect(await h.store.deliveries.subscriptionStates()).toMatchObject([
      { state: 'paused', consecutivePermanentFailures: 3 },
    ]);
    expect(h.logger.entries.find((e) => e['event'] === DELIVERY_EVENTS.paused)).toMatchObject({
      failures: 3,
    });
    expect(await h.store.deliveries.count({ status: 'pending' })).toBe(2);
  });

  it('honours Retry-After on 429 (up to maxDelayTarget) and still counts the attempt', async () => {
    const policy = {
      healthyRetryPolicy: {
        minDelayTarget: 5,
        maxDelayTarget: 300,
        numRetries: 3,
        backoffFunction: 'linear',
      },
    };
    const h = await harness({ policy }, (i) =>
      i === 0
        ? { status: 429, headers: { 'retry-after': '120' } }
        : i === 1
          ? { status: 503, headers: { 'retry-after': '9999' } }
          : { status: 200 },
    );
    await commit(h.store, [patientChange('1', 1)]);
    await runUntilIdle(h.store, h.dispatcher, h.clock, ['sub']);
    // 120 s asked (> D = 5 s); then 9999 s asked, capped at maxDelayTarget 300 s.
    expect(h.times).toEqual([0, 120_000, 420_000]);
    expect((await h.store.deliveries.list({ limit: 1 }))[0]).toMatchObject({
      status: 'delivered',
      attempts: 3,
    });
  });

  it('throttles per subscription with a token bucket; waiting uses no retry', async () => {
    const policy = { throttlePolicy: { maxReceivesPerSecond: 1 } };
    const h = await harness({ policy }, () => ({ status: 200 }));
    await commit(
      h.store,
      ['1', '2', '3'].map((id) => patientChange(id, 1)),
    );
    await runUntilIdle(h.store, h.dispatcher, h.clock, ['sub']);
    expect(h.times).toEqual([0, 1_000, 2_000]);
    const rows = await h.store.deliveries.list({ limit: 10 });
    expect(rows.map((d) => [d.status, d.attempts])).toEqual([
      ['delivered', 1],
      ['delivered', 1],
      ['delivered', 1],
    ]);
  });

  it('after a six-hour outage delivers everything, each resource in sequence order, with the same webhook-ids', async () => {
    const outageEnds = T0 + 6 * 3600_000;
    const h = await harness({}, () => ({ status: 503 }));
    h.receiver.answer(() => {
      h.times.push(h.clock.now() - T0);
      return h.clock.now() < outageEnds ? { status: 503 } : { status: 200 };
    });
    const committed = [];
    for (const version of [1, 2, 3]) {
      committed.push(
        ...(await commit(
          h.store,
          ['1', '2', '3'].map((id) => patientChange(id, version)),
        )),
      );
      h.clock.set(h.clock.now() + 1_000);
    }
    await runUntilIdle(h.store, h.dispatcher, h.clock, ['sub']);

    const ok = h.receiver.requests.filter((_, i) => h.times[i]! + T0 >= outageEnds);
    const okIds = ok.map((r) => String(r.headers['webhook-id']));
    expect(new Set(okIds)).toEqual(new Set(committed.map((e) => e.envelope.id)));
    for (const request of ok) expect(verifiedByLibrary(request)).toBe(true);
    for (const id of ['1', '2', '3']) {
      const rid = resourceId('c1', 'Patient', id);
      const sequences = ok
        .map((r) => envelopeOf(r.body))
        .filter((e) => e.resourceId === rid)
        .map((e) => e.sequence);
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
      expect(sequences).toHaveLength(3);
    }
    // During the outage only one probe per interval went out, not a request per event.
    const duringOutage = h.times.filter((t) => t + T0 < outageEnds).length;
    expect(duringOutage).toBeLessThan(3 * 4 + 6 * 60 + 2);
    expect(await h.store.deliveries.count({ status: 'pending' })).toBe(0);
    // Dead letters of the outage stay as history, each redriven by a delivered row (or delivered by the probe).
    const rows = await h.store.deliveries.list({ limit: 100 });
    const dead = rows.filter((d) => d.status === 'dead');
    expect(dead.length).toBeGreaterThan(0);
    for (const d of dead) {
      expect(d).toMatchObject({ deadReason: 'retries-exhausted', redrive: false });
      expect(rows.find((r) => r.replayOf === d.id)).toMatchObject({
        origin: 'redrive',
        status: 'delivered',
        eventId: d.eventId,
      });
    }
    expect(await h.store.deliveries.subscriptionStates()).toMatchObject([{ state: 'active' }]);
    expect(h.logger.entries.some((e) => e['event'] === DELIVERY_EVENTS.recovered)).toBe(true);
  });

  it('records a connection failure as a retryable transport error', async () => {
    const h = await harness({}, () => ({ status: 200 }));
    const url = h.receiver.url;
    await h.receiver.close();
    open.splice(open.indexOf(h), 1);
    const { resolved } = subscriptionsFor([{ id: 'sub', url }]);
    const dispatcher = createDispatcher({
      store: h.store,
      subscriptions: resolved,
      logger: h.logger,
      clock: h.clock.now,
      settings: { jitter: 0 },
    });
    await commit(h.store, [patientChange('1', 1)]);
    await dispatcher.drainOnce();
    await dispatcher.stop();
    const [row] = await h.store.deliveries.list({ limit: 1 });
    expect(row).toMatchObject({ status: 'pending', attempts: 1, dueAtMs: T0 + 20_000 });
    expect(row!.lastError).toMatch(/^connection: ECONNREFUSED/);
    await h.store.close();
  });

  it('stop() aborts a request still in flight after the grace period and releases it without an attempt', async () => {
    const h = await harness({}, () => ({ status: 200, hold: true }));
    await commit(h.store, [patientChange('1', 1)]);
    const drained = h.dispatcher.drainOnce();
    while (h.receiver.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    await h.dispatcher.stop({ graceMs: 50 });
    const report = await drained;
    expect(report.attempted).toBe(0);
    const [row] = await h.store.deliveries.list({ limit: 1 });
    expect(row).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await h.store.deliveries.get(row!.id))!.attempts).toEqual([]);
    // Released, not merely left to expire: another worker can take it at once.
    expect(
      await h.store.deliveries.lease({
        owner: 'other',
        nowMs: h.clock.now(),
        leaseMs: 1000,
        limit: 1,
        subscriptionIds: ['sub'],
      }),
    ).toHaveLength(1);
  });
});
