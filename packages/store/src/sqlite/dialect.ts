import { sql, type Selectable } from 'kysely';
import { isTendrilError, TendrilError } from '@tendril/core';
import type { StoreDialect } from '../dialect.js';
import { Slot, type RowColumns, type RowValue } from '../slots.js';
import type { DeliveriesTable } from '../tables.js';
import type { SqliteStatements } from './driver.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './migrations.js';
import { runBatchRows } from './batch-rows.js';

/** The fix a failure on the data directory suggests. */
export const SQLITE_FIX = 'Check the data directory (free space, permissions), then retry.';

/**
 * SQLite's side of the store (dialect.ts). One process-local connection whose every transaction
 * holds the file's write lock from its start (`BEGIN IMMEDIATE`, sqlite/driver.ts): that lock is
 * all the locking the store needs, so row and name locks are no-ops here.
 */
export function sqliteDialect(statements: SqliteStatements): StoreDialect {
  return {
    name: 'sqlite',

    flagLiteral: (value) => sql.lit(value ? 1 : 0),
    // json_each turns one JSON array parameter into rows: one statement for any number of values.
    inList: (ref, values) =>
      sql<boolean>`${sql.ref(ref)} IN (SELECT value FROM json_each(${Array.isArray(values) ? JSON.stringify(values) : values}))`,
    encodeList: (values) => JSON.stringify(values),
    jsonText: (ref, key) => sql<string>`json_extract(${sql.ref(ref)}, ${sql.lit(`$.${key}`)})`,

    // One row of parameters; executeBatch runs the statement once per row (sqlite/batch-rows.ts).
    execute: async (db, query) =>
      db.isTransaction ? statements.execute(query.sql, query.parameters) : db.executeQuery(query),
    executeArrays: async (db, query) =>
      db.isTransaction
        ? statements.executeArrays(query.sql, query.parameters)
        : (await db.executeQuery(query)).rows.map((row): unknown[] => Object.values(row as object)),
    batchRowsInline: true,
    rowSource: (columns: RowColumns) =>
      sql<Record<string, RowValue>>`(SELECT ${sql.join(
        Object.keys(columns).map((name) => sql`${new Slot(name, 'column')} AS ${sql.id(name)}`),
      )})`.as('u'),
    executeBatch: async (db, query, parameters, rows) => {
      if (!db.isTransaction) throw new Error('A store batch runs inside a transaction.');
      return runBatchRows(statements, query, parameters, rows);
    },

    lockRows: (query) => query,
    lockNames: async () => undefined,
    explicitLocks: false,
    // INDEXED BY: walk due heads in due order; the planner would otherwise pick the subscription
    // index and sort every pending row of the subscription on each lease.
    dueHeads: () => sql<Selectable<DeliveriesTable>>`deliveries`.as<'d'>(sql`d INDEXED BY deliveries_due`),

    retryTransaction: () => false,
    storeError: (operation, error) => sqliteStoreError(operation, error),
    migrations: SQLITE_MIGRATIONS,
    schemaVersion: SQLITE_SCHEMA_VERSION,
    sizeBytes: async (db) => {
      const row = await sql<{
        bytes: number;
      }>`SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()`.execute(db);
      return Number(row.rows[0]?.bytes ?? 0);
    },
    reclaim: async (db) => {
      const row = await sql<{
        free: number;
        pages: number;
      }>`SELECT f.freelist_count AS free, p.page_count AS pages FROM pragma_freelist_count() f, pragma_page_count() p`.execute(
        db,
      );
      const { free = 0, pages = 0 } = row.rows[0] ?? {};
      if (pages === 0 || free * 4 < pages) return 'none';
      await sql`VACUUM`.execute(db);
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
      return 'vacuum';
    },
    scrub: async (db) => {
      await sql`VACUUM`.execute(db);
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
    },
    beginMigration: async (db) => {
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`.execute(db);
    },
  };
}

/** Wraps a failure; SQLite's own errors (busy, full disk, I/O) are worth a retry, bad input is not. */
export function sqliteStoreError(operation: string, error: unknown, fix = SQLITE_FIX): TendrilError {
  if (isTendrilError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqlite = error instanceof Error && error.name === 'SqliteError' && typeof code === 'string';
  return new TendrilError('TENDRIL_E_STORE', `The agent store failed during ${operation}. ${fix}`, {
    cause: error,
    retryable: sqlite,
    details: { operation, ...(sqlite ? { sqliteCode: code } : {}) },
  });
}
