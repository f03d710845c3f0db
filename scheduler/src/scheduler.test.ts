import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig, TendrilError, type ConnectorDefinition } from '@tendril/core';
import { openSqliteStore, type Store } from '@tendril/store';
import { CronTime } from 'cron';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nightlySchedule, pollSchedule, stableOffsetSeconds } from './cron-schedule.js';
import { silentLogger } from './logger.js';
import { createScheduler, type HealthEvent, type Scheduler, type StreamJob } from './scheduler.js';

const connectors = new Map<string, ConnectorDefinition>([['open-dental', openDental]]);

function connection(overrides: Record<string, unknown> = {}): ConnectionConfig {
  return ConnectionConfig.parse({
    id: 'smile-dental-main',
    connector: 'open-dental',
    timezone: 'America/New_York',
    database: { url: 'mysql://reader@127.0.0.1:3306/od' },
    streams: ['patients', 'appointments'],
    ...overrides,
  });
}

/** A promise the test settles by hand, to hold a job "running" across ticks. */
function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let scheduler: Scheduler | undefined;
let store: Store | undefined;

beforeEach(() => {
  scheduler = undefined;
  store = undefined;
});

afterEach(async () => {
  if (scheduler) {
    const stopping = scheduler.stop({ graceMs: 1 });
    await vi.advanceTimersByTimeAsync(5);
    await stopping;
  }
  await store?.close();
  vi.useRealTimers();
});

describe('poll schedule', () => {
  it('offsets a connection by a stable hash of its id, inside the interval', () => {
    const a = pollSchedule('smile-dental-main', '*/10 * * * *');
    const again = pollSchedule('smile-dental-main', '*/10 * * * *');
    const b = pollSchedule('bright-smiles-east', '*/10 * * * *');
    expect(a.intervalSeconds).toBe(600);
    expect(a.offsetSeconds).toBe(again.offsetSeconds);
    expect(a.offsetSeconds).toBe(stableOffsetSeconds('smile-dental-main', 600));
    for (const s of [a, b]) {
      expect(s.offsetSeconds).toBeGreaterThanOrEqual(0);
      expect(s.offsetSeconds).toBeLessThan(600);
    }
    // Ticks are the unshifted 10-minute marks plus the offset, strictly after `from`.
    const from = new Date('2025-06-01T12:00:00Z');
    const first = a.next(from);
    const second = a.next(first);
    expect(second.getTime() - first.getTime()).toBe(600_000);
    expect((first.getTime() / 1000 - a.offsetSeconds) % 600).toBe(0);
    expect(first.getTime()).toBeGreaterThan(from.getTime());
    expect(first.getTime() - from.getTime()).toBeLessThanOrEqual(600_000);
  });

  it('spreads many connections across the window', () => {
    const offsets = new Set(Array.from({ length: 50 }, (_, i) => stableOffsetSeconds(`practice-${i}`, 600)));
    expect(offsets.size).toBeGreaterThan(40);
  });

  it('reports every bad schedule at once', () => {
    expect(() =>
      createScheduler({
        connections: [
          connection({ id: 'one', schedule: { poll: '*/10 * * * 9', nightly: '02:00' } }),
          connection({ id: 'two', schedule: { poll: '61 * * * *', nightly: '02:00' } }),
        ],
        connectors,
        runPoll: async () => undefined,
        runNightly: async () => undefined,
        logger: silentLogger,
      }),
    ).toThrow(/2 problems[\s\S]*connections\.0\.schedule\.poll[\s\S]*connections\.1\.schedule\.poll/);
  });
});

describe('nightly schedule across DST (America/New_York)', () => {
  it('spring forward: 02:00 does not exist on 2025-03-09, so that night runs at 03:00 EDT, once', () => {
    const nightly = nightlySchedule('02:00', 'America/New_York');
    const runs: string[] = [];
    let at = new Date('2025-03-07T12:00:00Z');
    for (let i = 0; i < 4; i++) {
      at = nightly.next(at);
      runs.push(at.toISOString());
    }
    expect(runs).toEqual([
      '2025-03-08T07:00:00.000Z', // 02:00 EST
      '2025-03-09T07:00:00.000Z', // the gap: 03:00 EDT, the first instant after it
      '2025-03-10T06:00:00.000Z', // 02:00 EDT
      '2025-03-11T06:00:00.000Z',
    ]);
  });

  it('fall back: 01:30 happens twice on 2025-11-02; the job runs at the first one only', () => {
    const nightly = nightlySchedule('01:30', 'America/New_York');
    const runs: string[] = [];
    let at = new Date('2025-11-01T12:00:00Z');
    for (let i = 0; i < 3; i++) {
      at = nightly.next(at);
      runs.push(at.toISOString());
    }
    expect(runs).toEqual([
      '2025-11-02T05:30:00.000Z',
      '2025-11-03T06:30:00.000Z',
      '2025-11-04T06:30:00.000Z',
    ]);
  });

  it("why the nightly does not use cron's daily expression: it picks 01:00 EST on the fall-back night", () => {
    const cron = new CronTime('0 2 * * *', 'America/New_York');
    // 06:00Z on 2025-11-02 is 01:00 EST (the repeated hour), not 02:00: the job would run twice that night.
    expect(
      new Date(
        cron.getNextDateFrom(new Date('2025-11-01T12:00:00Z'), 'America/New_York').toMillis(),
      ).toISOString(),
    ).toBe('2025-11-02T06:00:00.000Z');
    expect(
      nightlySchedule('02:00', 'America/New_York').next(new Date('2025-11-01T12:00:00Z')).toISOString(),
    ).toBe('2025-11-02T07:00:00.000Z');
  });

  it("resolves the repeated hour the same way whatever today's date is", () => {
    for (const today of ['2025-07-01T00:00:00Z', '2025-12-01T00:00:00Z']) {
      vi.useFakeTimers({ now: new Date(today) });
      expect(
        nightlySchedule('01:30', 'America/New_York').next(new Date('2025-11-01T12:00:00Z')).toISOString(),
      ).toBe('2025-11-02T05:30:00.000Z');
      vi.useRealTimers();
    }
  });

  it('previous() finds the run that was due', () => {
    const nightly = nightlySchedule('02:00', 'America/New_York');
    expect(nightly.previous(new Date('2025-03-09T12:00:00Z'))?.toISOString()).toBe(
      '2025-03-09T07:00:00.000Z',
    );
    expect(nightly.previous(new Date('2025-03-09T06:59:59Z'))?.toISOString()).toBe(
      '2025-03-08T07:00:00.000Z',
    );
  });

  async function nightlyRunsWithFakeTimers(time: string, startIso: string, days: number): Promise<string[]> {
    vi.useFakeTimers({ now: new Date(startIso) });
    const runs: string[] = [];
    scheduler = createScheduler({
      connections: [connection({ streams: ['patients'], schedule: { poll: '0 0 1 1 *', nightly: time } })],
      connectors,
      runPoll: async () => undefined,
      runNightly: async () => {
        runs.push(new Date().toISOString());
      },
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(days * 86_400_000);
    return runs;
  }

  it('with fake timers, a 02:00 job fires once per local day through the spring-forward night', async () => {
    const runs = await nightlyRunsWithFakeTimers('02:00', '2025-03-07T12:00:00Z', 4);
    expect(runs).toEqual([
      '2025-03-08T07:00:00.000Z',
      '2025-03-09T07:00:00.000Z',
      '2025-03-10T06:00:00.000Z',
      '2025-03-11T06:00:00.000Z',
    ]);
  });

  it('with fake timers, a 02:00 job fires once per local day through the fall-back night', async () => {
    const runs = await nightlyRunsWithFakeTimers('02:00', '2025-10-31T12:00:00Z', 4);
    // 02:00 EDT, then 02:00 EST on the change night (after the repeated hour), then EST.
    expect(runs).toEqual([
      '2025-11-01T06:00:00.000Z',
      '2025-11-02T07:00:00.000Z',
      '2025-11-03T07:00:00.000Z',
      '2025-11-04T07:00:00.000Z',
    ]);
  });

  it('with fake timers, a 01:30 job does not run twice in the repeated hour', async () => {
    const runs = await nightlyRunsWithFakeTimers('01:30', '2025-11-01T12:00:00Z', 2);
    expect(runs).toEqual(['2025-11-02T05:30:00.000Z', '2025-11-03T06:30:00.000Z']);
  });
});

describe('the store\'s nightly prune (docs/store.md, "Retention and pruning")', () => {
  it('runs once a night at pruneAt in its zone, never overlapping itself, and a failure waits for the next night', async () => {
    vi.useFakeTimers({ now: new Date('2025-03-07T12:00:00Z') });
    const runs: string[] = [];
    const hung = deferred();
    let calls = 0;
    scheduler = createScheduler({
      connections: [connection({ streams: ['patients'], schedule: { poll: '0 0 1 1 *', nightly: '02:00' } })],
      connectors,
      runPoll: async () => undefined,
      runNightly: async () => undefined,
      storeMaintenance: {
        at: '03:30',
        timezone: 'America/New_York',
        run: async () => {
          calls += 1;
          runs.push(new Date().toISOString());
          if (calls === 1) throw new TendrilError('TENDRIL_E_STORE', 'the store failed');
          if (calls === 2) await hung.promise;
        },
      },
      logger: silentLogger,
    });
    await scheduler.start();
    expect(scheduler.snapshot().nextStorePruneAt).toBe('2025-03-08T08:30:00.000Z');
    await vi.advanceTimersByTimeAsync(3 * 86_400_000);
    // Night 1 failed, night 2 hangs through night 3 (skipped, not queued); spring-forward on night 2.
    expect(runs).toEqual(['2025-03-08T08:30:00.000Z', '2025-03-09T07:30:00.000Z']);
    hung.resolve();
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(runs).toEqual([
      '2025-03-08T08:30:00.000Z',
      '2025-03-09T07:30:00.000Z',
      '2025-03-11T07:30:00.000Z',
    ]);
  });
});

describe('scheduler', () => {
  it('polls every stream on each tick at the connection offset', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    const conn = connection();
    const offset = pollSchedule(conn.id, '*/10 * * * *').offsetSeconds;
    const calls: { stream: string; at: string }[] = [];
    scheduler = createScheduler({
      connections: [conn],
      connectors,
      runPoll: async (job) => {
        calls.push({ stream: job.stream, at: new Date().toISOString() });
      },
      runNightly: async () => undefined,
      logger: silentLogger,
    });
    await scheduler.start(); // no store: nothing is known, so one catch-up poll runs now
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => c.stream)).toEqual(['patients', 'appointments']);
    await vi.advanceTimersByTimeAsync(20 * 60_000);
    const tickTimes = [...new Set(calls.slice(2).map((c) => c.at))];
    expect(tickTimes).toHaveLength(2);
    for (const at of tickTimes) expect((Date.parse(at) / 1000 - offset) % 600).toBe(0);
    expect(scheduler.snapshot().connections[0]!.streams.every((s) => s.status === 'healthy')).toBe(true);
  });

  it('skips (does not queue) ticks while the previous poll is still running', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    const hold = deferred();
    let started = 0;
    scheduler = createScheduler({
      connections: [connection({ streams: ['patients'] })],
      connectors,
      runPoll: async () => {
        started++;
        await hold.promise;
      },
      runNightly: async () => undefined,
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(35 * 60_000); // three ticks while the catch-up poll hangs
    expect(started).toBe(1);
    expect(scheduler.snapshot().connections[0]!.skippedTicks).toBe(3);
    hold.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toBe(1); // nothing was queued
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(started).toBe(2); // the next tick runs normally
  });

  it('makes a stream poll wait while the nightly reconciliation holds its lease', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    const reconciling = deferred();
    const order: string[] = [];
    scheduler = createScheduler({
      connections: [
        connection({ streams: ['patients'], schedule: { poll: '*/10 * * * *', nightly: '02:00' } }),
      ],
      connectors,
      runPoll: async () => {
        order.push('poll');
      },
      runNightly: async () => {
        order.push('reconcile:start');
        await reconciling.promise;
        order.push('reconcile:end');
      },
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    order.length = 0;
    void scheduler.nightlyNow('smile-dental-main');
    await vi.advanceTimersByTimeAsync(11 * 60_000); // a poll tick arrives meanwhile
    expect(order).toEqual(['reconcile:start']);
    reconciling.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['reconcile:start', 'reconcile:end', 'poll']);
  });

  it('marks a failing stream unhealthy, retries with backoff, and recovers by itself', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    let failuresLeft = 3;
    const attempts: { stream: string; at: number }[] = [];
    scheduler = createScheduler({
      connections: [connection()],
      connectors,
      runPoll: async (job: StreamJob) => {
        attempts.push({ stream: job.stream, at: Date.now() });
        if (job.stream === 'appointments' && failuresLeft-- > 0) {
          throw new TendrilError(
            'TENDRIL_E_DB_CONNECT',
            'the EHR database could not be reached; check host and port',
          );
        }
      },
      runNightly: async () => undefined,
      backoff: { initialMs: 15_000, maxMs: 600_000 },
      logger: silentLogger,
    });
    const t0 = Date.now();
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    let stream = scheduler.snapshot().connections[0]!.streams.find((s) => s.stream === 'appointments')!;
    expect(stream.status).toBe('unhealthy');
    expect(stream.lastError?.code).toBe('TENDRIL_E_DB_CONNECT');
    expect(stream.nextRetryAt).toBe(new Date(t0 + 15_000).toISOString());
    expect(scheduler.snapshot().connections[0]!.streams.find((s) => s.stream === 'patients')!.status).toBe(
      'healthy',
    );

    await vi.advanceTimersByTimeAsync(15_000 + 30_000 + 60_000);
    const retries = attempts.filter((a) => a.stream === 'appointments').map((a) => a.at - t0);
    expect(retries.slice(0, 4)).toEqual([0, 15_000, 45_000, 105_000]);
    // Retries re-run only the failing stream, not the healthy one.
    expect(attempts.filter((a) => a.stream === 'patients' && a.at - t0 < 105_000)).toHaveLength(1);
    stream = scheduler.snapshot().connections[0]!.streams.find((s) => s.stream === 'appointments')!;
    expect(stream.status).toBe('healthy');
    expect(stream.consecutiveFailures).toBe(0);
    expect(stream.lastError).toBeUndefined();
  });

  it('emits agent.health.degraded past the read-stale threshold and .recovered after a good read', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    let broken = true;
    const events: HealthEvent[] = [];
    scheduler = createScheduler({
      connections: [connection({ streams: ['patients'] })],
      connectors,
      runPoll: async () => {
        if (broken)
          throw new TendrilError(
            'TENDRIL_E_DB_AUTH',
            'the database refused the login; check user and password',
          );
      },
      runNightly: async () => undefined,
      readStaleMinutes: 30,
      healthCheckMs: 60_000,
      logger: silentLogger,
      onHealthEvent: (e) => events.push(e),
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(29 * 60_000);
    expect(events).toEqual([]);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(events.map((e) => [e.type, e.stream, e.thresholdMinutes])).toEqual([
      ['agent.health.degraded', 'patients', 30],
    ]);
    broken = false;
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(events.map((e) => e.type)).toEqual(['agent.health.degraded', 'agent.health.recovered']);
  });

  it('stop() lets the current page finish and reports nothing abandoned', async () => {
    vi.useFakeTimers({ now: new Date('2025-06-01T12:00:00Z') });
    const pagesCommitted: number[] = [];
    const s = createScheduler({
      connections: [connection({ streams: ['patients'] })],
      connectors,
      runPoll: async ({ signal }) => {
        for (let page = 1; page <= 100; page++) {
          await new Promise((r) => setTimeout(r, 1000));
          pagesCommitted.push(page);
          if (signal.aborted) throw new Error('stopped after page');
        }
      },
      runNightly: async () => undefined,
      logger: silentLogger,
    });
    await s.start();
    await vi.advanceTimersByTimeAsync(2500);
    const stopping = s.stop({ graceMs: 10_000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(await stopping).toEqual({ abandoned: 0 });
    expect(pagesCommitted).toEqual([1, 2, 3]);
    // A stopped poll is not a stream failure.
    expect(s.snapshot().connections[0]!.streams[0]!.status).toBe('unknown');
  });
});

describe('catch-up at start (from the store)', () => {
  async function seededStore(now: Date, lastPollMinutesAgo: number | undefined): Promise<Store> {
    const s = openSqliteStore(':memory:', { now: () => now });
    await s.migrate();
    if (lastPollMinutesAgo !== undefined) {
      for (const stream of ['patients', 'appointments']) {
        await s.saveStreamState('smile-dental-main', stream, {
          mode: 'timestamp',
          watermark: '2025-06-01 11:00:00',
          lastPollFinishedAt: new Date(now.getTime() - lastPollMinutesAgo * 60_000).toISOString(),
        });
      }
    }
    return s;
  }

  it('runs one catch-up poll when the last poll finished more than the interval ago, not one per missed tick', async () => {
    const now = new Date('2025-06-01T12:00:00Z');
    vi.useFakeTimers({ now });
    store = await seededStore(now, 180);
    const polls: string[] = [];
    scheduler = createScheduler({
      connections: [connection()],
      connectors,
      store,
      runPoll: async (job) => {
        polls.push(job.stream);
      },
      runNightly: async () => undefined,
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toEqual(['patients', 'appointments']);
  });

  it('waits for the next tick when the last poll is recent', async () => {
    const now = new Date('2025-06-01T12:00:00Z');
    vi.useFakeTimers({ now });
    store = await seededStore(now, 3);
    const polls: string[] = [];
    scheduler = createScheduler({
      connections: [connection()],
      connectors,
      store,
      runPoll: async (job) => {
        polls.push(job.stream);
      },
      runNightly: async () => undefined,
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toEqual([]);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(polls).toEqual(['patients', 'appointments']);
  });

  async function nightlyAtStart(
    reconciledHoursAgo: number | undefined,
    syncedBefore: boolean,
  ): Promise<number> {
    const now = new Date('2025-06-01T12:00:00Z'); // 08:00 in New York: the 02:00 run was due 6 h ago
    vi.useFakeTimers({ now });
    store = await seededStore(now, 3);
    if (syncedBefore) {
      const id = await store.startRun({
        connectionId: 'smile-dental-main',
        stream: 'patients',
        kind: 'backload',
        startedAt: '2025-05-28T10:00:00Z',
      });
      await store.finishRun(id, {
        status: 'succeeded',
        finishedAt: '2025-05-28T10:05:00Z',
        counts: { read: 1, created: 1, updated: 0, deleted: 0, unchanged: 0 },
      });
    }
    if (reconciledHoursAgo !== undefined) {
      const startedAt = new Date(now.getTime() - reconciledHoursAgo * 3600_000).toISOString();
      const id = await store.startRun({
        connectionId: 'smile-dental-main',
        stream: 'patients',
        kind: 'reconcile',
        startedAt,
      });
      await store.finishRun(id, {
        status: 'succeeded',
        finishedAt: startedAt,
        counts: { read: 1, created: 0, updated: 0, deleted: 0, unchanged: 1 },
      });
    }
    let nightlies = 0;
    scheduler = createScheduler({
      connections: [connection()],
      connectors,
      store,
      runPoll: async () => undefined,
      runNightly: async () => {
        nightlies++;
      },
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    return nightlies;
  }

  it('runs a nightly missed while the agent was down once at start', async () => {
    expect(await nightlyAtStart(30, true)).toBe(2); // both streams, once
  });

  it('does not rerun a nightly that already ran after it was due', async () => {
    expect(await nightlyAtStart(5, true)).toBe(0);
  });

  it('does not run a nightly at the first start of a new connection', async () => {
    expect(await nightlyAtStart(undefined, false)).toBe(0);
  });
});
