import { isTendrilError, TendrilError } from '@tendril/core';

/** SQLSTATEs after which running the same transaction again can succeed (deadlock, serialization failure). */
export function isTransientConflict(error: unknown): boolean {
  const state = sqlState(error);
  return state === '40001' || state === '40P01';
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
