import {
  canonicalJson,
  isTendrilError,
  mapRow,
  mappingContext,
  sourceIdComponents,
  writebackCapabilities,
  WRITEBACK_DISABLED,
  type ConnectionConfig,
  type ConnectorDefinition,
  type ResourceType,
  type VendorApi,
  type WritebackOutcome,
} from '@tendril/core';
import {
  classifyDbError,
  isWriteConflictRetryable,
  lookupByKeysQuery,
  runWriteTransaction,
  type SqlClient,
} from '@tendril/sql';
import type { Store, WritebackAuditEntry, WritebackError, WritebackRecord } from '@tendril/store';
import type { Logger } from './logger.js';
import { runDeclaredCommand, type DeclaredCommandInput } from './writeback-engine.js';
import { contentionKey, createTurns, type Turn } from './writeback-turns.js';

/** What the worker needs; the agent passes its pools, tests real databases. */
export interface WritebackWorkerOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly connections: readonly ConnectionConfig[];
  /** The connector of a connection, as polling uses it (with the site's tableMap applied). */
  readonly connectorFor: (connection: ConnectionConfig) => ConnectorDefinition;
  /** The read login (the polling client): read-back uses the same query and mapper as polling. */
  readonly readClient: (connection: ConnectionConfig) => SqlClient;
  /** The write login (`connections[].writeback.database`). */
  readonly writeClient: (connection: ConnectionConfig) => SqlClient;
  /** The vendor API client of a connection, for the `vendor-api` path. */
  readonly vendorApi?: (connection: ConnectionConfig) => VendorApi | undefined;
  /** Commands in flight at once (each in its own transaction); the next is claimed as one ends. Default 8. */
  readonly concurrency?: number;
  /**
   * Bookings of one connection and day take turns, in claim order ({@link contentionKey}). Default
   * true; false sends them side by side, as two agents or fleet workers would, leaving the EHR's
   * lock alone to keep the slot (the race tests use it to prove that lock).
   */
  readonly queueBookings?: boolean;
  /** Runs of a transaction the engine aborted for a lock conflict (deadlock). Default 8. */
  readonly conflictAttempts?: number;
  readonly now?: () => Date;
}

export interface WritebackWorker {
  /**
   * Runs queued commands until the queue is empty. Calls never overlap: a call while a drain runs
   * asks that drain for one more pass and waits for it. Resolves with the number of commands finished.
   */
  drain(signal?: AbortSignal): Promise<number>;
  /**
   * Starts a drain without waiting, or has the running one claim at once if it has a free slot
   * (the API calls this after accepting a command: near real time).
   */
  kick(): void;
  /**
   * Resolves true once this worker has finished the command `id` (its final state is in the store),
   * false after `timeoutMs` or when `signal` aborts. The API's `Prefer: wait` rests on it
   * (docs/writeback.md, "Waiting for the outcome"); a command another process finishes is not seen.
   */
  whenFinished(id: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
}

/** Thrown inside the write transaction to roll it back with a failed outcome. */
class Rollback extends Error {
  constructor(readonly outcome: Extract<WritebackOutcome, { ok: false }>) {
    super(outcome.code);
  }
}

/** Thrown before the first statement when the deadline has passed: nothing was sent. */
class DeadlinePassed extends Error {}

interface Finished {
  readonly status: 'written' | 'failed' | 'timed_out';
  readonly sourceId?: string;
  readonly resourceId?: string;
  readonly resource?: Record<string, unknown>;
  readonly matched?: boolean;
  readonly warnings?: string[];
  readonly error?: WritebackError;
  readonly compensated?: boolean;
}

const iso = (date: Date) => date.toISOString();

/** The driver's error code and number (`ER_LOCK_DEADLOCK`, 1213), never its message. */
function driverCode(error: unknown): Record<string, string | number> {
  const fields = (error ?? {}) as { code?: unknown; errno?: unknown; number?: unknown };
  return {
    ...(typeof fields.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(fields.code)
      ? { driverCode: fields.code }
      : {}),
    ...(typeof fields.errno === 'number'
      ? { errno: fields.errno }
      : typeof fields.number === 'number'
        ? { errno: fields.number }
        : {}),
  };
}

/** The worker that drains the writeback queue (docs/writeback.md, "Lifecycle and guarantees"). */
export function createWritebackWorker(options: WritebackWorkerOptions): WritebackWorker {
  const { store, logger } = options;
  const now = options.now ?? (() => new Date());
  const concurrency = options.concurrency ?? 8;
  const attempts = options.conflictAttempts ?? 8;
  const connections = new Map(options.connections.map((c) => [c.id, c]));
  const turns = createTurns();
  /** A drain loop is running (set and cleared synchronously, see {@link drain}); `running` is its promise. */
  let draining = false;
  let running: Promise<number> = Promise.resolve(0);
  let again = false;
  let recovered = false;
  /** Who waits for which command (whenFinished), told once `finish` has stored its final state. */
  const waiters = new Map<string, Set<(finished: boolean) => void>>();
  /** Wakes the drain loop (a command ended, or a drain was asked for); remembered if it is not waiting. */
  let wake: (() => void) | undefined;
  let woken = false;
  const nudge = () => {
    woken = true;
    wake?.();
  };
  const woke = () =>
    woken
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          wake = resolve;
        });

  async function finish(
    record: WritebackRecord,
    connector: string,
    result: Finished,
    audit: WritebackAuditEntry[] = [],
  ): Promise<void> {
    await store.writebacks.audit(audit);
    const saved = await store.writebacks.finish({
      id: record.id,
      status: result.status,
      finishedAt: iso(now()),
      connectorId: connector,
      ...(result.sourceId !== undefined ? { sourceId: result.sourceId } : {}),
      ...(result.resourceId !== undefined ? { resourceId: result.resourceId } : {}),
      ...(result.resource !== undefined ? { resource: result.resource } : {}),
      ...(result.matched !== undefined ? { matched: result.matched } : {}),
      ...(result.warnings !== undefined ? { warnings: result.warnings } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
      ...(result.compensated !== undefined ? { compensated: result.compensated } : {}),
    });
    for (const wake of waiters.get(record.id) ?? []) wake(true);
    const code =
      result.status === 'timed_out'
        ? 'TENDRIL_E_WRITEBACK_TIMED_OUT'
        : result.status === 'failed'
          ? result.error?.details?.['inDoubt'] === true
            ? 'TENDRIL_E_WRITEBACK_IN_DOUBT'
            : 'TENDRIL_E_WRITEBACK_FAILED'
          : undefined;
    // Ids, command, status and codes only: never the input or the resource.
    logger[result.status === 'written' ? 'info' : 'warn'](
      {
        event: `writeback.${saved.status}`,
        writebackId: record.id,
        connectionId: record.connectionId,
        command: record.command,
        ...(code ? { code } : {}),
        ...(result.error ? { reason: result.error.code } : {}),
      },
      `writeback ${saved.status}`,
    );
  }

  /** Re-reads the written record with the stream's own query and mapper. */
  async function readBack(
    connection: ConnectionConfig,
    connector: ConnectorDefinition,
    resourceType: ResourceType,
    sourceId: string,
  ) {
    const stream = connector.writeback?.readBack[resourceType as 'Appointment' | 'Patient'];
    const table = stream === undefined ? undefined : connector.streams[stream];
    if (!table) return undefined;
    const client = options.readClient(connection);
    const parts = sourceIdComponents(sourceId);
    const key = table.sourceIdPrefix ? parts.slice(1) : parts;
    const rows = await client.execute(lookupByKeysQuery(client, table, [key]));
    const ctx = mappingContext({
      connectionId: connection.id,
      connectorId: connector.id,
      timezone: connection.timezone,
      currency: connection.currency,
      options: connection.options,
    });
    for (const row of rows) {
      const mapped = mapRow(table, row, ctx, iso(now()).replace('.000Z', 'Z'));
      if (mapped.sourceId === sourceId && mapped.kind === 'live')
        return mapped.resource as Record<string, unknown>;
    }
    return undefined;
  }

  /**
   * Runs one claimed command. A booking with a `turn` waits for it just before its first locking
   * statement (on the vendor-api path, its first request) and gives it back when its transaction
   * has ended: its reference reads run side by side with the turn-holder's, holding no lock and
   * no connection (docs/writeback.md, "Concurrent bookings").
   */
  async function execute(record: WritebackRecord, turn: Turn | undefined): Promise<void> {
    const connection = connections.get(record.connectionId);
    if (!connection) {
      await finish(record, 'unknown', {
        status: 'failed',
        error: { code: 'unsupported', message: 'the connection is no longer configured' },
      });
      return;
    }
    const connector = options.connectorFor(connection);
    const settings = connection.writeback ?? WRITEBACK_DISABLED;
    const capability = writebackCapabilities(connector.writeback, settings)[record.command];
    const paths = connector.writeback?.commands[record.command]?.paths;
    const declaration = capability.writePath ? paths?.[capability.writePath] : undefined;
    if (capability.state !== 'supported' || !declaration) {
      await finish(record, connector.id, {
        status: 'failed',
        error: { code: 'unsupported', message: capability.reason ?? 'the connector cannot run this command' },
      });
      return;
    }
    if (
      record.command === 'Patient.update' &&
      'birthDate' in record.input &&
      !settings.allowBirthDateUpdate
    ) {
      await finish(record, connector.id, {
        status: 'failed',
        error: {
          code: 'validation_failed',
          message: 'birthDate is not on this connection’s update allow-list (writeback.allowBirthDateUpdate)',
          details: { field: 'birthDate' },
        },
      });
      return;
    }
    const deadline = Date.parse(record.deadline);
    const journal: WritebackAuditEntry[] = [];
    const base: Omit<DeclaredCommandInput, 'sql' | 'api'> = {
      command: record.command,
      declaration: declaration,
      connector,
      connection,
      settings,
      input: record.input,
      sourceIdOf: (type, id) => store.writebacks.resolveSourceId(connection.id, type, id),
      now,
    };
    let outcome: WritebackOutcome;
    try {
      try {
        outcome = await runOnce();
      } finally {
        // Committed or rolled back: the next booking of the day may take its locks.
        turn?.release();
      }
    } catch (error) {
      if (error instanceof DeadlinePassed) {
        await finish(record, connector.id, { status: 'timed_out' }, journal);
        return;
      }
      if (error instanceof Rollback) outcome = error.outcome;
      else {
        const coded = isTendrilError(error) ? error : classifyDbError(error);
        outcome = {
          ok: false,
          code: coded.code === 'TENDRIL_E_DB_PERMISSION' ? 'permission_denied' : 'vendor_error',
          message: `the EHR refused the write (${coded.code}); nothing was committed`,
          // Codes only (driver code, errno): driver messages can quote values.
          details: { tendrilCode: coded.code, ...driverCode(error) },
        };
      }
    }

    async function runOnce(): Promise<WritebackOutcome> {
      const gate = () => {
        if (now().getTime() >= deadline) throw new DeadlinePassed();
      };
      /** The day's turn, then the deadline again: a command whose deadline passed while it waited writes nothing. */
      const takeTurn = async () => {
        await turn?.ready;
        gate();
      };
      if (capability.writePath === 'vendor-api') {
        const api = options.vendorApi?.(connection!);
        if (!api)
          return { ok: false, code: 'unsupported', message: 'no vendor API client for this connection' };
        let first = true;
        const journaled: VendorApi = {
          async request(method, path, body) {
            if (first) {
              first = false;
              // No lock to take turns behind on this path: the whole API exchange is the turn.
              await takeTurn();
            }
            const response = await api.request(method, path, body);
            journal.push({
              writebackId: record.id,
              at: iso(now()),
              action: 'api-call',
              detail: { method, path: path.split('?')[0], status: response.status },
            });
            return response;
          },
        };
        return runDeclaredCommand({ ...base, api: journaled });
      }
      for (let attempt = 1; ; attempt++) {
        journal.length = 0;
        try {
          return await runWriteTransaction(
            options.writeClient(connection!),
            async (sql) => {
              const result = await runDeclaredCommand({ ...base, sql });
              if (!result.ok) throw new Rollback(result);
              return result;
            },
            {
              // Stamps in the office's clock domains (docs/writeback.md, "Clock domains").
              timezone: connection!.timezone,
              now,
              beforeFirstStatement: gate,
              beforeFirstLock: takeTurn,
              onStatement: (text) =>
                journal.push({
                  writebackId: record.id,
                  at: iso(now()),
                  action: 'statement',
                  detail: { sql: text.replace(/\s+/g, ' ').trim() },
                }),
            },
          );
        } catch (error) {
          if (attempt < attempts && isWriteConflictRetryable(error)) {
            journal.push({
              writebackId: record.id,
              at: iso(now()),
              action: 'retry',
              detail: { reason: 'lock conflict; rolled back' },
            });
            await store.writebacks.audit(journal.splice(0));
            // Jittered backoff, so the transactions that deadlocked do not meet again at once.
            await new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** attempt));
            continue;
          }
          throw error;
        }
      }
    }

    if (!outcome.ok) {
      await finish(
        record,
        connector.id,
        {
          status: 'failed',
          error: {
            code: outcome.code,
            message: outcome.message,
            ...(outcome.details ? { details: outcome.details } : {}),
          },
          ...(outcome.compensated !== undefined ? { compensated: outcome.compensated } : {}),
        },
        journal,
      );
      return;
    }
    const resourceType: ResourceType = record.resourceType;
    let resource: Record<string, unknown> | undefined;
    try {
      resource = await readBack(connection, connector, resourceType, outcome.sourceId);
    } catch (error) {
      logger.warn(
        {
          event: 'writeback.read_back_failed',
          writebackId: record.id,
          code: isTendrilError(error) ? error.code : classifyDbError(error).code,
        },
        'read-back failed',
      );
    }
    if (!resource) {
      await finish(
        record,
        connector.id,
        {
          status: 'failed',
          sourceId: outcome.sourceId,
          error: {
            code: 'verification_failed',
            message:
              'the write committed but the record could not be read back with the polling query; check it in the EHR',
            details: { inDoubt: true },
          },
        },
        journal,
      );
      return;
    }
    const warnings = Object.entries(outcome.asserted ?? {})
      .filter(
        ([field, expected]) => canonicalJson(resource[field] ?? null) !== canonicalJson(expected ?? null),
      )
      .map(([field]) => `${field} differs from the request after saving (the EHR changed it)`);
    await finish(
      record,
      connector.id,
      {
        status: 'written',
        sourceId: outcome.sourceId,
        resourceId: String(resource['id']),
        resource,
        warnings,
        ...(outcome.matched !== undefined ? { matched: outcome.matched } : {}),
      },
      journal,
    );
  }

  /** Commands a stopped process left executing: never run twice, reported as in doubt (docs/writeback.md, "Lifecycle and guarantees"). */
  async function recover(): Promise<number> {
    const stuck = await store.writebacks.interrupted();
    for (const record of stuck) {
      const connection = connections.get(record.connectionId);
      await finish(record, connection?.connector ?? 'unknown', {
        status: 'failed',
        error: {
          code: 'verification_failed',
          message:
            'the agent stopped while this command was executing; check the EHR before sending it again with a new idempotency key',
          details: { inDoubt: true },
        },
      });
    }
    return stuck.length;
  }

  /**
   * A pipeline: up to `concurrency` commands in flight, the next claimed as soon as one ends or a
   * command is accepted, in the store's claim order (oldest first). A booking's ticket for its
   * day's turn is taken at claim, so turns follow claim order. Returns once nothing is queued or
   * in flight; with `signal` aborted it claims nothing more and waits for the commands in flight.
   */
  async function loop(signal?: AbortSignal): Promise<number> {
    let done = 0;
    const inFlight = new Set<Promise<void>>();
    /** The last claim filled every free slot: more may be queued. A drain asked for (`again`) also claims. */
    let mayHaveMore = true;
    try {
      if (!recovered) {
        recovered = true;
        done += await recover();
      }
      for (;;) {
        woken = false;
        if (!signal?.aborted && inFlight.size < concurrency && (mayHaveMore || again)) {
          again = false;
          const limit = concurrency - inFlight.size;
          const { claimed, expired } = await store.writebacks.claim({ now: iso(now()), limit });
          mayHaveMore = claimed.length + expired.length >= limit;
          for (const record of claimed) {
            const key = options.queueBookings === false ? undefined : contentionKey(record);
            const command = run(record, key === undefined ? undefined : turns.take(key)).finally(() => {
              inFlight.delete(command);
              done++;
              nudge();
            });
            inFlight.add(command);
          }
          for (const record of expired) {
            const connection = connections.get(record.connectionId);
            await finish(record, connection?.connector ?? 'unknown', { status: 'timed_out' });
            done++;
          }
          if (claimed.length > 0 || expired.length > 0) continue;
        }
        // Nothing claimable now: done when nothing is in flight and no drain was asked for meanwhile.
        if (inFlight.size === 0 && !again && !mayHaveMore) break;
        if (signal?.aborted && inFlight.size === 0) break;
        await woke();
        wake = undefined;
      }
    } catch (error) {
      // The store failed to claim or finish: let the commands in flight end before giving up.
      await Promise.allSettled(inFlight);
      draining = false;
      throw error;
    }
    // Cleared here, in the same turn of the event loop as the last check of `again`: a drain asked
    // for after this point starts a new loop rather than joining one that will not claim again.
    draining = false;
    return done;
  }

  /** Runs one claimed command as {@link execute}; its ticket is given back however it ends. */
  async function run(record: WritebackRecord, turn: Turn | undefined): Promise<void> {
    try {
      await execute(record, turn);
    } catch (error) {
      // A failure of the worker itself (store down): leave the command executing; recovery reports it.
      logger.error(
        {
          event: 'writeback.worker_failed',
          writebackId: record.id,
          code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
        },
        'writeback worker failed',
      );
    } finally {
      turn?.release();
    }
  }

  function drain(signal?: AbortSignal): Promise<number> {
    if (draining) {
      again = true;
      nudge();
      return running;
    }
    draining = true;
    running = loop(signal);
    return running;
  }

  function whenFinished(id: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (signal?.aborted) return resolve(false);
      const wake = (finished: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        const set = waiters.get(id);
        set?.delete(wake);
        if (set?.size === 0) waiters.delete(id);
        resolve(finished);
      };
      const abort = () => wake(false);
      const timer = setTimeout(abort, timeoutMs);
      signal?.addEventListener('abort', abort, { once: true });
      const set = waiters.get(id) ?? new Set();
      set.add(wake);
      waiters.set(id, set);
    });
  }

  return {
    drain,
    whenFinished,
    kick() {
      drain().catch((error: unknown) =>
        logger.error(
          {
            event: 'writeback.worker_failed',
            code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
          },
          'writeback pick-up failed',
        ),
      );
    },
  };
}
