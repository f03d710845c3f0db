import { hostname } from 'node:os';
import {
  connectorForSite,
  DEFAULT_FLEET_CONFIG,
  TendrilError,
  type ConnectionConfig,
  type ConnectorDefinition,
} from '@tendril/core';
import {
  createFleetWorker,
  deliverNightlyScript,
  reconcileStream,
  streamsOf,
  syncConnection,
  type FleetJobOutcome,
  type FleetWorker,
  type Logger as EngineLogger,
} from '@tendril/scheduler';
import { openSqlClient, type SqlClient } from '@tendril/sql';
import { openFleetStore, type FleetConnectionRow, type FleetStore } from '@tendril/store';
import type { Cradle } from '../container.js';
import { dispatcherFor } from '../delivery/dispatcher-factory.js';
import { resolveFleetConnection } from './fleet-connection-config.js';

/** A fleet connection as this worker can run it. */
export interface FleetEntry {
  readonly version: number;
  readonly connection: ConnectionConfig;
  readonly connector: ConnectorDefinition;
}

export interface FleetRuntimeOptions {
  /** The `${secret:…}` file beside the worker's config (secrets.enc), if any. */
  readonly secretsFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Defaults to `<host>/<pid>`. */
  readonly workerId?: string;
}

export interface FleetRuntime {
  readonly workerId: string;
  start(): Promise<void>;
  stop(options?: { graceMs?: number }): Promise<void>;
}

function storeUrl(cradle: Pick<Cradle, 'config'>): string {
  const store = cradle.config.store;
  if (!('postgres' in store)) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'a fleet worker needs store: { postgres: <url> } (docs/fleet.md)',
    );
  }
  return store.postgres;
}

/**
 * A fleet worker (`tendril run --worker`, docs/fleet.md): the fleet's connections, re-read from the
 * store every `fleet.reloadSeconds` (added, changed and removed without a restart); the pg-boss
 * poll and nightly jobs, run through the same engine calls as `tendril sync` and `tendril run`
 * (`syncConnection`, `reconcileStream`, `deliverNightlyScript`); and the webhook dispatcher, which
 * shares deliveries with every other worker through the store's leases (per-resource order and
 * at-least-once hold across workers; nothing is re-implemented as jobs).
 */
export function createFleetRuntime(cradle: Cradle, options: FleetRuntimeOptions = {}): FleetRuntime {
  const { config, connectors, store, logger } = cradle;
  const fleet = config.fleet ?? DEFAULT_FLEET_CONFIG;
  const url = storeUrl(cradle);
  const env = options.env ?? process.env;
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  const engineLogger = (logger as unknown as EngineLogger).child({ workerId });
  const log = logger.child({ component: 'fleet', workerId });
  // One lock connection per running job, plus the tick's claim and the run records.
  const fleetStore: FleetStore = openFleetStore(url, { poolSize: fleet.concurrency + 4 });

  const entries = new Map<string, FleetEntry>();
  const failures = new Map<string, { version: number; error: TendrilError }>();
  let reloading: Promise<void> | undefined;
  let reloadTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  /** Brings this worker's copy of one stored row up to date (resolving references on this worker). */
  async function refresh(row: FleetConnectionRow): Promise<void> {
    const known = entries.get(row.id)?.version ?? failures.get(row.id)?.version;
    if (known === row.version) return;
    const resolved = await resolveFleetConnection(row.config, env, options.secretsFile);
    if (!resolved.ok) {
      const error = new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `fleet connection ${row.id} cannot run on this worker:\n${resolved.problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`,
        { details: { problems: resolved.problems } },
      );
      entries.delete(row.id);
      failures.set(row.id, { version: row.version, error });
      log.warn(
        { event: 'fleet.connection_invalid', connectionId: row.id, version: row.version },
        error.message,
      );
      return;
    }
    const connector = connectors.get(resolved.connection.connector);
    if (!connector) return; // validated above: the catalog has it
    failures.delete(row.id);
    log.info(
      {
        event: known === undefined ? 'fleet.connection_added' : 'fleet.connection_changed',
        connectionId: row.id,
        version: row.version,
      },
      known === undefined
        ? 'fleet connection loaded'
        : 'fleet connection changed; the new settings apply from the next job',
    );
    entries.set(row.id, { version: row.version, connection: resolved.connection, connector });
  }

  function forget(id: string): void {
    if (entries.delete(id))
      log.info({ event: 'fleet.connection_removed', connectionId: id }, 'fleet connection removed');
    failures.delete(id);
  }

  async function reloadNow(): Promise<void> {
    const rows = await fleetStore.listConnections();
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      await refresh(row);
    }
    for (const id of [...entries.keys(), ...failures.keys()]) if (!seen.has(id)) forget(id);
  }

  function reload(): Promise<void> {
    reloading ??= reloadNow().finally(() => (reloading = undefined));
    return reloading;
  }

  function armReload(): void {
    if (stopped) return;
    reloadTimer = setTimeout(() => {
      reload()
        .catch((error: unknown) =>
          log.warn(
            { event: 'fleet.reload_failed', code: (error as { code?: string }).code },
            'could not re-read the fleet; retrying',
          ),
        )
        .finally(armReload);
    }, fleet.reloadSeconds * 1000);
  }

  // Every job reads its connection's row first (under the connection lock): a removal or a change
  // made with `tendril connections` applies to the very next job, whatever the reload interval.
  async function resolve(connectionId: string): Promise<FleetEntry | undefined> {
    const row = await fleetStore.getConnection(connectionId);
    if (!row) {
      forget(connectionId);
      return undefined;
    }
    await refresh(row);
    const failure = failures.get(connectionId);
    if (failure) throw failure.error;
    return entries.get(connectionId);
  }

  // Opened per job and closed after it: a worker touches hundreds of practices' databases, and
  // idle pools to all of them would exhaust the database servers' connection limits.
  async function withSql<T>(entry: FleetEntry, work: (sql: SqlClient) => Promise<T>): Promise<T> {
    const sql = openSqlClient(entry.connection.database, {
      logger: logger.child({ connectionId: entry.connection.id }),
      pool: { min: 0, max: 2 },
    });
    try {
      return await work(sql);
    } finally {
      await sql.close().catch(() => undefined);
    }
  }

  const runPoll = (entry: FleetEntry): Promise<FleetJobOutcome> =>
    withSql(entry, async (sql) => {
      const { result, errors } = await syncConnection(
        { sql, store, logger: engineLogger },
        { connection: entry.connection, connector: entry.connector },
      );
      for (const { stream, error } of errors) {
        const code = (error as { code?: string }).code ?? 'TENDRIL_E_INTERNAL';
        log.warn(
          { event: 'stream.poll_failed', connectionId: entry.connection.id, stream, code },
          'stream poll failed; the next tick retries it',
        );
      }
      return {
        events: result.streams.reduce((n, s) => n + s.created + s.updated + s.deleted, 0),
        failedStreams: errors.length,
        ...(errors[0]
          ? { errorCode: (errors[0].error as { code?: string }).code ?? 'TENDRIL_E_INTERNAL' }
          : {}),
      };
    });

  const runNightly = (entry: FleetEntry, signal: AbortSignal): Promise<FleetJobOutcome> =>
    withSql(entry, async (sql) => {
      const deps = { sql, store, logger: engineLogger.child({ connectionId: entry.connection.id }) };
      const connector = connectorForSite(entry.connector, entry.connection.tableMap);
      let events = 0;
      let failed = 0;
      let errorCode: string | undefined;
      for (const stream of streamsOf(entry.connection, entry.connector)) {
        if (signal.aborted) break;
        if ((await store.getStreamState(entry.connection.id, stream))?.paused) continue;
        try {
          const r = await reconcileStream(deps, { connection: entry.connection, connector, stream });
          events += r.created + r.updated + r.deleted;
        } catch (error) {
          failed += 1;
          errorCode ??= (error as { code?: string }).code ?? 'TENDRIL_E_INTERNAL';
          log.warn(
            { event: 'reconcile.failed', connectionId: entry.connection.id, stream, code: errorCode },
            'nightly reconciliation failed',
          );
        }
      }
      for (const script of entry.connection.nightlyScripts) {
        if (signal.aborted) break;
        try {
          await deliverNightlyScript(deps, {
            connection: entry.connection,
            connectorId: entry.connection.connector,
            script,
          });
        } catch (error) {
          failed += 1;
          errorCode ??= (error as { code?: string }).code ?? 'TENDRIL_E_INTERNAL';
          log.warn(
            {
              event: 'nightly_script.failed',
              connectionId: entry.connection.id,
              script: script.name,
              code: errorCode,
            },
            'nightly script failed',
          );
        }
      }
      return { events, failedStreams: failed, ...(errorCode ? { errorCode } : {}) };
    });

  const worker: FleetWorker = createFleetWorker<FleetEntry>({
    url,
    fleetStore,
    workerId,
    bossSchema: fleet.bossSchema,
    concurrency: fleet.concurrency,
    tickSeconds: fleet.tickSeconds,
    leaseSeconds: fleet.leaseSeconds,
    maintenanceSeconds: fleet.maintenanceSeconds,
    logger: engineLogger,
    resolve,
    runPoll: (entry) => runPoll(entry),
    runNightly,
  });

  // Every worker runs the dispatcher: deliveries are leased with SKIP LOCKED in the store, per-resource order holds across workers.
  const { dispatcher } = dispatcherFor(cradle, {
    clientIdOf: (connectionId) => {
      const connection = entries.get(connectionId)?.connection;
      return connection?.clientId ?? connectionId;
    },
  });

  return {
    workerId,
    async start() {
      await store.migrate();
      await reload();
      armReload();
      await worker.start();
      dispatcher.start();
      log.info({ event: 'fleet.started', connections: entries.size }, 'fleet worker running');
    },
    async stop(stopOptions = {}) {
      if (stopped) return;
      stopped = true;
      if (reloadTimer) clearTimeout(reloadTimer);
      await worker.stop(stopOptions);
      await dispatcher.stop({ graceMs: Math.min(stopOptions.graceMs ?? 10_000, 10_000) });
      await reloading?.catch(() => undefined);
      await fleetStore.close();
    },
  };
}
