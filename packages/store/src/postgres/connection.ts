import type { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { TendrilError } from '@tendril/core';
import type { StoreTables } from '../tables.js';

const INT8_OID = 20;
const TIMESTAMPTZ_OID = 1184;

const int8 = (value: string): number => Number(value);
const timestamptz = (() => {
  const base = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (value: string) => Date;
  // The Store API carries instants as `toISOString()` text, exactly as the SQLite store returns them.
  return (value: string): string => base(value).toISOString();
})();

/**
 * Type parsers for the store's pool only (never the process-global pg defaults, which other
 * packages' clients share): `bigint` as a JS number (sequences, ids and epoch milliseconds all fit
 * 2^53; sequences are checked where they are allocated) and `timestamptz` as ISO text.
 */
const STORE_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8_OID) return int8;
      if (oid === TIMESTAMPTZ_OID) return timestamptz;
    }
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** A PostgreSQL schema name the store may be told to use (unquoted identifier, lower case). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Where a PostgreSQL store lives: a server (`postgres://…` URL) or an in-process PGlite database. */
export type PostgresSource = string | PGlite;

export interface PostgresConnectionOptions {
  /** Run everything in this schema (`search_path`), created by the store's migration if missing. */
  readonly schema?: string;
  /** Connections in the pool (a server; PGlite always has one). Default 10. */
  readonly poolSize?: number;
  /** `application_name` the server shows for these connections. Default `tendril-agent`. */
  readonly applicationName?: string;
}

/** The pool of each PGlite database (its one connection), shared by every kysely instance on it. */
const PGLITE_POOLS = new WeakMap<PGlite, pg.Pool>();

/** The pools behind the kysely instances made here: the store relies on their type parsers. */
const POOLS = new WeakMap<object, pg.Pool>();

/**
 * A kysely instance for a PostgreSQL store: on a server (`postgres://user:password@host:5432/db`,
 * a `pg` pool) or on an in-process PGlite database (PGlite's node-postgres adapter: one connection,
 * so queries wait their turn and a transaction has the database to itself). Either way with the
 * store's type parsers (`bigint` as a number, `timestamptz` as ISO text). Nothing connects until the
 * first query. `destroy()` ends a server pool; a PGlite database and its one connection stay open
 * for their owner.
 */
export function createPostgresKysely<DB = StoreTables>(
  source: PostgresSource,
  options: PostgresConnectionOptions = {},
): Kysely<DB> {
  const schema = options.schema;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new TendrilError(
      'TENDRIL_E_STORE',
      'The PostgreSQL store schema must be a lower-case identifier (letters, digits, _).',
      { retryable: false, details: { field: 'schema' } },
    );
  }
  let pool: pg.Pool;
  let shared: { connect: () => Promise<pg.PoolClient>; end: () => Promise<void> } | undefined;
  if (typeof source === 'string') {
    pool = new pg.Pool({
      connectionString: source,
      max: options.poolSize ?? 10,
      types: STORE_TYPES,
      application_name: options.applicationName ?? 'tendril-agent',
      // The store's statements are short; an idle transaction left open by a bug must not hold locks forever.
      idle_in_transaction_session_timeout: 60_000,
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    // An idle pooled connection dropped by the server must not crash the agent; the next query reconnects.
    pool.on('error', () => undefined);
  } else {
    if (schema !== undefined) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        'A PGlite database has one session, so one search path: leave out schema, or use one PGlite database per store.',
        { retryable: false, details: { field: 'schema' } },
      );
    }
    // One pool per PGlite database, whoever asks: its one session must never see two transactions at once.
    let existing = PGLITE_POOLS.get(source);
    if (existing === undefined) {
      existing = new pg.Pool({ ...createPgConfig(source), types: STORE_TYPES });
      existing.on('error', () => undefined);
      PGLITE_POOLS.set(source, existing);
    }
    pool = existing;
    const own = pool;
    shared = { connect: () => own.connect(), end: async () => undefined };
  }
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: shared ?? pool }) });
  POOLS.set(db, pool);
  return db;
}

/** True for an instance made by {@link createPostgresKysely} (and still open). */
export function isStoreKysely(db: object): boolean {
  return POOLS.has(db);
}

/** The pg pool behind an instance made by {@link createPostgresKysely}: session locks need a connection of their own. */
export function poolOf(db: object): pg.Pool | undefined {
  return POOLS.get(db);
}
