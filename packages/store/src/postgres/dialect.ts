import { sql, type Selectable } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import type { DeliveriesTable } from '../tables.js';
import { ROW_TYPES, Slot, type RowColumns, type RowValue } from '../slots.js';
import { isTransientConflict, postgresStoreError } from './errors.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './migrations.js';
import { takeThrottleToken } from './throttle.js';

/** The migration lock: one per database, whichever schema (a migration is short and rare). */
const MIGRATION_LOCK = "hashtextextended('tendril:store:migrate', 0)";

/**
 * PostgreSQL's side of the store (dialect.ts): any number of workers on any number of hosts share
 * one database, so locking is explicit — `FOR UPDATE [SKIP LOCKED]` on rows, transaction advisory
 * locks on names — and batches go to the server as one statement with one array per column.
 * `schema`: the store's own schema, created by the first migration.
 */
export function postgresDialect(schema: string | undefined): StoreDialect {
  return {
    name: 'postgres',

    flagLiteral: (value) => sql.lit(value) as never,
    inList: (ref, values, type) => sql<boolean>`${sql.ref(ref)} = ANY(${values}::${sql.raw(type)}[])`,
    encodeList: (values) => [...values],
    // COLLATE "C": byte order (ISO instants), whatever the database's collation.
    jsonText: (ref, key) => sql<string>`(${sql.ref(ref)} ->> ${sql.lit(key)}) COLLATE "C"`,

    execute: (db, query) => db.executeQuery(query),
    executeArrays: async (db, query) =>
      (await db.executeQuery(query)).rows.map((row): unknown[] => Object.values(row as object)),
    batchRowsInline: false,
    rowSource: (columns: RowColumns) => {
      const names = Object.keys(columns);
      const arrays = names.map(
        (name) => sql`${new Slot(name, 'column')}::${sql.raw(ROW_TYPES[columns[name]!])}[]`,
      );
      // WITH ORDINALITY … ORDER BY: rows are written (and identities assigned) in the order given.
      return sql<
        Record<string, RowValue>
      >`(SELECT ${sql.join(names.map((n) => sql.id('r', n)))} FROM unnest(${sql.join(arrays)}) WITH ORDINALITY AS r(${sql.join(names.map((n) => sql.id(n)))}, ordinality) ORDER BY r.ordinality)`.as(
        'u',
      );
    },
    executeBatch: async (db, query, parameters, rows) => {
      const bound = parameters.map((p) =>
        p instanceof Slot && p.kind === 'column' ? rows.map((row) => row[p.name] ?? null) : p,
      );
      return db.executeQuery({ ...query, parameters: bound });
    },

    lockRows: (query, table, mode) => {
      const locked = query.forUpdate(table);
      return (mode === 'skip' ? locked.skipLocked() : locked) as typeof query;
    },
    lockNames: async (db, names) => {
      const unique = [...new Set(names)];
      if (unique.length === 0) return;
      await sql`SELECT pg_advisory_xact_lock(k) FROM (
          SELECT DISTINCT hashtextextended('tendril:' || x, 0) AS k FROM unnest(${unique}::text[]) AS x ORDER BY 1
        ) AS keys`.execute(db);
    },
    explicitLocks: true,
    dueHeads: () => sql<Selectable<DeliveriesTable>>`deliveries`.as('d'),

    retryTransaction: isTransientConflict,
    storeError: postgresStoreError,
    migrations: POSTGRES_MIGRATIONS,
    schemaVersion: POSTGRES_SCHEMA_VERSION,
    sizeBytes: async (db) => {
      const row = await sql<{ bytes: string | number | null }>`
        SELECT sum(pg_total_relation_size(c.oid)) AS bytes
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r'`.execute(db);
      return Number(row.rows[0]?.bytes ?? 0);
    },
    // Autovacuum reclaims the dead rows of a prune; a VACUUM FULL would lock the tables.
    reclaim: async () => 'autovacuum',
    scrub: async () => undefined,
    beginMigration: async (db) => {
      // Workers starting together wait here for the first, then find its steps recorded.
      await sql.raw(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`).execute(db);
      if (schema !== undefined) await sql.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`).execute(db);
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`.execute(db);
    },
    takeThrottleToken,
  };
}
