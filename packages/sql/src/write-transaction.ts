import { TendrilError, type WritebackSql, type WritebackSqlResult } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';

/** Hooks of one write transaction: the deadline gate and the statement journal. */
export interface WriteTransactionHooks {
  /**
   * Called once, inside the transaction, just before the first statement is sent: throws to
   * abandon the command untouched (the deadline passed, docs/writeback.md, "Lifecycle and guarantees").
   */
  readonly beforeFirstStatement?: () => void;
  /** Each statement's text (placeholders only, never values), before it is sent: the audit journal. */
  readonly onStatement?: (sql: string) => void;
  /** Session statements run first in the transaction (OpenEMR/Open Dental: `SET SESSION sql_mode = ''`). Not journaled. */
  readonly session?: readonly string[];
}

/** Text of a statement with its values bound by the driver (`?` placeholders, `??` identifiers). */
function resultOf(dialect: SqlClient['dialect'], raw: unknown): WritebackSqlResult {
  // mysql2: [rows | ResultSetHeader, fields]
  if (dialect === 'mysql' && Array.isArray(raw)) {
    const first = raw[0] as unknown;
    if (Array.isArray(first)) return { rows: first as Record<string, unknown>[], affectedRows: 0 };
    const header = first as { affectedRows?: number; insertId?: number | string };
    return {
      rows: [],
      affectedRows: header.affectedRows ?? 0,
      ...(header.insertId !== undefined && header.insertId !== 0 && header.insertId !== '0'
        ? { insertId: String(header.insertId) }
        : {}),
    };
  }
  if (Array.isArray(raw)) return { rows: raw as Record<string, unknown>[], affectedRows: raw.length };
  // better-sqlite3 run(): { changes, lastInsertRowid }; pg: { rows, rowCount }
  const object = (raw ?? {}) as {
    changes?: number;
    lastInsertRowid?: number | bigint;
    rows?: unknown[];
    rowCount?: number;
  };
  if (Array.isArray(object.rows))
    return { rows: object.rows as Record<string, unknown>[], affectedRows: object.rowCount ?? 0 };
  return {
    rows: [],
    affectedRows: object.changes ?? 0,
    ...(object.lastInsertRowid !== undefined ? { insertId: String(object.lastInsertRowid) } : {}),
  };
}

/**
 * Runs `work` in one database transaction on the write login: every statement a handler sends
 * goes through the {@link WritebackSql} it receives, bound to this transaction. A throw rolls
 * everything back. The ODBC adapter has no transactions, so it cannot write.
 */
export async function runWriteTransaction<T>(
  client: SqlClient,
  work: (sql: WritebackSql) => Promise<T>,
  hooks: WriteTransactionHooks = {},
): Promise<T> {
  if (typeof (client.knex as Partial<Knex>).transaction !== 'function') {
    throw new TendrilError(
      'TENDRIL_E_NOT_AVAILABLE',
      'writeback through ODBC is not available in this version; give connections[].writeback.database a mysql:// or mssql:// URL',
    );
  }
  return client.knex.transaction(async (trx) => {
    for (const statement of hooks.session ?? []) await trx.raw(statement);
    let first = true;
    const sql: WritebackSql = {
      dialect: client.dialect,
      async query(text, bindings = []) {
        if (first) {
          first = false;
          hooks.beforeFirstStatement?.();
        }
        hooks.onStatement?.(text);
        const raw: unknown = await trx.raw(text, bindings as Knex.RawBinding[]);
        return resultOf(client.dialect, raw);
      },
    };
    return work(sql);
  });
}

/**
 * True for a lock conflict the engine resolved by aborting this transaction (InnoDB deadlock
 * 1213 or lock wait timeout 1205; SQL Server deadlock victim 1205): nothing was committed, so
 * the whole command may run again.
 */
export function isWriteConflictRetryable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const fields = current as { errno?: unknown; number?: unknown; code?: unknown; cause?: unknown };
    if (fields.errno === 1213 || fields.errno === 1205 || fields.number === 1205) return true;
    if (fields.code === 'ER_LOCK_DEADLOCK' || fields.code === 'ER_LOCK_WAIT_TIMEOUT') return true;
    current = fields.cause;
  }
  return false;
}
