import { TendrilError, type WritebackSql } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { createWritebackSql } from './write-statements.js';

/** Hooks of one write transaction: the clock of its stamps, the deadline gate and the statement journal. */
export interface WriteTransactionHooks {
  /** The office's IANA zone: `db-local` and `client` stamps are its wall time. */
  readonly timezone: string;
  /** The agent clock (`client` stamps; the office's offset for `db-local` ones). */
  readonly now?: () => Date;
  /**
   * Called once, inside the transaction, just before the first statement is sent: throws to
   * abandon the command untouched (the deadline passed, docs/writeback.md, "Lifecycle and guarantees").
   */
  readonly beforeFirstStatement?: () => void;
  /**
   * Awaited once, just before the transaction opens (at the first statement that takes locks):
   * the worker waits here for its booking's turn, holding no lock and no pooled connection.
   * Throws to abandon the command with nothing written.
   */
  readonly beforeFirstLock?: () => Promise<void>;
  /** Each statement's text (placeholders only, never values), before it is sent: the audit journal. */
  readonly onStatement?: (sql: string) => void;
}

/**
 * Runs `work` with one database transaction on the write login for everything that takes locks:
 * every statement a handler sends goes through the {@link WritebackSql} it receives, built by
 * knex. Plain reads sent before the first locking statement (a locking read, an insert or an
 * update) run on their own, each on a pooled connection it gives back at once: they take no
 * locks, so they see what a read at the start of the transaction would. The transaction opens at
 * the first locking statement (after {@link WriteTransactionHooks.beforeFirstLock}), and from
 * then on every statement runs in it. A throw rolls everything back. The ODBC adapter has no
 * transactions, so it cannot write.
 */
export async function runWriteTransaction<T>(
  client: SqlClient,
  work: (sql: WritebackSql) => Promise<T>,
  hooks: WriteTransactionHooks,
): Promise<T> {
  if (typeof (client.knex as Partial<Knex>).transaction !== 'function') {
    throw new TendrilError(
      'TENDRIL_E_NOT_AVAILABLE',
      'writeback through ODBC is not available in this version; give connections[].writeback.database a mysql:// or mssql:// URL',
    );
  }
  let transaction: Promise<Knex.Transaction> | undefined;
  const open = () =>
    (transaction ??= (async () => {
      await hooks.beforeFirstLock?.();
      return client.knex.transaction();
    })());
  let result: T;
  try {
    result = await work(
      createWritebackSql({
        knex: client.knex,
        dialect: client.dialect,
        run: async (statement) =>
          (await (statement.locks || transaction
            ? statement.query.transacting(await open())
            : statement.query)) as unknown,
        timezone: hooks.timezone,
        now: hooks.now ?? (() => new Date()),
        ...(hooks.onStatement ? { onStatement: hooks.onStatement } : {}),
        ...(hooks.beforeFirstStatement ? { beforeFirstStatement: hooks.beforeFirstStatement } : {}),
      }),
    );
  } catch (error) {
    // Not opened (abandoned before its first lock, or BEGIN failed): nothing to roll back.
    const opened = await transaction?.catch(() => undefined);
    // The error that ended the work is the one to report; a ROLLBACK that fails commits nothing either.
    if (opened && !opened.isCompleted()) await opened.rollback().catch(() => undefined);
    throw error;
  }
  if (transaction) await (await transaction).commit();
  return result;
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
