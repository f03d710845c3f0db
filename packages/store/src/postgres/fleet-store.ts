import { CompiledQuery, sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type {
  FleetConnectionRow,
  FleetRunKind,
  FleetRunRow,
  FleetStore,
  FleetStoreOptions,
  FleetTransaction,
} from '../fleet-types.js';
import type { StoreTables } from '../tables.js';
import { badInput, parsed } from '../values.js';
import { createPostgresKysely, poolOf, type PostgresSource } from './connection.js';
import { postgresStoreError } from './errors.js';

const CONNECTION_COLUMNS = [
  'id',
  'config_json',
  'version',
  'created_at',
  'updated_at',
  'next_poll_at',
  'next_nightly_at',
  'skipped_ticks',
] as const;

function toConnection(row: {
  id: string;
  config_json: unknown;
  version: number;
  created_at: string;
  updated_at: string;
  next_poll_at: string;
  next_nightly_at: string | null;
  skipped_ticks: number;
}): FleetConnectionRow {
  return {
    id: row.id,
    config: parsed<Record<string, unknown>>(row.config_json),
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextPollAt: row.next_poll_at,
    ...(row.next_nightly_at ? { nextNightlyAt: row.next_nightly_at } : {}),
    skippedTicks: row.skipped_ticks,
  };
}

/** A session advisory lock's key: the same text as ever, so workers of mixed versions agree. */
const lockKey = (prefix: string) => `hashtextextended('tendril:${prefix}:' || $1, 0)`;

/**
 * Opens the fleet tables of the PostgreSQL store (fleet-types.ts; PostgreSQL only, migration step
 * 5). The tables are created by the store's migration (open the store and `migrate()` first; the
 * agent's container does). Session locks (a connection's poll, `exclusive`) hold a pooled
 * connection of their own until released, so a dead worker's locks go with its connections.
 */
export function openFleetStore(source: PostgresSource, options: FleetStoreOptions = {}): FleetStore {
  const db: Kysely<StoreTables> = createPostgresKysely(source, {
    poolSize: options.poolSize ?? 6,
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  });
  const pool = poolOf(db)!;
  const guard = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw postgresStoreError(operation, error);
    }
  };

  return {
    upsertConnection: (id, config) =>
      guard('fleet upsert', async () => {
        const row = await db
          .insertInto('fleet_connections')
          .values({
            id,
            config_json: JSON.stringify(config),
            version: 1,
            created_at: sql<string>`now()`,
            updated_at: sql<string>`now()`,
            next_poll_at: sql<string>`now()`,
            next_nightly_at: null,
          })
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              config_json: eb.ref('excluded.config_json'),
              version: eb('fleet_connections.version', '+', 1),
              updated_at: sql<string>`now()`,
              next_poll_at: sql<string>`now()`,
              // The nightly time or zone may have changed: planned again at the next tick.
              next_nightly_at: null,
            })),
          )
          .returning(['version', sql<boolean>`(xmax = 0)`.as('created')])
          .executeTakeFirstOrThrow();
        return { created: row.created, version: row.version };
      }),

    listConnections: () =>
      guard('fleet list', async () =>
        (await db.selectFrom('fleet_connections').select(CONNECTION_COLUMNS).orderBy('id').execute()).map(
          toConnection,
        ),
      ),

    getConnection: (id) =>
      guard('fleet get', async () => {
        const row = await db
          .selectFrom('fleet_connections')
          .select(CONNECTION_COLUMNS)
          .where('id', '=', id)
          .executeTakeFirst();
        return row === undefined ? undefined : toConnection(row);
      }),

    removeConnection: (id) =>
      guard('fleet remove', async () => {
        const { numDeletedRows } = await db
          .deleteFrom('fleet_connections')
          .where('id', '=', id)
          .executeTakeFirst();
        return numDeletedRows > 0n;
      }),

    requestPoll: (ids) =>
      guard('fleet poll request', async () => {
        let update = db.updateTable('fleet_connections').set({ next_poll_at: sql<string>`now()` });
        if (ids !== undefined) update = update.where(sql<boolean>`id = ANY(${[...ids]}::text[])`);
        return Number((await update.executeTakeFirst()).numUpdatedRows);
      }),

    claimDue: (kind, limit, decide) =>
      guard(`fleet ${kind} claim`, () =>
        db.transaction().execute(async (trx) => {
          const column = kind === 'poll' ? 'next_poll_at' : 'next_nightly_at';
          const rows = await trx
            .selectFrom('fleet_connections')
            .select([
              'id',
              'config_json',
              'version',
              sql<string | null>`${sql.ref(column)}`.as('due_at'),
              sql<string>`now()`.as('db_now'),
            ])
            // A nightly never planned (new or changed connection) is claimed only to plan it.
            .where((eb) =>
              kind === 'poll'
                ? eb('next_poll_at', '<=', sql<string>`now()`)
                : eb.or([eb('next_nightly_at', 'is', null), eb('next_nightly_at', '<=', sql<string>`now()`)]),
            )
            .orderBy(sql`${sql.ref(column)} NULLS FIRST`)
            .orderBy('id')
            .limit(limit)
            .forUpdate()
            .skipLocked()
            .execute();
          if (rows.length === 0) return { claimed: 0, enqueued: 0, skipped: 0 };
          const tx: FleetTransaction = {
            executeSql: async (text, values) => trx.executeQuery(CompiledQuery.raw(text, values ?? [])),
          };
          const decisions = await decide(
            rows.map((r) => ({
              id: r.id,
              config: parsed<Record<string, unknown>>(r.config_json),
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
            await sql`UPDATE fleet_connections AS f SET ${sql.ref(column)} = d.next, skipped_ticks = f.skipped_ticks + d.skip
              FROM unnest(${ids}::text[], ${nexts}::timestamptz[], ${skips}::int[]) AS d(id, next, skip) WHERE f.id = d.id`.execute(
              trx,
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
            `SELECT pg_try_advisory_lock(${lockKey('fleet')}) AS locked`,
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
              await client.query(`SELECT pg_advisory_unlock(${lockKey('fleet')})`, [connectionId]);
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
          client.query(`SELECT pg_advisory_lock(${lockKey('fleet-exclusive')})`, [name]),
        );
        try {
          return await work();
        } finally {
          await client
            .query(`SELECT pg_advisory_unlock(${lockKey('fleet-exclusive')})`, [name])
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
        const row = await db
          .insertInto('fleet_runs')
          .values({
            connection_id: connectionId,
            kind,
            worker_id: workerId,
            job_id: jobId ?? null,
            started_at: sql<string>`clock_timestamp()`,
            status: 'running',
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        return row.id;
      }),

    finishRun: (id, result) =>
      guard('fleet run finish', async () => {
        await db
          .updateTable('fleet_runs')
          .set({
            finished_at: sql<string>`clock_timestamp()`,
            status: result.status,
            events: result.events ?? null,
            error_code: result.errorCode ?? null,
          })
          .where('id', '=', id)
          .execute();
      }),

    listRuns: (filter = {}) =>
      guard('fleet runs', async () => {
        const limit = filter.limit ?? 1000;
        if (!Number.isInteger(limit) || limit < 0) throw badInput('limit must be a non-negative integer.');
        let select = db
          .selectFrom('fleet_runs')
          .select([
            'id',
            'connection_id',
            'kind',
            'worker_id',
            'job_id',
            'started_at',
            'finished_at',
            'status',
            'events',
            'error_code',
          ]);
        if (filter.connectionId !== undefined)
          select = select.where('connection_id', '=', filter.connectionId);
        const rows = await select.orderBy('started_at').orderBy('id').limit(limit).execute();
        return rows.map((r): FleetRunRow => ({
          id: r.id,
          connectionId: r.connection_id,
          kind: r.kind as FleetRunKind,
          workerId: r.worker_id,
          ...(r.job_id ? { jobId: r.job_id } : {}),
          startedAt: r.started_at,
          ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
          status: r.status as FleetRunRow['status'],
          ...(r.events === null ? {} : { events: r.events }),
          ...(r.error_code ? { errorCode: r.error_code } : {}),
        }));
      }),

    async close() {
      await db.destroy();
    },
  };
}
