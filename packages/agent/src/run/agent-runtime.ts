import {
  createAgentMetrics,
  createApiServer,
  type AgentMetrics,
  type ApiServer,
  type StatusSnapshot,
  type WritebackApiOptions,
} from '@tendril/api';
import { connectorForSite, TendrilError, type ConnectorDefinition } from '@tendril/core';
import {
  createMapPool,
  createScheduler,
  DEFAULT_MAP_THREADS,
  reconcileStream,
  deliverNightlyScript,
  syncStream,
  type BackoffPolicy,
  type HealthEvent,
  type Logger as EngineLogger,
  type Scheduler,
  type SchedulerClock,
  type StreamJob,
} from '@tendril/scheduler';
import type { Store } from '@tendril/store';
import type { Logger } from 'pino';
import type { AgentServices } from '../agent-services.js';
import { dispatcherFor } from '../delivery/dispatcher-factory.js';
import { CONNECTOR_REGISTRY_MODULE } from '../registry.js';
import { writebackFor } from '../writeback/writeback-factory.js';
import { buildStatusSnapshot, configuredStreamVerification } from './status-snapshot.js';
import { pruneStore } from './store-prune.js';
import { instrumentedStore, pageTimer } from './instruments.js';
import { createRestartEndpoint } from '../supervisor/restart-endpoint.js';
import { lastUpgradeOf } from '../upgrade/upgrade-state.js';
import { agentVersion } from '../version.js';

/** Tuning for tests; production uses the defaults. */
export interface AgentRuntimeOptions {
  readonly clock?: SchedulerClock;
  readonly backoff?: BackoffPolicy;
  readonly healthCheckMs?: number;
  /** Overrides `api.port` (0 = any free port). */
  readonly apiPort?: number;
  readonly onHealthEvent?: (event: HealthEvent) => void;
  /** The metrics to observe into; default a fresh set (tests read them back). */
  readonly metrics?: AgentMetrics;
  /**
   * False: no TENDRIL_W_STORE_PLAINTEXT warning at start, for `tendril demo`, which says so in its
   * own output (docs/security.md, "PHI at rest"). Default true.
   */
  readonly plaintextStoreWarning?: boolean;
}

/** The long-running agent: scheduler + webhook dispatcher + local API. */
export interface AgentRuntime {
  readonly scheduler: Scheduler;
  /** Starts the API, then the scheduler (catch-up runs begin). Resolves with the API's base URL. */
  start(): Promise<{ url: string }>;
  /**
   * Graceful stop: the API reports `stopping`, running jobs finish their current page (each page
   * commits atomically; a run cut short resumes at the next start), then the API closes.
   */
  stop(options?: { graceMs?: number }): Promise<{ abandoned: number }>;
  status(): Promise<StatusSnapshot>;
  /** The writeback intake (the API's and the hub link's). */
  readonly writeback: WritebackApiOptions;
  readonly version: string;
  /** What `/metrics` renders: process defaults, histograms of pages, deliveries and writebacks. */
  readonly metrics: AgentMetrics;
}

function shutdownError(job: StreamJob): TendrilError {
  return new TendrilError(
    'TENDRIL_E_SHUTDOWN',
    `stream ${job.stream} of ${job.connection.id}: the agent is stopping; the run resumes from its last committed page at the next start`,
    {
      details: { connectionId: job.connection.id, stream: job.stream },
    },
  );
}

/**
 * Wires the scheduler's jobs to the engine (polls, nightly reconciliation, nightly scripts) and
 * the API to the status snapshot. Called by the composition root; everything it needs comes from
 * the cradle, so tests build it from a real container.
 */
export function createAgentRuntime(cradle: AgentServices, options: AgentRuntimeOptions = {}): AgentRuntime {
  const { config, connectors, sqlClients, logger } = cradle;
  const metrics = options.metrics ?? createAgentMetrics();
  // The workers' view of the store: webhook attempts and finished writebacks feed the histograms.
  const store = instrumentedStore(cradle.store, metrics);
  const engineLogger = logger as unknown as EngineLogger;
  const startedAt = new Date();
  let state: StatusSnapshot['agent']['state'] = 'starting';
  const version = agentVersion();

  // Backload pages mapped in worker threads while the engine commits (docs/sync.md, "The map pool").
  const mapThreads = config.mapThreads ?? DEFAULT_MAP_THREADS;
  const mapPool =
    mapThreads > 0
      ? createMapPool({ connectorModule: CONNECTOR_REGISTRY_MODULE, threads: mapThreads })
      : undefined;
  const deps = (job: StreamJob) => ({
    sql: sqlClients.get(job.connection),
    store,
    logger: engineLogger.child({ connectionId: job.connection.id }),
    ...(mapPool ? { mapPool } : {}),
  });
  // This site's table names (connections[].tableMap), as `tendril sync` uses them.
  const siteConnectors = new Map<string, ConnectorDefinition>();
  const siteConnector = (job: StreamJob) => {
    let connector = siteConnectors.get(job.connection.id);
    if (!connector) {
      connector = connectorForSite(job.connector, job.connection.tableMap);
      siteConnectors.set(job.connection.id, connector);
    }
    return connector;
  };
  // A stream `tendril discover` paused (schema drift) is not read; it counts as failing, so it is
  // re-checked with backoff and shows on the status page until a discover resumes it.
  const readable = async (job: StreamJob) => {
    const pause = (await store.getStreamState(job.connection.id, job.stream))?.paused;
    if (pause) {
      throw new TendrilError(
        'TENDRIL_E_STREAM_PAUSED',
        `stream ${job.stream}: paused by tendril discover (${pause.reason}); fix the schema or the tableMap, then run tendril discover`,
        {
          details: { connectionId: job.connection.id, stream: job.stream },
        },
      );
    }
    const observePage = pageTimer(metrics, { connection: job.connection.id, stream: job.stream });
    return {
      connection: job.connection,
      connector: siteConnector(job),
      stream: job.stream,
      afterPageCommit: () => {
        observePage();
        stopAfterPage(job);
      },
    };
  };
  // Stop between pages at shutdown: the page just committed is kept, the next one is not read.
  const stopAfterPage = (job: StreamJob) => {
    if (job.signal.aborted) throw shutdownError(job);
  };

  // Writeback (docs/writeback.md): the worker drains the queue; the API wakes it on each accepted command.
  // Named, not spread: spreading the container's cradle would resolve every registration, this one included.
  const writeback = writebackFor({
    config,
    store,
    logger,
    connectors,
    sqlClients,
  });

  const scheduler = createScheduler({
    connections: config.connections,
    connectors,
    store,
    logger: engineLogger,
    readStaleMinutes: config.health.readStaleMinutes,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.healthCheckMs ? { healthCheckMs: options.healthCheckMs } : {}),
    ...(options.onHealthEvent ? { onHealthEvent: options.onHealthEvent } : {}),
    runPoll: async (job) => syncStream(deps(job), await readable(job)),
    runNightly: async (job) => reconcileStream(deps(job), await readable(job)),
    // The script's rows become custom element events in the outbox (one per row, deterministic
    // ids), routed to the matching subscriptions like any other event.
    runScript: async (job) =>
      deliverNightlyScript(
        {
          sql: sqlClients.get(job.connection),
          store,
          logger: engineLogger.child({ connectionId: job.connection.id }),
        },
        { connection: job.connection, connectorId: job.connection.connector, script: job.script },
      ),
    // The 1 s pick-up (never overlapping): commands left over, retried after a restart, or accepted
    // by another process. Accepted commands are also started at once through the API's kick.
    runWritebacks: (signal) => writeback.worker.drain(signal),
    // The nightly prune of the store (docs/store.md, "Retention and pruning").
    storeMaintenance: {
      at: config.retention.pruneAt,
      timezone: config.connections[0]?.timezone ?? 'UTC',
      run: () => pruneStore(store, config, logger),
    },
  });

  // Delivery drains the outbox on its own (docs/delivery.md): started with the API, stopped after the scheduler.
  const { dispatcher, subscriptions } = dispatcherFor({ config, store, logger });

  const status = () =>
    buildStatusSnapshot({
      store,
      scheduler: scheduler.snapshot(),
      agent: { version, pid: process.pid, startedAt, state, ...lastUpgradeOf(process.env) },
      subscriptions: subscriptions.map((sub) => ({ id: sub.id, enabled: sub.enabled })),
      streamVerification: configuredStreamVerification(config.connections, connectors),
      now: new Date(),
    });

  let api: ApiServer | undefined;
  let stopping: Promise<{ abandoned: number }> | undefined;

  return {
    scheduler,
    status,
    writeback: writeback.api,
    version,
    metrics,
    async start() {
      const restart = createRestartEndpoint(); // POST /v1/agent/restart, only when supervised and a site key is set
      api = createApiServer({
        host: config.api.host,
        port: options.apiPort ?? config.api.port,
        status,
        liveness: () => ({
          state,
          uptimeSeconds: Math.max(0, Math.round((Date.now() - startedAt.getTime()) / 1000)),
          version,
        }),
        metrics,
        logger,
        ...(restart ? { restart } : {}),
        writeback: writeback.api,
      });
      const url = await api.listen();
      await scheduler.start();
      dispatcher.start();
      state = 'running';
      logger.info({ event: 'agent.started', connections: config.connections.length, url }, 'agent running');
      await reportStoreProtection(store, logger, options.plaintextStoreWarning ?? true);
      return { url };
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        state = 'stopping';
        logger.info({ event: 'agent.stopping' }, 'stopping: finishing the current pages');
        const result = await scheduler.stop(stopOptions);
        // No page is mapped once the scheduler has stopped; the threads go with it.
        await mapPool?.close();
        // After the scheduler: no new events now; in-flight webhooks finish or are released, due again at the next start.
        await dispatcher.stop({ graceMs: Math.min(stopOptions.graceMs ?? 10_000, 10_000) });
        await api?.close();
        await writeback.close();
        logger.info({ event: 'agent.stopped', abandoned: result.abandoned }, 'agent stopped');
        return result;
      })();
      return stopping;
    },
  };
}

/**
 * Says once at start whether patient data is encrypted at rest (docs/security.md, "PHI at rest"):
 * a warning with its code without a site key, a note when a plain store was just sealed.
 */
async function reportStoreProtection(store: Store, logger: Logger, warnPlaintext: boolean): Promise<void> {
  const report = await store.payloadProtection();
  if (report.protection === 'plaintext') {
    if (!warnPlaintext) return;
    logger.warn(
      { event: 'store.plaintext', code: 'TENDRIL_W_STORE_PLAINTEXT' },
      'no site key: the agent store keeps patient data in plain text; set TENDRIL_SITE_KEY or TENDRIL_SITE_KEY_FILE (tendril init makes one) and it is encrypted at the next start',
    );
  } else if (report.converted > 0) {
    logger.info(
      { event: 'store.sealed', rows: report.converted },
      'the agent store was encrypted in place with the site key',
    );
  }
}
