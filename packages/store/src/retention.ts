import type { Kysely } from 'kysely';
import type { StoreRuntime } from './runtime.js';
import type { StoreTables } from './tables.js';
import type { PruneOptions, PruneReport, RetentionPolicy } from './types.js';
import { badInput } from './values.js';

/** Rows per prune transaction: short enough that polls and deliveries are never held up for long. */
const BATCH = 1000;
const DAY_MS = 86_400_000;

function days(value: number, field: keyof RetentionPolicy): number {
  if (!Number.isInteger(value) || value < 1) {
    throw badInput(`retention.${field} must be a whole number of days ≥ 1.`, { field });
  }
  return value * DAY_MS;
}

type Walk<K extends string | number> = (
  db: Kysely<StoreTables>,
  after: K | undefined,
  limit: number,
) => Promise<K[]>;

/**
 * Deletes (or, dry, counts) what a walk finds: rows in key order after the last key seen, so a
 * row the conditions keep is passed once, not rescanned by every batch. One transaction per batch.
 */
async function sweep<K extends string | number>(
  rt: StoreRuntime,
  dryRun: boolean,
  walk: Walk<K>,
  remove: (db: Kysely<StoreTables>, keys: K[]) => Promise<void>,
): Promise<number> {
  let after: K | undefined;
  let total = 0;
  for (;;) {
    const keys = await rt.transaction(async (db) => {
      const found = await walk(db, after, BATCH);
      if (!dryRun && found.length > 0) await remove(db, found);
      return found;
    });
    total += keys.length;
    if (keys.length < BATCH) return total;
    after = keys[keys.length - 1];
  }
}

/**
 * The nightly prune (docs/store.md, "Retention and pruning"): finished deliveries and their
 * attempts, dead letters, superseded outbox events nobody still needs, finished writebacks with
 * their audit rows, old run history; then space is given back (SQLite `VACUUM` after a large
 * prune; PostgreSQL's autovacuum).
 */
export async function pruneStore(
  rt: StoreRuntime,
  policy: RetentionPolicy,
  options: PruneOptions = {},
): Promise<PruneReport> {
  const nowMs = rt.nowMs();
  const cutoff = (field: keyof RetentionPolicy): number => nowMs - days(policy[field], field);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const dryRun = options.dryRun === true;
  const d = rt.dialect;
  const sizeBefore = await rt.guard('prune', (db) => d.sizeBytes(db));

  let attempts = 0;
  const deliveryRows = (status: 'delivered' | 'dead', before: number): Walk<number> => {
    return async (db, after, limit) => {
      let q = db
        .selectFrom('deliveries as d')
        .select('d.id')
        .where('d.status', '=', status)
        .where('d.finished_at_ms', '<', before)
        // A replay still points at its original; the original goes when the replay has gone.
        .where((eb) =>
          eb.not(
            eb.exists(eb.selectFrom('deliveries as r').select('r.id').whereRef('r.replay_of', '=', 'd.id')),
          ),
        );
      if (status === 'dead') q = q.where('d.redrive', '=', d.flagLiteral(false));
      if (after !== undefined) q = q.where('d.id', '>', after);
      return (await q.orderBy('d.id').limit(limit).execute()).map((r) => Number(r.id));
    };
  };
  const removeDeliveries = async (db: Kysely<StoreTables>, ids: number[]): Promise<void> => {
    const gone = await db.deleteFrom('delivery_attempts').where('delivery_id', 'in', ids).executeTakeFirst();
    attempts += Number(gone.numDeletedRows);
    await db.deleteFrom('deliveries').where('id', 'in', ids).execute();
  };
  const countAttempts = async (db: Kysely<StoreTables>, ids: number[]): Promise<void> => {
    if (ids.length === 0) return;
    const row = await db
      .selectFrom('delivery_attempts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('delivery_id', 'in', ids)
      .executeTakeFirst();
    attempts += Number(row?.n ?? 0);
  };

  return rt.guard('prune', async () => {
    const countingAttempts =
      (walk: Walk<number>): Walk<number> =>
      async (db, after, limit) => {
        const ids = await walk(db, after, limit);
        if (dryRun) await countAttempts(db, ids);
        return ids;
      };
    const delivered = await sweep(
      rt,
      dryRun,
      countingAttempts(deliveryRows('delivered', cutoff('deliveredDays'))),
      removeDeliveries,
    );
    const deadLetters = await sweep(
      rt,
      dryRun,
      countingAttempts(deliveryRows('dead', cutoff('deadLetterDays'))),
      removeDeliveries,
    );

    // An outbox event goes once it is old, no delivery row (pending, or a dead letter kept) points
    // at it, a newer event of the same resource exists (the newest stays: a new subscription's
    // backload re-emits it), and — with a hub — the hub has acknowledged it.
    const outboxBefore = iso(cutoff('outboxDays'));
    const outbox = await sweep<string>(
      rt,
      dryRun,
      async (db, after, limit) => {
        let q = db
          .selectFrom('outbox as o')
          .select('o.id')
          .where('o.created_at', '<', outboxBefore)
          .where((eb) =>
            eb.and([
              eb.exists(
                eb
                  .selectFrom('outbox as n')
                  .select('n.id')
                  .whereRef('n.connection_id', '=', 'o.connection_id')
                  .whereRef('n.resource_type', '=', 'o.resource_type')
                  .whereRef('n.resource_id', '=', 'o.resource_id')
                  .whereRef('n.sequence', '>', 'o.sequence'),
              ),
              eb.not(
                eb.exists(
                  eb.selectFrom('deliveries as x').select('x.id').whereRef('x.event_id', '=', 'o.id'),
                ),
              ),
            ]),
          );
        if (options.keepUnrelayed === true) {
          q = q.where((eb) =>
            eb.exists(
              eb
                .selectFrom('relay_cursor as c')
                .select('c.connection_id')
                .whereRef('c.connection_id', '=', 'o.connection_id')
                .whereRef('c.last_sequence', '>=', 'o.sequence'),
            ),
          );
        }
        if (after !== undefined) q = q.where('o.id', '>', after);
        return (await q.orderBy('o.id').limit(limit).execute()).map((r) => r.id);
      },
      async (db, ids) => {
        await db.deleteFrom('outbox').where('id', 'in', ids).execute();
      },
    );

    // Finished writebacks (their inputs and results are patient data) with their audit rows.
    const writebacksBefore = iso(cutoff('auditDays'));
    let auditRows = 0;
    const countAudit = async (db: Kysely<StoreTables>, ids: string[]): Promise<void> => {
      if (ids.length === 0) return;
      const row = await db
        .selectFrom('writeback_audit')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('writeback_id', 'in', ids)
        .executeTakeFirst();
      auditRows += Number(row?.n ?? 0);
    };
    const writebacks = await sweep<string>(
      rt,
      dryRun,
      async (db, after, limit) => {
        let q = db
          .selectFrom('writebacks')
          .select('id')
          .where('phase', '=', 'done')
          .where('finished_at', '<', writebacksBefore);
        if (after !== undefined) q = q.where('id', '>', after);
        const ids = (await q.orderBy('id').limit(limit).execute()).map((r) => r.id);
        await countAudit(db, ids);
        return ids;
      },
      async (db, ids) => {
        await db.deleteFrom('writeback_audit').where('writeback_id', 'in', ids).execute();
        await db.deleteFrom('writebacks').where('id', 'in', ids).execute();
      },
    );

    // Run history; the newest run of each stream and kind stays (the scheduler's catch-up reads it).
    const runsBefore = iso(cutoff('runDays'));
    const runs = await sweep<string>(
      rt,
      dryRun,
      async (db, after, limit) => {
        let q = db
          .selectFrom('runs as r')
          .select('r.id')
          .where('r.started_at', '<', runsBefore)
          .where('r.finished_at', 'is not', null)
          .where((eb) =>
            eb.exists(
              eb
                .selectFrom('runs as n')
                .select('n.id')
                .whereRef('n.connection_id', '=', 'r.connection_id')
                .whereRef('n.stream', '=', 'r.stream')
                .whereRef('n.kind', '=', 'r.kind')
                .whereRef('n.started_at', '>', 'r.started_at'),
            ),
          );
        if (after !== undefined) q = q.where('r.id', '>', after);
        return (await q.orderBy('r.id').limit(limit).execute()).map((r) => r.id);
      },
      async (db, ids) => {
        await db.deleteFrom('runs').where('id', 'in', ids).execute();
      },
    );

    // The fleet's run log exists on PostgreSQL only.
    const fleetRuns =
      d.name === 'postgres'
        ? await sweep<number>(
            rt,
            dryRun,
            async (db, after, limit) => {
              let q = db
                .selectFrom('fleet_runs')
                .select('id')
                .where('finished_at', 'is not', null)
                .where('started_at', '<', runsBefore);
              if (after !== undefined) q = q.where('id', '>', after);
              return (await q.orderBy('id').limit(limit).execute()).map((r) => Number(r.id));
            },
            async (db, ids) => {
              await db.deleteFrom('fleet_runs').where('id', 'in', ids).execute();
            },
          )
        : 0;

    const removed = delivered + deadLetters + outbox + writebacks + runs + fleetRuns;
    const reclaimed = dryRun ? 'dry-run' : removed === 0 ? 'none' : await d.reclaim(rt.db);
    const sizeAfter = dryRun ? sizeBefore : await d.sizeBytes(rt.db);
    return {
      dryRun,
      deliveries: delivered,
      deadLetters,
      attempts,
      outbox,
      writebacks,
      audit: auditRows,
      runs,
      fleetRuns,
      reclaimed,
      sizeBytesBefore: sizeBefore,
      sizeBytesAfter: sizeAfter,
    };
  });
}
