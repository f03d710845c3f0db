import type { Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import { migrate } from './migrations.js';
import { settlePayloadKey } from './payload-key.js';
import { plainPayloads, type PayloadCodec } from './payloads.js';
import type { StoreTables } from './tables.js';
import type { PayloadKeyReport } from './types.js';

/**
 * What the three halves of a store share: the database, its dialect, the clock, and the guard every
 * call goes through (open check, migrate on first use, errors wrapped by the dialect).
 */
export class StoreRuntime {
  readonly db: Kysely<StoreTables>;
  readonly dialect: StoreDialect;
  readonly now: () => Date;
  /** How payload columns are written and read: sealed with a site key, or plain (docs/security.md, "PHI at rest"). */
  readonly payloads: PayloadCodec;
  readonly #release: () => Promise<void>;
  #migrated: Promise<PayloadKeyReport> | undefined;
  #closed = false;

  constructor(
    db: Kysely<StoreTables>,
    dialect: StoreDialect,
    now: () => Date,
    /** Frees what the store opened (its database, its pool). */
    release: () => Promise<void>,
    payloads: PayloadCodec = plainPayloads(),
  ) {
    this.db = db;
    this.dialect = dialect;
    this.now = now;
    this.payloads = payloads;
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
      await this.#ready();
      return await fn(this.db);
    } catch (error) {
      throw this.dialect.storeError(operation, error);
    }
  }

  /**
   * Migrates, then checks the payload key against the store and seals a plain store's payloads
   * when a key is given for the first time, before any other call runs. A failure (server down at
   * start, a newer schema, the wrong key) is tried again by the next call.
   */
  #ready(): Promise<PayloadKeyReport> {
    this.#migrated ??= this.transaction((db) => migrate(db, this.dialect, this.nowIso()))
      .then(() =>
        settlePayloadKey(
          this.db,
          this.payloads,
          (fn) => this.transaction(fn),
          (db) => this.dialect.scrub(db),
        ),
      )
      .catch((error: unknown) => {
        this.#migrated = undefined;
        throw error;
      });
    return this.#migrated;
  }

  /** What the payload key check found at open (after migrating, if that has not happened yet). */
  async payloadProtection(): Promise<PayloadKeyReport> {
    try {
      return await this.#ready();
    } catch (error) {
      throw this.dialect.storeError('payloadProtection', error);
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
