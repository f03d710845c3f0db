import pg from 'pg';
import { isTendrilError, TendrilError } from '@tendril/core';

/** A pool or a client inside a transaction: what the store's statements run on. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

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
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** A PostgreSQL schema name the store may be told to use (unquoted identifier, lower case). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens the store's pool. `schema`: run everything in that schema (search_path). */
export function createStorePool(url: string, options: { max?: number; schema?: string }): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    types: STORE_TYPES,
    application_name: 'tendril-agent',
    // The store's statements are short; an idle transaction left open by a bug must not hold locks forever.
    idle_in_transaction_session_timeout: 60_000,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
}

/** SQLSTATEs after which running the same transaction again can succeed. */
const RETRY_IN_PLACE = new Set(['40001', '40P01']);

/**
 * Runs `fn` in one transaction on one pooled connection (READ COMMITTED; locking is explicit). A
 * deadlock or serialization failure reruns the whole transaction a few times: every caller builds
 * its writes from its inputs, so a rerun is the same transaction again.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
      });
      if (attempt < 4 && RETRY_IN_PLACE.has(sqlState(error) ?? '')) continue;
      throw error;
    } finally {
      // A connection whose rollback failed is discarded, not handed to the next caller.
      client.release(broken);
    }
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Node-level connection failures (no SQLSTATE): the server is down, restarting or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * Turns a failure into a TendrilError. PostgreSQL's own message and `detail` can quote row values
 * ("Key (id)=(…) already exists", "invalid input syntax …: "<value>""), so the cause attached is a
 * plain error naming only the SQLSTATE and the constraint/table involved: never a value.
 */
export function postgresStoreError(operation: string, error: unknown): TendrilError {
  if (isTendrilError(error)) return error;
  const state = sqlState(error);
  const network =
    typeof (error as { code?: unknown } | null)?.code === 'string' &&
    NETWORK_CODES.has((error as { code: string }).code);
  const pgError = error as { constraint?: string; table?: string; schema?: string } | null;
  const cause =
    state === undefined
      ? error
      : new Error(
          `PostgreSQL error ${state}` +
            (pgError?.table ? ` on table ${pgError.table}` : '') +
            (pgError?.constraint ? ` (constraint ${pgError.constraint})` : ''),
        );
  const klass = state?.slice(0, 2);
  let fix: string;
  let retryable: boolean;
  if (klass === '28') {
    fix = 'PostgreSQL refused the login: check the user and password in store.postgres.';
    retryable = false;
  } else if (state === '3D000') {
    fix = 'The database named in store.postgres does not exist: create it (createdb), then retry.';
    retryable = false;
  } else if (state === '42501' || state === '3F000') {
    fix =
      'The store user lacks a right it needs: let it create tables in the database (GRANT CREATE ON DATABASE / SCHEMA), or create the schema, then retry.';
    retryable = false;
  } else if (
    network ||
    klass === '08' ||
    klass === '53' ||
    klass === '57' ||
    klass === '40' ||
    state === '55P03'
  ) {
    fix = 'Check that PostgreSQL is running and reachable at the host in store.postgres, then retry.';
    retryable = true;
  } else if (state === undefined) {
    // Our own failures inside a transaction (a value JSON cannot carry, a bad argument).
    fix = 'Check the data passed to the store; nothing of this call was written.';
    retryable = false;
  } else {
    fix = 'Nothing of this call was written; check the PostgreSQL server log for this SQLSTATE.';
    retryable = klass !== '22' && klass !== '23' && klass !== '42';
  }
  return new TendrilError(
    'TENDRIL_E_STORE',
    `The agent store (PostgreSQL) failed during ${operation}. ${fix}`,
    {
      cause,
      retryable,
      details: { operation, backend: 'postgres', ...(state === undefined ? {} : { sqlState: state }) },
    },
  );
}

/** Instants are stored as timestamptz; validated and normalised to `toISOString()` form first. */
export function toInstant(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new TendrilError(
      'TENDRIL_E_STORE',
      `${field} is not an ISO instant; pass a value such as new Date().toISOString().`,
      {
        retryable: false,
        details: { field },
      },
    );
  }
  return new Date(ms).toISOString();
}

/** A business date bound: `YYYY-MM-DD`, compared as text (which is date order). */
export function toDay(value: string, field: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new TendrilError('TENDRIL_E_STORE', `businessDate.${field} must be a day of the form YYYY-MM-DD.`, {
      retryable: false,
      details: { field },
    });
  }
  return value;
}

export function toLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new TendrilError('TENDRIL_E_STORE', 'limit must be a non-negative integer.', {
      retryable: false,
      details: { limit },
    });
  }
  return limit;
}

/**
 * Transaction-scoped advisory locks on delivery keys (subscription, resource type, resource id),
 * taken in one sorted order so that two transactions never wait on each other in a cycle. Every
 * write that can change which pending row heads a key takes them first (delivery.md §5).
 */
export async function lockDeliveryKeys(client: pg.PoolClient, keys: Iterable<string>): Promise<void> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return;
  await client.query(
    `SELECT pg_advisory_xact_lock(k) FROM (
       SELECT DISTINCT hashtextextended('tendril:delivery-key:' || x, 0) AS k FROM unnest($1::text[]) AS x ORDER BY 1
     ) AS keys`,
    [unique],
  );
}

/** The advisory-lock text of one delivery key. */
export function deliveryKey(subscriptionId: string, resourceType: string, resourceId: string): string {
  return `${subscriptionId}\u0001${resourceType}\u0001${resourceId}`;
}
