import type pg from 'pg';
import { TendrilError } from '@tendril/core';
import { createStorePool, inTransaction, postgresStoreError } from './postgres-connection.js';

/** One connection of a fleet as stored: the connection exactly as written (references, not secrets). */
export interface FleetConnectionRow {
  readonly id: string;
  /** The connection object as written in YAML, with `${ENV}` / `${secret:…}` references unresolved. */
  readonly config: Record<string, unknown>;
  /** Bumped on every change, so a worker knows which of its copies are stale. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly nextPollAt: string;
  readonly nextNightlyAt?: string;
  /** Polls not enqueued because the previous one of this connection was still queued or running. */
  readonly skippedTicks: number;
}

/** A connection whose poll (or nightly job) is due, handed to the enqueuer inside the claim transaction. */
export interface FleetDueRow {
  readonly id: string;
  readonly config: Record<string, unknown>;
  readonly version: number;
  /** When it was due; undefined for a nightly job never planned yet (a new connection). */
  readonly dueAt?: string;
}

/** What the enqueuer decided for a due row: when it is due next, and whether this tick was skipped. */
export interface FleetDueDecision {
  readonly next: Date;
  readonly skipped?: boolean;
}

/** A SQL runner bound to the claim transaction (the shape pg-boss accepts as `db`, so its job inserts commit with the claim). */
export interface FleetTransaction {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export const FLEET_RUN_KINDS = ['poll', 'nightly'] as const;
export type FleetRunKind = (typeof FLEET_RUN_KINDS)[number];

/** One poll or nightly job of one connection by one worker (the evidence that no two overlapped). */
export interface FleetRunRow {
  readonly id: number;
  readonly connectionId: string;
  readonly kind: FleetRunKind;
  readonly workerId: string;
  readonly jobId?: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly events?: number;
  readonly errorCode?: string;
}

/** A held connection lock; release it when the job is done (a dead worker's lock is released by PostgreSQL). */
export interface FleetLock {
  release(): Promise<void>;
}

/**
 * The fleet's shared state in the PostgreSQL store (migration step 5): the connections, when each
 * is due, and the run log. Used by `tendril connections add|list|remove|poll` and by every
 * `tendril run --worker` (docs/fleet.md).
 */
export interface FleetStore {
  /** Adds or replaces a connection. A change takes effect at once: its next poll is due now. */
  upsertConnection(
    id: string,
    config: Record<string, unknown>,
  ): Promise<{ created: boolean; version: number }>;
  listConnections(): Promise<FleetConnectionRow[]>;
  getConnection(id: string): Promise<FleetConnectionRow | undefined>;
  /** Removes a connection from the fleet (its cursors, shadow and outbox stay in the store). */
  removeConnection(id: string): Promise<boolean>;
  /** Makes these connections' polls (all when `ids` is undefined) due now. Returns how many. */
  requestPoll(ids?: readonly string[]): Promise<number>;
  /**
   * Claims up to `limit` connections whose `kind` job is due by the database clock, with
   * `FOR UPDATE SKIP LOCKED` (workers ticking together claim disjoint rows), calls `decide` inside
   * the same transaction (it enqueues the jobs through `tx`), and stores each row's next due time.
   * A crash before commit enqueues nothing and leaves the rows due, so no tick is lost.
   */
  claimDue(
    kind: FleetRunKind,
    limit: number,
    decide: (
      rows: readonly FleetDueRow[],
      tx: FleetTransaction,
      dbNow: Date,
    ) => Promise<ReadonlyMap<string, FleetDueDecision>>,
  ): Promise<{ claimed: number; enqueued: number; skipped: number }>;
  /**
   * Takes the connection's lock (a session advisory lock on a connection of its own) or returns
   * undefined when another worker holds it. One connection is never polled by two workers at once.
   */
  tryLock(connectionId: string): Promise<FleetLock | undefined>;
  /**
   * Runs `work` while holding a database-wide session advisory lock named `name`, waiting for it:
   * workers starting together install pg-boss's schema and queues one after the other (concurrent
   * queue creation can deadlock on its partition table).
   */
  exclusive<T>(name: string, work: () => Promise<T>): Promise<T>;
  startRun(input: {
    connectionId: string;
    kind: FleetRunKind;
    workerId: string;
    jobId?: string;
  }): Promise<number>;
  finishRun(
    id: number,
    result: { status: 'succeeded' | 'failed'; events?: number; errorCode?: string },
  ): Promise<void>;
  listRuns(filter?: { connectionId?: string; limit?: number }): Promise<FleetRunRow[]>;
  close(): Promise<void>;
}

export interface FleetStoreOptions {
  /** Connections in this process's pool: one per running job (its lock) plus one for claims. */
  readonly poolSize?: number;
  /** Same as the store's `schema` option. */
  readonly schema?: string;
}

const LOCK_KEY = "hashtextextended('tendril:fleet:' || $1, 0)";

interface ConnectionRecord {
  id: string;
  config_json: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
  next_poll_at: string;
  next_nightly_at: string | null;
  skipped_ticks: number;
}

function toConnection(row: ConnectionRecord): FleetConnectionRow {
  return {
    id: row.id,
    config: row.config_json,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextPollAt: row.next_poll_at,
    ...(row.next_nightly_at ? { nextNightlyAt: row.next_nightly_at } : {}),
    skippedTicks: row.skipped_ticks,
  };
}

/**
 * Opens the fleet tables of the PostgreSQL store at `url`. The tables are created by the store's
 * migration (open the store and `migrate()` first; the agent's container does).
 */
export function openFleetStore(url: string, options: FleetStoreOptions = {}): FleetStore {
  const pool = createStorePool(url, {
    max: options.poolSize ?? 6,
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  });
  pool.on('error', () => undefined);
  const guard = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw postgresStoreError(operation, error);
    }
  };
  const columns =
    'id, config_json, version, created_at, updated_at, next_poll_at, next_nightly_at, skipped_ticks';

  return {
    upsertConnection: (id, config) =>
      guard('fleet upsert', async () => {
        const { rows } = await pool.query<{ version: number; created: boolean }>(
          `INSERT INTO fleet_connections (id, config_json, version, created_at, updated_at, next_poll_at, next_nightly_at)
           VALUES ($1, $2::jsonb, 1, now(), now(), now(), NULL)
           ON CONFLICT (id) DO UPDATE SET
             config_json = EXCLUDED.config_json,
             version = fleet_connections.version + 1,
             updated_at = now(),
             next_poll_at = now(),
             -- the nightly time or zone may have changed: planned again at the next tick
             next_nightly_at = NULL
           RETURNING version, (xmax = 0) AS created`,
          [id, JSON.stringify(config)],
        );
        return { created: rows[0]!.created, version: rows[0]!.version };
      }),

    listConnections: () =>
      guard('fleet list', async () => {
        const { rows } = await pool.query<ConnectionRecord>(
          `SELECT ${columns} FROM fleet_connections ORDER BY id`,
        );
        return rows.map(toConnection);
      }),

    getConnection: (id) =>
      guard('fleet get', async () => {
        const { rows } = await pool.query<ConnectionRecord>(
          `SELECT ${columns} FROM fleet_connections WHERE id = $1`,
          [id],
        );
        return rows[0] ? toConnection(rows[0]) : undefined;
      }),

    removeConnection: (id) =>
      guard('fleet remove', async () => {
        const { rowCount } = await pool.query('DELETE FROM fleet_connections WHERE id = $1', [id]);
        return (rowCount ?? 0) > 0;
      }),

    requestPoll: (ids) =>
      guard('fleet poll request', async () => {
        const { rowCount } =
          ids === undefined
            ? await pool.query('UPDATE fleet_connections SET next_poll_at = now()')
            : await pool.query(
                'UPDATE fleet_connections SET next_poll_at = now() WHERE id = ANY($1::text[])',
                [[...ids]],
              );
        return rowCount ?? 0;
      }),

    claimDue: (kind, limit, decide) =>
      guard(`fleet ${kind} claim`, () =>
        inTransaction(pool, async (client) => {
          const column = kind === 'poll' ? 'next_poll_at' : 'next_nightly_at';
          // A nightly never planned (new or changed connection) is claimed only to plan it.
          const due =
            kind === 'poll'
              ? 'next_poll_at <= now()'
              : '(next_nightly_at IS NULL OR next_nightly_at <= now())';
          const { rows } = await client.query<{
            id: string;
            config_json: Record<string, unknown>;
            version: number;
            due_at: string | null;
            db_now: string;
          }>(
            `SELECT id, config_json, version, ${column} AS due_at, now() AS db_now FROM fleet_connections
             WHERE ${due} ORDER BY ${column} NULLS FIRST, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [limit],
          );
          if (rows.length === 0) return { claimed: 0, enqueued: 0, skipped: 0 };
          const tx: FleetTransaction = {
            executeSql: (text, values) => client.query(text, values as unknown[]),
          };
          const decisions = await decide(
            rows.map((r) => ({
              id: r.id,
              config: r.config_json,
              version: r.version,
              ...(r.due_at ? { dueAt: r.due_at } : {}),
            })),
            tx,
            new Date(rows[0]!.db_now),
          );
          let skipped = 0;
          let enqueued = 0;
          const ids: string[] = [];
          const nexts: string[] = [];
          const skips: number[] = [];
          for (const row of rows) {
            const decision = decisions.get(row.id);
            if (!decision) continue;
            ids.push(row.id);
            nexts.push(decision.next.toISOString());
            skips.push(decision.skipped ? 1 : 0);
            if (decision.skipped) skipped += 1;
            else if (row.due_at !== null || kind === 'poll') enqueued += 1;
          }
          if (ids.length > 0) {
            await client.query(
              `UPDATE fleet_connections AS f SET ${column} = d.next, skipped_ticks = f.skipped_ticks + d.skip
               FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS d(id, next, skip) WHERE f.id = d.id`,
              [ids, nexts, skips],
            );
          }
          return { claimed: rows.length, enqueued, skipped };
        }),
      ),

    tryLock: (connectionId) =>
      guard('fleet lock', async () => {
        const client: pg.PoolClient = await pool.connect();
        let held = false;
        try {
          const { rows } = await client.query<{ locked: boolean }>(
            `SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`,
            [connectionId],
          );
          held = rows[0]!.locked;
        } finally {
          if (!held) client.release();
        }
        if (!held) return undefined;
        let released = false;
        return {
          async release() {
            if (released) return;
            released = true;
            try {
              await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [connectionId]);
              client.release();
            } catch (error) {
              // A connection that cannot unlock is discarded: closing it releases the lock.
              client.release(error instanceof Error ? error : new Error('unlock failed'));
            }
          },
        };
      }),

    async exclusive(name, work) {
      const client = await guard('fleet exclusive', () => pool.connect());
      let broken: Error | undefined;
      try {
        await guard('fleet exclusive', () =>
          client.query("SELECT pg_advisory_lock(hashtextextended('tendril:fleet-exclusive:' || $1, 0))", [
            name,
          ]),
        );
        try {
          return await work();
        } finally {
          await client
            .query("SELECT pg_advisory_unlock(hashtextextended('tendril:fleet-exclusive:' || $1, 0))", [name])
            .catch(
              (error: unknown) => (broken = error instanceof Error ? error : new Error('unlock failed')),
            );
        }
      } finally {
        client.release(broken);
      }
    },

    startRun: ({ connectionId, kind, workerId, jobId }) =>
      guard('fleet run start', async () => {
        const { rows } = await pool.query<{ id: number }>(
          `INSERT INTO fleet_runs (connection_id, kind, worker_id, job_id, started_at, status)
           VALUES ($1, $2, $3, $4, clock_timestamp(), 'running') RETURNING id`,
          [connectionId, kind, workerId, jobId ?? null],
        );
        return rows[0]!.id;
      }),

    finishRun: (id, result) =>
      guard('fleet run finish', async () => {
        await pool.query(
          `UPDATE fleet_runs SET finished_at = clock_timestamp(), status = $2, events = $3, error_code = $4 WHERE id = $1`,
          [id, result.status, result.events ?? null, result.errorCode ?? null],
        );
      }),

    listRuns: (filter = {}) =>
      guard('fleet runs', async () => {
        const limit = filter.limit ?? 1000;
        if (!Number.isInteger(limit) || limit < 0) {
          throw new TendrilError('TENDRIL_E_STORE', 'limit must be a non-negative integer.', {
            retryable: false,
          });
        }
        const { rows } = await pool.query<{
          id: number;
          connection_id: string;
          kind: FleetRunKind;
          worker_id: string;
          job_id: string | null;
          started_at: string;
          finished_at: string | null;
          status: FleetRunRow['status'];
          events: number | null;
          error_code: string | null;
        }>(
          `SELECT id, connection_id, kind, worker_id, job_id, started_at, finished_at, status, events, error_code
           FROM fleet_runs WHERE ($1::text IS NULL OR connection_id = $1) ORDER BY started_at, id LIMIT $2`,
          [filter.connectionId ?? null, limit],
        );
        return rows.map((r) => ({
          id: r.id,
          connectionId: r.connection_id,
          kind: r.kind,
          workerId: r.worker_id,
          ...(r.job_id ? { jobId: r.job_id } : {}),
          startedAt: r.started_at,
          ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
          status: r.status,
          ...(r.events === null ? {} : { events: r.events }),
          ...(r.error_code ? { errorCode: r.error_code } : {}),
        }));
      }),

    async close() {
      await pool.end();
    },
  };
}
