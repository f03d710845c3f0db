import type { Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import { migrate } from './migrations.js';
import type { StoreTables } from './tables.js';

/**
 * What the three halves of a store share: the database, its dialect, the clock, and the guard every
 * call goes through (open check, migrate on first use, errors wrapped by the dialect).
 */
export class StoreRuntime {
  readonly db: Kysely<StoreTables>;
  readonly dialect: StoreDialect;
  readonly now: () => Date;
  readonly #release: () => Promise<void>;
  #migrated: Promise<void> | undefined;
  #closed = false;

  constructor(
    db: Kysely<StoreTables>,
    dialect: StoreDialect,
    now: () => Date,
    /** Frees what the store opened (its database, its pool). */
    release: () => Promise<void>,
  ) {
    this.db = db;
    this.dialect = dialect;
    this.now = now;
    this.#release = release;
  }

  nowMs(): number {
    return this.now().getTime();
  }

  nowIso(): string {
    return this.now().toISOString();
  }

  /** Runs `fn` on an open, migrated store and turns every failure into a TendrilError. */
  async guard<T>(operation: string, fn: (db: Kysely<StoreTables>) => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        `The agent store is closed; open it again before ${operation}.`,
        { retryable: false, details: { operation } },
      );
    }
    try {
      // A failed migration (server down at start, a newer schema) is tried again by the next call.
      this.#migrated ??= this.transaction((db) => migrate(db, this.dialect, this.nowIso())).catch(
        (error: unknown) => {
          this.#migrated = undefined;
          throw error;
        },
      );
      await this.#migrated;
      return await fn(this.db);
    } catch (error) {
      throw this.dialect.storeError(operation, error);
    }
  }

  /**
   * Runs `fn` in one transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: READ COMMITTED with
   * explicit locks). A deadlock or serialization failure reruns the whole transaction a few times:
   * every caller builds its writes from its inputs, so a rerun is the same transaction again.
   */
  async transaction<T>(fn: (db: Kysely<StoreTables>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.db.transaction().execute(fn);
      } catch (error) {
        if (attempt < 4 && this.dialect.retryTransaction(error)) continue;
        throw error;
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A migration still running holds the connection; let it finish before the database goes.
    await this.#migrated?.catch(() => undefined);
    try {
      await this.#release();
    } catch (error) {
      throw this.dialect.storeError('close', error);
    }
  }
}
