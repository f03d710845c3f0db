import {
  isTendrilError,
  TendrilError,
  type ConnectionConfig,
  type ConnectorDefinition,
  type NightlyScriptConfig,
} from '@tendril/core';
import type { Store } from '@tendril/store';
import { nightlySchedule, pollSchedule, type NightlySchedule, type PollSchedule } from './cron-schedule.js';
import type { Logger } from './logger.js';
import { trackMappingWarnings, type MappingWarningTracker } from './mapping-warnings.js';
import {
  backoffDelayMs,
  DEFAULT_STREAM_BACKOFF,
  type BackoffPolicy,
  type StreamHealth,
} from './stream-health.js';
import { streamsOf } from './sync-connection.js';

/** Time and timers, injectable; the default reads the globals at call time, so `vi.useFakeTimers()` drives it. */
export interface SchedulerClock {
  now(): Date;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: SchedulerClock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Why a poll job started. */
export const POLL_REASONS = ['tick', 'catch-up', 'retry', 'manual'] as const;
export type PollReason = (typeof POLL_REASONS)[number];

export const JOB_NAMES = ['poll', 'nightly', 'scripts', 'writebacks'] as const;
export type JobName = (typeof JOB_NAMES)[number];

/** What a stream job receives. `signal` is aborted at shutdown: stop after the current page. */
export interface StreamJob {
  readonly connection: ConnectionConfig;
  readonly connector: ConnectorDefinition;
  readonly stream: string;
  readonly signal: AbortSignal;
}

export interface ScriptJob {
  readonly connection: ConnectionConfig;
  readonly script: NightlyScriptConfig;
  readonly signal: AbortSignal;
}

/** `agent.health.degraded` when a stream had no successful read for longer than the threshold; `.recovered` when it reads again. */
export interface HealthEvent {
  readonly type: 'agent.health.degraded' | 'agent.health.recovered';
  readonly at: string;
  readonly connectionId: string;
  readonly stream: string;
  readonly reason: 'read-stale';
  readonly thresholdMinutes: number;
  readonly lastSuccessAt?: string;
}

export interface SchedulerOptions {
  readonly connections: readonly ConnectionConfig[];
  readonly connectors: ReadonlyMap<string, ConnectorDefinition>;
  /** One incremental poll of one stream; throws on failure (the stream then backs off). */
  readonly runPoll: (job: StreamJob) => Promise<unknown>;
  /** The nightly reconciliation of one stream (see `reconcileStream`). */
  readonly runNightly: (job: StreamJob) => Promise<unknown>;
  /** One nightly script; without it, configured scripts are reported as not run. */
  readonly runScript?: (job: ScriptJob) => Promise<unknown>;
  /**
   * The writeback worker's pick-up step, called every `writebackIntervalMs` (default 1 s), never
   * overlapping. Writeback does not exist yet: the agent passes nothing and the status says so.
   */
  readonly runWritebacks?: (signal: AbortSignal) => Promise<unknown>;
  /**
   * The store's nightly prune (docs/store.md, "Retention and pruning"): run once a day at `at`
   * (HH:MM) in `timezone`, never overlapping itself; a failure is logged and tried the next night.
   */
  readonly storeMaintenance?: {
    readonly at: string;
    readonly timezone: string;
    readonly run: (signal: AbortSignal) => Promise<unknown>;
  };
  /** Where the last poll / reconciliation of each stream is read at start (catch-up). */
  readonly store?: Pick<Store, 'getStreamState' | 'listRuns'>;
  readonly clock?: SchedulerClock;
  readonly logger: Logger;
  readonly backoff?: BackoffPolicy;
  /** A stream with no successful read for this long is degraded (default 150, NexHealth's rule). */
  readonly readStaleMinutes?: number;
  /** How often staleness is checked (default 60 s). */
  readonly healthCheckMs?: number;
  readonly writebackIntervalMs?: number;
  readonly onHealthEvent?: (event: HealthEvent) => void;
}

export interface ConnectionScheduleSnapshot {
  readonly id: string;
  readonly connector: string;
  readonly timezone: string;
  readonly pollExpression: string;
  readonly pollIntervalSeconds: number;
  readonly offsetSeconds: number;
  readonly nightlyTime: string;
  readonly nextPollAt?: string;
  readonly nextNightlyAt?: string;
  readonly nextRetryAt?: string;
  readonly running: readonly JobName[];
  readonly lastNightlyAt?: string;
  readonly scripts: readonly {
    name: string;
    element: string;
    lastRunAt?: string;
    lastError?: { code: string; message: string };
  }[];
  readonly skippedTicks: number;
  readonly streams: readonly Readonly<StreamHealth>[];
}

export interface SchedulerSnapshot {
  readonly state: 'created' | 'running' | 'stopping' | 'stopped';
  readonly startedAt?: string;
  readonly readStaleMinutes: number;
  /** `not-yet` until writeback exists (docs/writeback.md); then `running`. */
  readonly writebackWorker: 'running' | 'not-yet';
  /** The next nightly prune of the store, when one is scheduled. */
  readonly nextStorePruneAt?: string;
  readonly connections: readonly ConnectionScheduleSnapshot[];
}

export interface Scheduler {
  /** Decides the catch-up runs (from the store), starts them, and arms the timers. */
  start(): Promise<void>;
  /**
   * Stops the timers and asks running jobs to stop after their current page (each page commits
   * atomically, so a poll cut short resumes at the next start). Waits up to `graceMs` (default
   * 30 s) and reports how many jobs were still running then.
   */
  stop(options?: { graceMs?: number }): Promise<{ abandoned: number }>;
  snapshot(): SchedulerSnapshot;
  /** Runs a connection's poll job now, under the same no-overlap rule as a tick. */
  pollNow(connectionId: string): Promise<'ran' | 'skipped'>;
  /** Runs a connection's nightly job now, under the same no-overlap rule. */
  nightlyNow(connectionId: string): Promise<'ran' | 'skipped'>;
  /** Settles once no job is running. */
  idle(): Promise<void>;
}

/** Timers re-check at least this often, so a long sleep (laptop lid, VM pause) cannot overshoot by much. */
const MAX_SLEEP_MS = 60 * 60_000;

interface Slot {
  readonly connection: ConnectionConfig;
  readonly connector: ConnectorDefinition;
  readonly streams: readonly string[];
  readonly poll: PollSchedule;
  readonly nightly: NightlySchedule;
  readonly health: Map<string, StreamHealth>;
  readonly running: Map<JobName, Promise<void>>;
  readonly timers: Map<'poll' | 'nightly' | 'retry', unknown>;
  readonly scripts: Map<string, { lastRunAt?: string; lastError?: { code: string; message: string } }>;
  nextPollAt?: Date;
  nextNightlyAt?: Date;
  nextRetryAt?: Date;
  lastNightlyAt?: string;
  skippedTicks: number;
}

function failureOf(error: unknown): { code: string; message: string; retryable: boolean } {
  if (isTendrilError(error)) return { code: error.code, message: error.message, retryable: error.retryable };
  // A foreign error's message may carry row values: keep only that it happened.
  return { code: 'TENDRIL_E_INTERNAL', message: 'unexpected failure; see the log', retryable: false };
}

/**
 * Builds every schedule first and reports every bad expression at once (config problems are
 * reported together), then returns the schedules by connection id.
 */
function buildSlots(options: SchedulerOptions): Map<string, Slot> {
  const problems: string[] = [];
  const slots = new Map<string, Slot>();
  options.connections.forEach((connection, index) => {
    const connector = options.connectors.get(connection.connector);
    if (!connector) {
      problems.push(`connections.${index}.connector: no connector ${connection.connector} is installed`);
      return;
    }
    let poll: PollSchedule | undefined;
    let nightly: NightlySchedule | undefined;
    try {
      poll = pollSchedule(connection.id, connection.schedule.poll, `connections.${index}.schedule.poll`);
    } catch (error) {
      problems.push((error as Error).message);
    }
    try {
      nightly = nightlySchedule(
        connection.schedule.nightly,
        connection.timezone,
        `connections.${index}.schedule.nightly`,
      );
    } catch (error) {
      problems.push((error as Error).message);
    }
    const names = new Set<string>();
    connection.nightlyScripts.forEach((script, s) => {
      if (names.has(script.name))
        problems.push(
          `connections.${index}.nightlyScripts.${s}.name: duplicate script name; names must be unique per connection`,
        );
      names.add(script.name);
    });
    if (!poll || !nightly) return;
    const streams = streamsOf(connection, connector);
    slots.set(connection.id, {
      connection,
      connector,
      streams,
      poll,
      nightly,
      health: new Map(
        streams.map((stream) => [
          stream,
          { connectionId: connection.id, stream, status: 'unknown', consecutiveFailures: 0, stale: false },
        ]),
      ),
      running: new Map(),
      timers: new Map(),
      scripts: new Map(connection.nightlyScripts.map((s) => [s.name, {}])),
      skippedTicks: 0,
    });
  });
  if (problems.length > 0) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `the schedule config has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        details: { problems },
      },
    );
  }
  return slots;
}

/**
 * The in-process scheduler of the long-running agent (docs/sync-semantics.md, "Scheduling"): per connection,
 * an incremental poll on a UTC cron schedule shifted by a stable per-connection offset, a nightly job
 * at `HH:MM` in the connection's zone (reconciliation of every stream, then the nightly scripts),
 * and the writeback worker's 1 s pick-up loop when one is given.
 *
 * Rules: a job never overlaps itself (a tick that comes while it runs is skipped, not queued); a
 * stream's poll and its reconciliation never run at once (a per-stream lease; polls wait); at
 * start, a poll missed while the agent was down runs once, and so does a missed nightly; a failing
 * stream is marked unhealthy and retried with exponential backoff until it recovers by itself.
 * The jobs are plain functions passed in, so the scheduler knows nothing of SQL or HTTP.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const log = options.logger.child({ component: 'scheduler' });
  const backoff = options.backoff ?? DEFAULT_STREAM_BACKOFF;
  const readStaleMinutes = options.readStaleMinutes ?? 150;
  const slots = buildSlots(options);
  const leases = new Map<string, Promise<void>>();
  const abort = new AbortController();
  let state: SchedulerSnapshot['state'] = 'created';
  let startedAt: Date | undefined;
  let healthTimer: unknown;
  let writebackTimer: unknown;
  let writebackRunning: Promise<void> | undefined;
  const maintenance = options.storeMaintenance;
  const maintenanceSchedule =
    maintenance && nightlySchedule(maintenance.at, maintenance.timezone, 'retention.pruneAt');
  let maintenanceTimer: unknown;
  let maintenanceRunning: Promise<void> | undefined;
  let nextStorePruneAt: Date | undefined;
  // Dropped values (warning codes) of this scheduler's connections are logged while it runs.
  let warnings: MappingWarningTracker | undefined;

  const iso = (d: Date) => d.toISOString();
  const active = () => state === 'running';

  /** Arms a timer that fires `fire` at `at`, waking at least hourly to re-check the clock. */
  function arm(slot: Slot, kind: 'poll' | 'nightly' | 'retry', at: Date, fire: () => void): void {
    const previous = slot.timers.get(kind);
    if (previous !== undefined) clock.clearTimeout(previous);
    const wake = () => {
      if (!active()) return;
      const delay = at.getTime() - clock.now().getTime();
      if (delay <= 0) {
        slot.timers.delete(kind);
        fire();
        return;
      }
      slot.timers.set(kind, clock.setTimeout(wake, Math.min(delay, MAX_SLEEP_MS)));
    };
    wake();
  }

  function armPoll(slot: Slot, from: Date): void {
    const at = slot.poll.next(from);
    slot.nextPollAt = at;
    arm(slot, 'poll', at, () => {
      // The next tick counts from the later of the planned time and now, so a late wake never fires twice.
      armPoll(slot, new Date(Math.max(at.getTime(), clock.now().getTime())));
      void pollJob(slot, 'tick');
    });
  }

  function armNightly(slot: Slot, from: Date): void {
    const at = slot.nightly.next(from);
    slot.nextNightlyAt = at;
    arm(slot, 'nightly', at, () => {
      armNightly(slot, new Date(Math.max(at.getTime(), clock.now().getTime())));
      void nightlyJob(slot);
    });
  }

  /** Arms one retry for the earliest backing-off stream of a connection. */
  function armRetry(slot: Slot): void {
    const due = [...slot.health.values()]
      .filter((h) => h.status === 'unhealthy' && h.nextRetryAt !== undefined)
      .map((h) => Date.parse(h.nextRetryAt!));
    const existing = slot.timers.get('retry');
    if (existing !== undefined) clock.clearTimeout(existing);
    slot.timers.delete('retry');
    slot.nextRetryAt = undefined;
    if (due.length === 0 || !active()) return;
    const at = new Date(Math.min(...due));
    slot.nextRetryAt = at;
    arm(slot, 'retry', at, () => {
      slot.nextRetryAt = undefined;
      void pollJob(slot, 'retry');
    });
  }

  /** Runs `work` holding the stream's lease; a poll and a reconciliation of one stream never overlap. */
  async function withLease<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = leases.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    leases.set(key, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (leases.get(key) === chained) leases.delete(key);
    }
  }

  /** Starts job `name` unless it is already running (then the trigger is skipped, not queued). */
  function exclusive(
    slot: Slot,
    name: JobName,
    trigger: string,
    work: () => Promise<void>,
  ): Promise<'ran' | 'skipped'> {
    if (slot.running.has(name)) {
      slot.skippedTicks++;
      log.info(
        { connectionId: slot.connection.id, job: name, trigger, event: 'scheduler.tick_skipped' },
        'previous run still running; this one is skipped',
      );
      return Promise.resolve('skipped');
    }
    const run = work()
      .catch((error: unknown) => {
        log.error(
          { connectionId: slot.connection.id, job: name, code: failureOf(error).code },
          'scheduler job failed unexpectedly',
        );
      })
      .finally(() => slot.running.delete(name));
    slot.running.set(name, run);
    return run.then(() => 'ran' as const);
  }

  function markSuccess(slot: Slot, health: StreamHealth): void {
    const now = clock.now();
    if (health.status === 'unhealthy') {
      log.info(
        {
          connectionId: slot.connection.id,
          stream: health.stream,
          event: 'stream.recovered',
          failures: health.consecutiveFailures,
        },
        'stream recovered',
      );
    }
    health.status = 'healthy';
    health.consecutiveFailures = 0;
    health.lastSuccessAt = iso(now);
    delete health.nextRetryAt;
    delete health.lastError;
    evaluateStaleness(slot, health, now);
  }

  function markFailure(slot: Slot, health: StreamHealth, error: unknown): void {
    const now = clock.now();
    const failure = failureOf(error);
    health.consecutiveFailures++;
    const delay = backoffDelayMs(backoff, health.consecutiveFailures);
    health.nextRetryAt = iso(new Date(now.getTime() + delay));
    health.lastError = { ...failure, at: iso(now) };
    const fields = {
      connectionId: slot.connection.id,
      stream: health.stream,
      code: failure.code,
      failures: health.consecutiveFailures,
      retryInMs: delay,
    };
    if (health.status !== 'unhealthy')
      log.warn(
        { ...fields, event: 'stream.unhealthy' },
        `stream is failing; retrying with backoff: ${failure.message}`,
      );
    else log.debug({ ...fields, event: 'stream.retry_failed' }, 'stream still failing');
    health.status = 'unhealthy';
  }

  function emitHealth(event: HealthEvent): void {
    const fields = {
      event: event.type,
      connectionId: event.connectionId,
      stream: event.stream,
      reason: event.reason,
      thresholdMinutes: event.thresholdMinutes,
    };
    if (event.type === 'agent.health.degraded')
      log.warn(fields, `no successful read for more than ${event.thresholdMinutes} minutes`);
    else log.info(fields, 'reads are current again');
    try {
      options.onHealthEvent?.(event);
    } catch (error) {
      log.error({ code: failureOf(error).code }, 'health event listener failed');
    }
  }

  /** Staleness is measured from the last successful read, or from the agent's start when there was none. */
  function evaluateStaleness(slot: Slot, health: StreamHealth, now: Date): void {
    const reference = health.lastSuccessAt ? Date.parse(health.lastSuccessAt) : (startedAt ?? now).getTime();
    const stale = now.getTime() - reference > readStaleMinutes * 60_000;
    if (stale === health.stale) return;
    health.stale = stale;
    emitHealth({
      type: stale ? 'agent.health.degraded' : 'agent.health.recovered',
      at: iso(now),
      connectionId: slot.connection.id,
      stream: health.stream,
      reason: 'read-stale',
      thresholdMinutes: readStaleMinutes,
      ...(health.lastSuccessAt ? { lastSuccessAt: health.lastSuccessAt } : {}),
    });
  }

  function checkHealth(): void {
    const now = clock.now();
    for (const slot of slots.values())
      for (const health of slot.health.values()) evaluateStaleness(slot, health, now);
  }

  function armHealth(): void {
    healthTimer = clock.setTimeout(() => {
      if (!active()) return;
      checkHealth();
      armHealth();
    }, options.healthCheckMs ?? 60_000);
  }

  function pollJob(slot: Slot, reason: PollReason): Promise<'ran' | 'skipped'> {
    return exclusive(slot, 'poll', reason, async () => {
      for (const stream of slot.streams) {
        if (abort.signal.aborted) break;
        const health = slot.health.get(stream)!;
        const backingOff =
          health.status === 'unhealthy' &&
          health.nextRetryAt !== undefined &&
          Date.parse(health.nextRetryAt) > clock.now().getTime();
        // A retry only re-runs failing streams; a tick skips a stream still backing off; catch-up and manual runs try everything.
        if (reason === 'retry' && health.status !== 'unhealthy') continue;
        if ((reason === 'tick' || reason === 'retry') && backingOff) continue;
        await withLease(`${slot.connection.id}\u0000${stream}`, async () => {
          if (abort.signal.aborted) return;
          health.lastAttemptAt = iso(clock.now());
          try {
            await options.runPoll({
              connection: slot.connection,
              connector: slot.connector,
              stream,
              signal: abort.signal,
            });
            markSuccess(slot, health);
          } catch (error) {
            // A poll cut short by shutdown is not a failure of the stream: it resumes at the next start.
            if (abort.signal.aborted) return;
            markFailure(slot, health, error);
          }
        });
      }
      armRetry(slot);
    });
  }

  function nightlyJob(slot: Slot): Promise<'ran' | 'skipped'> {
    return exclusive(slot, 'nightly', 'nightly', async () => {
      for (const stream of slot.streams) {
        if (abort.signal.aborted) break;
        const health = slot.health.get(stream)!;
        await withLease(`${slot.connection.id}\u0000${stream}`, async () => {
          if (abort.signal.aborted) return;
          try {
            await options.runNightly({
              connection: slot.connection,
              connector: slot.connector,
              stream,
              signal: abort.signal,
            });
            health.lastNightlyAt = iso(clock.now());
            delete health.lastNightlyError;
          } catch (error) {
            if (abort.signal.aborted) return;
            const failure = failureOf(error);
            health.lastNightlyError = { code: failure.code, message: failure.message, at: iso(clock.now()) };
            log.warn(
              { connectionId: slot.connection.id, stream, code: failure.code, event: 'reconcile.failed' },
              `nightly reconciliation failed: ${failure.message}`,
            );
          }
        });
      }
      slot.lastNightlyAt = iso(clock.now());
      if (!abort.signal.aborted && slot.connection.nightlyScripts.length > 0) void scriptsJob(slot);
    });
  }

  function scriptsJob(slot: Slot): Promise<'ran' | 'skipped'> {
    return exclusive(slot, 'scripts', 'nightly', async () => {
      for (const script of slot.connection.nightlyScripts) {
        if (abort.signal.aborted) break;
        const record = slot.scripts.get(script.name)!;
        if (!options.runScript) {
          record.lastError = {
            code: 'TENDRIL_E_INTERNAL',
            message: 'no script runner is configured in this agent',
          };
          continue;
        }
        try {
          await options.runScript({ connection: slot.connection, script, signal: abort.signal });
          record.lastRunAt = iso(clock.now());
          delete record.lastError;
        } catch (error) {
          const failure = failureOf(error);
          record.lastError = { code: failure.code, message: failure.message };
          log.warn(
            {
              connectionId: slot.connection.id,
              script: script.name,
              code: failure.code,
              event: 'nightly_script.failed',
            },
            `nightly script failed: ${failure.message}`,
          );
        }
      }
    });
  }

  function armWritebacks(): void {
    const runWritebacks = options.runWritebacks;
    if (!runWritebacks) return;
    writebackTimer = clock.setTimeout(() => {
      if (!active()) return;
      if (!writebackRunning) {
        writebackRunning = runWritebacks(abort.signal)
          .then(() => undefined)
          .catch((error: unknown) =>
            log.warn(
              { code: failureOf(error).code, event: 'writeback.worker_failed' },
              'writeback pick-up failed',
            ),
          )
          .finally(() => (writebackRunning = undefined));
      }
      armWritebacks();
    }, options.writebackIntervalMs ?? 1000);
  }

  /** Arms the store's nightly prune, waking at least hourly to re-check the clock. */
  function armMaintenance(from: Date): void {
    if (!maintenance || !maintenanceSchedule) return;
    const at = maintenanceSchedule.next(from);
    nextStorePruneAt = at;
    const wake = () => {
      if (!active()) return;
      const delay = at.getTime() - clock.now().getTime();
      if (delay > 0) {
        maintenanceTimer = clock.setTimeout(wake, Math.min(delay, MAX_SLEEP_MS));
        return;
      }
      armMaintenance(new Date(Math.max(at.getTime(), clock.now().getTime())));
      if (maintenanceRunning) return;
      maintenanceRunning = maintenance
        .run(abort.signal)
        .then(() => undefined)
        .catch((error: unknown) => {
          const failure = failureOf(error);
          log.warn(
            { code: failure.code, event: 'store.prune_failed' },
            `the nightly store prune failed: ${failure.message}`,
          );
        })
        .finally(() => (maintenanceRunning = undefined));
    };
    wake();
  }

  /** Whether a nightly run was due while the agent was down (and the connection had been synced before it). */
  async function missedNightly(slot: Slot, now: Date): Promise<boolean> {
    const store = options.store;
    if (!store) return false;
    const due = slot.nightly.previous(now);
    if (!due) return false;
    const [reconciled] = await store.listRuns({
      connectionId: slot.connection.id,
      kind: 'reconcile',
      status: 'succeeded',
      limit: 1,
    });
    if (reconciled && Date.parse(reconciled.startedAt) >= due.getTime()) return false;
    const [before] = await store.listRuns({
      connectionId: slot.connection.id,
      status: 'succeeded',
      startedBefore: iso(due),
      limit: 1,
    });
    return before !== undefined;
  }

  async function prepare(slot: Slot, now: Date): Promise<{ poll: boolean; nightly: boolean }> {
    let poll = false;
    for (const stream of slot.streams) {
      const stored = await options.store?.getStreamState(slot.connection.id, stream);
      const health = slot.health.get(stream)!;
      if (stored?.lastPollFinishedAt) health.lastSuccessAt = stored.lastPollFinishedAt;
      const finished = stored?.lastPollFinishedAt ? Date.parse(stored.lastPollFinishedAt) : undefined;
      if (finished === undefined || now.getTime() - finished > slot.poll.intervalSeconds * 1000) poll = true;
    }
    return { poll, nightly: await missedNightly(slot, now) };
  }

  const scheduler: Scheduler = {
    async start() {
      warnings ??= trackMappingWarnings(log, new Set(options.connections.map((c) => c.id)));
      if (state !== 'created')
        throw new TendrilError('TENDRIL_E_INTERNAL', 'the scheduler was already started; create a new one');
      const now = clock.now();
      startedAt = now;
      const plans = new Map<string, { poll: boolean; nightly: boolean }>();
      for (const slot of slots.values()) plans.set(slot.connection.id, await prepare(slot, now));
      state = 'running';
      for (const slot of slots.values()) {
        const plan = plans.get(slot.connection.id)!;
        armPoll(slot, now);
        armNightly(slot, now);
        log.info(
          {
            connectionId: slot.connection.id,
            offsetSeconds: slot.poll.offsetSeconds,
            nextPollAt: slot.nextPollAt && iso(slot.nextPollAt),
            nextNightlyAt: slot.nextNightlyAt && iso(slot.nextNightlyAt),
            catchUpPoll: plan.poll,
            catchUpNightly: plan.nightly,
          },
          'connection scheduled',
        );
        // Catch-up runs once, never one per missed tick; the nightly then waits for each stream's lease.
        if (plan.poll) void pollJob(slot, 'catch-up');
        if (plan.nightly) void nightlyJob(slot);
      }
      armHealth();
      armWritebacks();
      armMaintenance(now);
    },

    async stop(stopOptions = {}) {
      if (state === 'stopped' || state === 'stopping') return { abandoned: 0 };
      state = 'stopping';
      warnings?.stop();
      for (const slot of slots.values()) {
        for (const handle of slot.timers.values()) clock.clearTimeout(handle);
        slot.timers.clear();
      }
      if (healthTimer !== undefined) clock.clearTimeout(healthTimer);
      if (writebackTimer !== undefined) clock.clearTimeout(writebackTimer);
      if (maintenanceTimer !== undefined) clock.clearTimeout(maintenanceTimer);
      abort.abort();
      const running = [...slots.values()].flatMap((slot) => [...slot.running.values()]);
      if (writebackRunning) running.push(writebackRunning);
      if (maintenanceRunning) running.push(maintenanceRunning);
      let abandoned = 0;
      if (running.length > 0) {
        let timer: unknown;
        const settled = await Promise.race([
          Promise.allSettled(running).then(() => true),
          new Promise<false>(
            (resolve) => (timer = clock.setTimeout(() => resolve(false), stopOptions.graceMs ?? 30_000)),
          ),
        ]);
        clock.clearTimeout(timer);
        if (!settled) abandoned = [...slots.values()].reduce((n, slot) => n + slot.running.size, 0);
      }
      state = 'stopped';
      log.info(
        { abandoned, event: 'scheduler.stopped' },
        abandoned > 0
          ? 'scheduler stopped; jobs still running were abandoned (their uncommitted page is redone at the next start)'
          : 'scheduler stopped',
      );
      return { abandoned };
    },

    snapshot() {
      return {
        state,
        ...(startedAt ? { startedAt: iso(startedAt) } : {}),
        readStaleMinutes,
        writebackWorker: options.runWritebacks ? 'running' : 'not-yet',
        ...(nextStorePruneAt ? { nextStorePruneAt: iso(nextStorePruneAt) } : {}),
        connections: [...slots.values()].map((slot) => ({
          id: slot.connection.id,
          connector: slot.connector.id,
          timezone: slot.connection.timezone,
          pollExpression: slot.poll.expression,
          pollIntervalSeconds: slot.poll.intervalSeconds,
          offsetSeconds: slot.poll.offsetSeconds,
          nightlyTime: slot.nightly.time,
          ...(slot.nextPollAt ? { nextPollAt: iso(slot.nextPollAt) } : {}),
          ...(slot.nextNightlyAt ? { nextNightlyAt: iso(slot.nextNightlyAt) } : {}),
          ...(slot.nextRetryAt ? { nextRetryAt: iso(slot.nextRetryAt) } : {}),
          running: [...slot.running.keys()],
          ...(slot.lastNightlyAt ? { lastNightlyAt: slot.lastNightlyAt } : {}),
          scripts: slot.connection.nightlyScripts.map((s) => ({
            name: s.name,
            element: s.element,
            ...slot.scripts.get(s.name),
          })),
          skippedTicks: slot.skippedTicks,
          streams: [...slot.health.values()].map((h) => structuredClone(h)),
        })),
      };
    },

    pollNow(connectionId) {
      return pollJob(slotOf(connectionId), 'manual');
    },

    nightlyNow(connectionId) {
      return nightlyJob(slotOf(connectionId));
    },

    async idle() {
      for (;;) {
        const running = [...slots.values()].flatMap((slot) => [...slot.running.values()]);
        if (running.length === 0) return;
        await Promise.allSettled(running);
      }
    },
  };

  function slotOf(connectionId: string): Slot {
    const slot = slots.get(connectionId);
    if (!slot)
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `no connection ${connectionId} is scheduled; configured: ${[...slots.keys()].join(', ')}`,
      );
    return slot;
  }

  return scheduler;
}
