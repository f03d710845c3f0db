import { isTendrilError, TendrilError, uuidV5 } from '@tendril/core';
import type {
  FleetDueDecision,
  FleetDueRow,
  FleetRunKind,
  FleetStore,
  FleetTransaction,
} from '@tendril/store';
import type PgBoss from 'pg-boss';
import { nightlySchedule, pollSchedule } from './cron-schedule.js';
import type { Logger } from './logger.js';
import { FLEET_QUEUES, startFleetBoss, type FleetJobData } from './pgboss-queues.js';

/** What a fleet job ran: events written and streams that failed (recorded; the next tick retries them). */
export interface FleetJobOutcome {
  readonly events: number;
  readonly failedStreams: number;
  readonly errorCode?: string;
}

export interface FleetWorkerOptions<C> {
  /** The store's PostgreSQL URL (pg-boss shares its database). */
  readonly url: string;
  readonly fleetStore: FleetStore;
  /** Written into every run record (`fleet_runs.worker_id`): host and process. */
  readonly workerId: string;
  readonly bossSchema: string;
  readonly concurrency: number;
  readonly tickSeconds: number;
  readonly leaseSeconds: number;
  readonly maintenanceSeconds: number;
  /** How often a worker's idle job loops ask pg-boss for work. */
  readonly pollingIntervalSeconds?: number;
  readonly logger: Logger;
  /**
   * This worker's view of a connection, at least at `version` (reload first if older). Undefined:
   * removed from the fleet (the job is then dropped), or not usable here (the error is thrown).
   */
  readonly resolve: (connectionId: string, version: number) => Promise<C | undefined>;
  readonly runPoll: (connection: C, signal: AbortSignal) => Promise<FleetJobOutcome>;
  readonly runNightly: (connection: C, signal: AbortSignal) => Promise<FleetJobOutcome>;
}

export interface FleetWorker {
  start(): Promise<void>;
  /** Stops taking jobs, lets running ones finish for `graceMs`, then hands the rest back to the queue. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Jobs running in this worker now. */
  running(): number;
  /** One enqueue pass now (tests and `connections poll` use the tick loop; this is for callers that cannot wait). */
  tick(): Promise<{ polls: number; nightlies: number; skipped: number }>;
}

/** Namespace of fleet job ids (a fixed random UUID). */
const FLEET_JOB_NAMESPACE = '0e6c2f0c-7a51-4d8e-9a43-5d1f7b0b9c2e';
/** pg-boss job states in which a job still counts as the connection's outstanding one. */
const OUTSTANDING_STATES: ReadonlySet<string> = new Set(['created', 'retry', 'active']);

/**
 * The id of a connection's job in a queue. Fixed, so "is this connection's previous job still
 * queued, retrying or running?" is one lookup by id through pg-boss's public `getJobById`; a
 * finished job is deleted (`deleteJob`) before the next is sent with the same id.
 */
export function fleetJobId(queue: string, connectionId: string): string {
  return uuidV5(`${queue}\u0000${connectionId}`, FLEET_JOB_NAMESPACE);
}

const DEFAULT_POLL = '*/10 * * * *';
const DEFAULT_NIGHTLY = '02:00';

function rawSchedule(config: Record<string, unknown>): { poll: string; nightly: string; timezone: string } {
  const schedule = (config['schedule'] ?? {}) as { poll?: unknown; nightly?: unknown };
  return {
    poll: typeof schedule.poll === 'string' ? schedule.poll : DEFAULT_POLL,
    nightly: typeof schedule.nightly === 'string' ? schedule.nightly : DEFAULT_NIGHTLY,
    timezone: typeof config['timezone'] === 'string' ? config['timezone'] : 'UTC',
  };
}

function codeOf(error: unknown): string {
  return isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
}

/**
 * One fleet worker (`tendril run --worker`, docs/fleet.md): polls and nightly jobs of the fleet's
 * connections are pg-boss jobs in the store's database, which any number of workers take with
 * `FOR UPDATE SKIP LOCKED`.
 *
 * - **Enqueue**: every `tickSeconds`, each worker claims the connections that are due
 *   (`fleet_connections`, `SKIP LOCKED`) and, in the same transaction, enqueues their jobs and
 *   stores the next due time (the same stable-offset cron and DST-safe nightly rules as the
 *   single-host scheduler). A connection whose previous job is still queued or running gets no
 *   second one: the tick is skipped and counted, never queued behind it.
 * - **No overlap**: a job runs only while holding its connection's PostgreSQL advisory lock, so
 *   one connection is never polled (or reconciled) by two workers at once, even when a live
 *   worker's job outlives its lease. A job that finds the lock taken ends at once.
 * - **Nothing lost**: a job has a lease (`leaseSeconds`, pg-boss `expireIn`). A worker killed
 *   mid-poll loses its lock with its connection; after the lease pg-boss hands the job to another
 *   worker, which resumes from the last committed page (every page commits with its cursor, so
 *   the events of a redone page keep their ids).
 */
export function createFleetWorker<C>(options: FleetWorkerOptions<C>): FleetWorker {
  const log = options.logger.child({ component: 'fleet', workerId: options.workerId });
  const abort = new AbortController();
  let boss: PgBoss | undefined;
  let tickTimer: ReturnType<typeof setTimeout> | undefined;
  let ticking: Promise<unknown> | undefined;
  let stopped = false;
  let active = 0;
  const loops: Promise<void>[] = [];
  const current = new Set<string>();
  const wakers = new Set<() => void>();

  const jobOptions = {
    expireInSeconds: options.leaseSeconds,
    retryLimit: 10,
    retryDelay: 5,
    retryBackoff: true,
  } as const;

  async function enqueue(kind: FleetRunKind): Promise<{ enqueued: number; skipped: number }> {
    const queue = kind === 'poll' ? FLEET_QUEUES.poll : FLEET_QUEUES.nightly;
    let enqueued = 0;
    let skipped = 0;
    for (;;) {
      const result = await options.fleetStore.claimDue(kind, 200, async (rows, tx, now) =>
        decide(kind, queue, rows, tx, now),
      );
      enqueued += result.enqueued;
      skipped += result.skipped;
      if (result.claimed < 200) return { enqueued, skipped };
    }
  }

  async function decide(
    kind: FleetRunKind,
    queue: string,
    rows: readonly FleetDueRow[],
    tx: FleetTransaction,
    now: Date,
  ): Promise<Map<string, FleetDueDecision>> {
    const decisions = new Map<string, FleetDueDecision>();
    // pg-boss runs its statements in the claim transaction, so the jobs commit with the due times.
    const db = { executeSql: (text: string, values: unknown[]) => tx.executeSql(text, values) };
    for (const row of rows) {
      const schedule = rawSchedule(row.config);
      let next: Date;
      try {
        next =
          kind === 'poll'
            ? pollSchedule(row.id, schedule.poll, `${row.id}.schedule.poll`).next(now)
            : nightlySchedule(schedule.nightly, schedule.timezone, `${row.id}.schedule.nightly`).next(now);
      } catch (error) {
        // Validated when added; a bad schedule here still must not stall the fleet: retry in 10 minutes.
        log.warn(
          { connectionId: row.id, code: codeOf(error), event: 'fleet.schedule_invalid' },
          'cannot plan this connection; check its schedule',
        );
        decisions.set(row.id, { next: new Date(now.getTime() + 600_000) });
        continue;
      }
      // A nightly job never planned (new or changed connection) is only planned now.
      if (kind === 'nightly' && row.dueAt === undefined) {
        decisions.set(row.id, { next });
        continue;
      }
      // One outstanding job per connection: its previous job (same id) created, retrying or active.
      const id = fleetJobId(queue, row.id);
      const previous = await boss!.getJobById(queue, id, { db, includeArchive: false });
      if (previous && OUTSTANDING_STATES.has(previous.state)) {
        decisions.set(row.id, { next, skipped: true });
        log.info(
          { connectionId: row.id, job: kind, event: 'scheduler.tick_skipped' },
          'previous job still queued or running; this tick is skipped',
        );
        continue;
      }
      if (previous) await boss!.deleteJob(queue, id, { db });
      const data: FleetJobData = {
        connectionId: row.id,
        version: row.version,
        ...(row.dueAt ? { dueAt: row.dueAt } : {}),
      };
      await boss!.send(queue, data, { ...jobOptions, id, singletonKey: row.id, db });
      decisions.set(row.id, { next });
    }
    return decisions;
  }

  async function tick(): Promise<{ polls: number; nightlies: number; skipped: number }> {
    const polls = await enqueue('poll');
    const nightlies = await enqueue('nightly');
    return {
      polls: polls.enqueued,
      nightlies: nightlies.enqueued,
      skipped: polls.skipped + nightlies.skipped,
    };
  }

  function armTick(): void {
    if (stopped) return;
    tickTimer = setTimeout(() => {
      ticking = tick()
        .catch((error: unknown) =>
          log.warn(
            { code: codeOf(error), event: 'fleet.tick_failed' },
            'enqueue pass failed; retrying at the next tick',
          ),
        )
        .finally(() => {
          ticking = undefined;
          armTick();
        });
    }, options.tickSeconds * 1000);
  }

  /**
   * One job slot: fetch a job (pg-boss: `FOR UPDATE SKIP LOCKED`), run it, complete or fail it, and
   * fetch again at once; sleep only when the queue is empty. (pg-boss's own `work()` waits its
   * polling interval after every job, which caps a slot at one job per interval.)
   */
  async function jobLoop(kind: FleetRunKind): Promise<void> {
    const queue = kind === 'poll' ? FLEET_QUEUES.poll : FLEET_QUEUES.nightly;
    const idleMs = (options.pollingIntervalSeconds ?? 1) * 1000;
    while (!stopped) {
      let job: PgBoss.Job<FleetJobData> | undefined;
      try {
        job = (await boss!.fetch<FleetJobData>(queue, { batchSize: 1 }))?.[0];
      } catch (error) {
        if (stopped) break;
        log.warn({ event: 'fleet.fetch_failed', code: codeOf(error) }, 'could not fetch a job; retrying');
      }
      if (!job) {
        await idle(idleMs);
        continue;
      }
      current.add(job.id);
      try {
        const output = await runJob(kind, job);
        await boss!.complete(queue, job.id, output ?? {});
      } catch (error) {
        log.warn(
          { event: 'fleet.job_failed', connectionId: job.data.connectionId, job: kind, code: codeOf(error) },
          'job failed; pg-boss retries it',
        );
        await boss!.fail(queue, job.id, { code: codeOf(error) }).catch(() => undefined);
      } finally {
        current.delete(job.id);
      }
    }
  }

  function idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wakers.delete(wake);
        resolve();
      }, ms);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      wakers.add(wake);
    });
  }

  async function runJob(kind: FleetRunKind, job: PgBoss.Job<FleetJobData>): Promise<unknown> {
    const { connectionId, version } = job.data;
    const lock = await options.fleetStore.tryLock(connectionId);
    if (!lock) {
      log.info(
        { connectionId, job: kind, event: 'fleet.job_locked' },
        'another worker is running this connection; job dropped',
      );
      return { skipped: 'locked' };
    }
    active += 1;
    try {
      const connection = await options.resolve(connectionId, version);
      if (connection === undefined) {
        log.info(
          { connectionId, job: kind, event: 'fleet.connection_removed' },
          'connection is no longer in the fleet; job dropped',
        );
        return { skipped: 'removed' };
      }
      const runId = await options.fleetStore.startRun({
        connectionId,
        kind,
        workerId: options.workerId,
        jobId: job.id,
      });
      try {
        const outcome = await (kind === 'poll' ? options.runPoll : options.runNightly)(
          connection,
          abort.signal,
        );
        await options.fleetStore.finishRun(runId, {
          status: outcome.failedStreams > 0 ? 'failed' : 'succeeded',
          events: outcome.events,
          ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
        });
        return { events: outcome.events, failedStreams: outcome.failedStreams };
      } catch (error) {
        await options.fleetStore
          .finishRun(runId, { status: 'failed', errorCode: codeOf(error) })
          .catch(() => undefined);
        throw error;
      }
    } finally {
      active -= 1;
      await lock.release();
    }
  }

  return {
    async start() {
      // One worker at a time installs or upgrades pg-boss's schema and creates the queues.
      boss = await options.fleetStore.exclusive('pg-boss-start', () =>
        startFleetBoss({
          url: options.url,
          schema: options.bossSchema,
          maintenanceSeconds: options.maintenanceSeconds,
          logger: log,
        }),
      );
      for (let i = 0; i < options.concurrency; i++) loops.push(jobLoop('poll'));
      loops.push(jobLoop('nightly'));
      await tick();
      armTick();
      log.info({ event: 'fleet.worker_started', concurrency: options.concurrency }, 'fleet worker running');
    },

    async stop(stopOptions = {}) {
      if (stopped) return;
      stopped = true;
      if (tickTimer) clearTimeout(tickTimer);
      await ticking;
      abort.abort();
      for (const wake of wakers) wake();
      // Running jobs get the grace period; what is still running then goes back to the queue
      // (failed → retried by another worker; its committed pages are kept).
      const graceMs = stopOptions.graceMs ?? 30_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await Promise.race([
        Promise.allSettled(loops).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!finished && current.size > 0) {
        await boss?.fail(FLEET_QUEUES.poll, [...current])?.catch(() => undefined);
        await boss?.fail(FLEET_QUEUES.nightly, [...current])?.catch(() => undefined);
      }
      await boss?.stop({ graceful: false, wait: true, timeout: 1000 });
      log.info({ event: 'fleet.worker_stopped' }, 'fleet worker stopped');
    },

    running: () => active,

    async tick() {
      if (!boss)
        throw new TendrilError('TENDRIL_E_INTERNAL', 'the fleet worker is not started; call start() first');
      return tick();
    },
  };
}
