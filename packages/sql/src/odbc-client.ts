import { TendrilError } from '@tendril/core';
import knexFactory, { type Knex } from 'knex';
/**
 * The slice of the `odbc` package's API used here, declared locally: `odbc` is an optional
 * dependency (it needs unixODBC headers to build), so the code must compile without it.
 */
interface OdbcConnection {
  query(sql: string, parameters?: (string | number)[]): Promise<unknown>;
  close(): Promise<void>;
}
interface OdbcPool {
  connect(): Promise<OdbcConnection>;
  close(): Promise<void>;
}
/** A variable, so TypeScript does not resolve the optional package at build time. */
const ODBC_MODULE = 'odbc';
interface OdbcModule {
  pool(options: {
    connectionString: string;
    initialSize: number;
    incrementSize: number;
    maxSize: number;
    loginTimeout: number;
  }): Promise<OdbcPool>;
}
import type { SqlClient } from './client.js';

/**
 * The ODBC path (issue 3): legacy EHRs reachable only through an ODBC driver (Eaglesoft's SQL
 * Anywhere, Dentrix G's DDP connection string) run the same parameterized, keyset-paged queries as
 * every other engine. Queries are built by a compile-only knex of the engine's dialect, compiled
 * with `.toSQL().toNative()` and sent through unixODBC (`odbc` package, pooled); rows are
 * normalised to the shapes the native knex driver of that dialect returns, so the sync engine and
 * every connector run unchanged.
 */

/** Engines the ODBC adapter can speak SQL for (the SQL dialect of the database behind the driver). */
export const ODBC_DIALECTS = ['mysql', 'sqlite', 'mssql'] as const;
export type OdbcDialect = (typeof ODBC_DIALECTS)[number];

export interface OdbcDatabase {
  /** Passed to the driver manager as is (`Driver={MariaDB Unicode};Server=…` or `DSN=…`). Never logged. */
  readonly connectionString: string;
  readonly dialect: OdbcDialect;
}

export interface OdbcClientOptions {
  /** Largest number of pooled connections. SQLite always uses one. Default 4. */
  readonly maxConnections?: number;
  /** Seconds to wait for a login. Default 15. */
  readonly loginTimeoutSeconds?: number;
}

/** The knex client whose SQL grammar each dialect uses; it never connects (no `connection`). */
const KNEX_CLIENT: Record<OdbcDialect, string> = {
  mysql: 'mysql2',
  sqlite: 'better-sqlite3',
  mssql: 'mssql',
};

/** Statements run once on every new pooled connection, as the native clients do (client.ts). */
const SESSION_SETUP: Record<OdbcDialect, readonly string[]> = {
  // TIMESTAMP columns are shown in the session zone: UTC makes them `db-utc` (same as mysql2).
  mysql: ["SET time_zone = '+00:00'"],
  sqlite: [],
  mssql: [],
};

/** ODBC SQL type codes (sql.h) the normaliser looks at. */
const SQL_TYPE = {
  numeric: 2,
  decimal: 3,
  bit: -7,
  bigint: -5,
} as const;

/** A double holds every decimal of up to 15 significant digits exactly (DBL_DIG). */
const EXACT_DECIMAL_DIGITS = 15;

interface OdbcColumn {
  readonly name: string;
  readonly dataType: number;
  readonly decimalDigits: number;
}

type OdbcRows = Record<string, unknown>[] & { columns?: readonly OdbcColumn[] };

/**
 * The SQL text and parameters ODBC receives. Every ODBC driver takes `?` markers: mysql and
 * sqlite compile to them natively; knex's mssql compiler numbers them (`@p0`, `@p1`, … in order of
 * appearance), so they are turned back into `?` in the same order.
 */
export function compileForOdbc(
  dialect: OdbcDialect,
  query: Knex.QueryBuilder | Knex.Raw,
): { sql: string; parameters: (string | number | null)[] } {
  const native = query.toSQL().toNative();
  const bindings = native.bindings as readonly unknown[];
  let sql = native.sql;
  if (dialect === 'mssql') {
    let next = 0;
    sql = sql.replace(/@p(\d+)/g, (_marker, index: string) => {
      // knex numbers markers in order; anything else would reorder parameters silently.
      if (Number(index) !== next) {
        throw new TendrilError(
          'TENDRIL_E_INTERNAL',
          'compiled SQL Server parameters are out of order; report this as a bug',
          {
            details: { expected: next, found: Number(index) },
          },
        );
      }
      next += 1;
      return '?';
    });
    if (next !== bindings.length) {
      throw new TendrilError(
        'TENDRIL_E_INTERNAL',
        'compiled SQL Server parameters do not match the bindings; report this as a bug',
        {
          details: { markers: next, bindings: bindings.length },
        },
      );
    }
  }
  return { sql, parameters: bindings.map(parameterOf) };
}

function parameterOf(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  // Tendril binds keys and cursors as text (docs/sync-semantics.md, "Keyset paging"): a Date or object here
  // is a bug.
  throw new TendrilError(
    'TENDRIL_E_INTERNAL',
    `a query parameter of type ${typeof value} cannot be sent through ODBC; bind text or numbers`,
    {
      details: { type: typeof value },
    },
  );
}

/** A decimal as the text mysql2 returns (`12.50`), refusing one a double could not carry exactly. */
function decimalText(value: number, scale: number, column: string): string {
  const text = value.toFixed(Math.max(0, Math.min(scale, 20)));
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  if (digits.length > EXACT_DECIMAL_DIGITS) {
    // node-odbc reads DECIMAL through a C double (atof); beyond 15 digits the text may be wrong.
    throw new TendrilError(
      'TENDRIL_E_DB_QUERY',
      `column ${column} holds a DECIMAL with more than ${EXACT_DECIMAL_DIGITS} significant digits, which the ODBC driver binding cannot return exactly; read this table through the native driver (database.url) instead`,
      { details: { column, scale } },
    );
  }
  return text;
}

/**
 * Converts one ODBC row value to the shape the native knex driver of `dialect` returns
 * (client.ts settings): BIGINT as exact decimal text on mysql/mssql (mysql2 `bigNumberStrings`;
 * tedious returns bigint as text), as a number on sqlite when it is a safe integer (better-sqlite3
 * returns numbers; beyond 2^53 the native driver loses digits, the adapter keeps exact text);
 * DECIMAL as fixed-scale text on mysql (mysql2 default), a number elsewhere; binary as a Buffer;
 * dates and times stay the text the driver formats (`YYYY-MM-DD HH:MM:SS[.ffffff]`).
 */
export function normaliseOdbcValue(dialect: OdbcDialect, column: OdbcColumn, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    if (dialect === 'sqlite') {
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    }
    return value.toString();
  }
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (
    typeof value === 'number' &&
    (column.dataType === SQL_TYPE.decimal || column.dataType === SQL_TYPE.numeric)
  ) {
    switch (dialect) {
      case 'mysql':
        return decimalText(value, column.decimalDigits, column.name);
      case 'mssql':
      case 'sqlite':
        return value;
      default:
        return dialect satisfies never;
    }
  }
  if (
    column.dataType === SQL_TYPE.bit &&
    dialect === 'mssql' &&
    (value === 0 || value === 1 || value === '0' || value === '1')
  ) {
    // tedious returns `bit` as a boolean.
    return value === 1 || value === '1';
  }
  return value;
}

/** Rows of an ODBC result with every value normalised (see {@link normaliseOdbcValue}). */
function normaliseRows(dialect: OdbcDialect, result: OdbcRows): Record<string, unknown>[] {
  const columns = result.columns ?? [];
  const rows: Record<string, unknown>[] = [];
  for (const raw of result) {
    const row: Record<string, unknown> = {};
    for (const column of columns) row[column.name] = normaliseOdbcValue(dialect, column, raw[column.name]);
    rows.push(row);
  }
  return rows;
}

interface OdbcErrorFields {
  odbcErrors?: { code?: unknown; state?: unknown }[];
}

/** MySQL/MariaDB and SQL Server native error numbers for a missing right (client.ts lists the same). */
const PERMISSION_ERRORS: Record<OdbcDialect, ReadonlySet<number>> = {
  mysql: new Set([1044, 1142, 1143, 1227]),
  mssql: new Set([229, 230, 262, 297, 300, 916]),
  sqlite: new Set(),
};
const AUTH_ERRORS: Record<OdbcDialect, ReadonlySet<number>> = {
  mysql: new Set([1045, 1698]),
  mssql: new Set([18456, 18452, 18486, 18487, 18488]),
  sqlite: new Set(),
};

/**
 * Maps an ODBC error to a coded TendrilError by SQLSTATE and the driver's native error number.
 * Driver messages are not copied: they can quote SQL text and values (same rule as
 * `classifyDbError`); the original error stays as `cause` for local debugging.
 */
export function classifyOdbcError(
  dialect: OdbcDialect,
  error: unknown,
  phase: 'connect' | 'query' = 'query',
): TendrilError {
  if (error instanceof TendrilError) return error;
  const first =
    (error as OdbcErrorFields | undefined)?.odbcErrors?.find((e) => e.state !== '01000') ??
    (error as OdbcErrorFields | undefined)?.odbcErrors?.[0];
  const state = typeof first?.state === 'string' ? first.state : undefined;
  const code = typeof first?.code === 'number' ? first.code : undefined;
  const details = {
    dialect,
    ...(state ? { sqlState: state } : {}),
    ...(code === undefined ? {} : { errno: code }),
  };
  const label = [state, code].filter((v) => v !== undefined).join(' ');
  if (state === '28000' || (code !== undefined && AUTH_ERRORS[dialect].has(code))) {
    return new TendrilError(
      'TENDRIL_E_DB_AUTH',
      `The database refused the ODBC login (${label}). Check the user name and password in the connection string, and that the user may open the database.`,
      { cause: error, details },
    );
  }
  if (code !== undefined && PERMISSION_ERRORS[dialect].has(code)) {
    return new TendrilError(
      'TENDRIL_E_DB_PERMISSION',
      `The database user lacks a permission it needs (${label}). Grant it SELECT on every table the connector reads (tendril grants prints the script), then retry.`,
      { cause: error, details },
    );
  }
  // unixODBC reports a driver it cannot load as 01000 (or IM002/IM003) while connecting.
  if (
    phase === 'connect' ||
    (state !== undefined &&
      (state.startsWith('08') || state.startsWith('IM') || state === 'HYT00' || state === 'HYT01'))
  ) {
    return new TendrilError(
      'TENDRIL_E_DB_CONNECT',
      `Could not open the ODBC connection (${label || 'no SQLSTATE'}). Check the Driver= or DSN= name against \`odbcinst -q -d\` / \`odbcinst -q -s\`, then the server, port and database in the connection string, that the server is running, and that a firewall allows the connection.`,
      { cause: error, details },
    );
  }
  return new TendrilError(
    'TENDRIL_E_DB_QUERY',
    `A query through ODBC failed${label ? ` (${label})` : ''}. Check that the connector's tables and columns exist in this database version; the full driver error is kept locally as the cause.`,
    { cause: error, details },
  );
}

/**
 * The connection string as sent. SQLite's driver (sqliteodbc) shortens a result column named
 * `"p.LName"` to `LName` unless `LongNames=1`; Tendril's queries alias every column and name join
 * columns `<alias>.<column>`, so the option is added when the string does not set it. (With it, a
 * column selected without an alias comes back as `table.column`; Tendril never does that.)
 */
function connectionStringFor(db: OdbcDatabase): string {
  if (db.dialect !== 'sqlite' || /(^|;)\s*LongNames\s*=/i.test(db.connectionString))
    return db.connectionString;
  return `${db.connectionString.replace(/;\s*$/, '')};LongNames=1`;
}

/**
 * Opens a pooled ODBC client with the {@link SqlClient} contract. Connections are made on the first
 * query. `dialect` is the engine behind the driver: it picks the SQL (knex grammar), the clock
 * query and the key/cursor bindings, exactly as for a native client of that engine.
 *
 * Known limits of the `odbc` binding (documented in docs/configuration.md): unsigned INT/BIGINT
 * values above the signed maximum come back wrapped (node-odbc binds signed C types), and a DECIMAL
 * with more than 15 significant digits is refused rather than returned inexactly.
 */
export function createOdbcClient(db: OdbcDatabase, options: OdbcClientOptions = {}): SqlClient {
  if (!(ODBC_DIALECTS as readonly string[]).includes(db.dialect)) {
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      `the ODBC adapter speaks ${ODBC_DIALECTS.join(', ')}; set database.dialect to one of them`,
      {
        details: { dialect: db.dialect },
      },
    );
  }
  const dialect = db.dialect;
  const knex = knexFactory({
    client: KNEX_CLIENT[dialect],
    ...(dialect === 'sqlite' ? { useNullAsDefault: true } : {}),
  });
  const maxSize = dialect === 'sqlite' ? 1 : Math.max(1, options.maxConnections ?? 4);
  const initialised = new WeakSet<object>();
  let pool: Promise<OdbcPool> | undefined;
  let closed = false;

  const openPool = (): Promise<OdbcPool> => {
    // Loaded on first use: the addon's loader parses the process's own argv (`--dir`…), which
    // breaks unrelated commands when it runs at import time, and most agents never use ODBC.
    pool ??= (import(ODBC_MODULE) as Promise<{ default: OdbcModule }>)
      .catch((cause: unknown) => {
        throw new TendrilError(
          'TENDRIL_E_DB_DIALECT',
          'the ODBC driver manager binding (npm package "odbc") is not installed: install unixODBC and its headers (Debian: unixodbc-dev) and run pnpm install again',
          { cause },
        );
      })
      .then(({ default: driver }) =>
        driver.pool({
          connectionString: connectionStringFor(db),
          initialSize: 1,
          incrementSize: 1,
          maxSize,
          loginTimeout: options.loginTimeoutSeconds ?? 15,
        }),
      )
      .catch((error: unknown) => {
        // A failed login is retried by the next query, not cached for the life of the client.
        pool = undefined;
        throw error;
      });
    return pool;
  };

  const withConnection = async <T>(work: (connection: OdbcConnection) => Promise<T>): Promise<T> => {
    if (closed) throw new TendrilError('TENDRIL_E_INTERNAL', 'the ODBC client is closed; open a new one');
    let connection: OdbcConnection;
    try {
      connection = await (await openPool()).connect();
    } catch (error) {
      throw classifyOdbcError(dialect, error, 'connect');
    }
    try {
      if (!initialised.has(connection)) {
        for (const statement of SESSION_SETUP[dialect]) await connection.query(statement);
        initialised.add(connection);
      }
      return await work(connection);
    } finally {
      // A pooled connection's close() returns it to the pool.
      await connection.close();
    }
  };

  return {
    knex,
    dialect,
    async execute(query) {
      const { sql, parameters } = compileForOdbc(dialect, query);
      try {
        return await withConnection(async (connection) => {
          const result = (await (parameters.length > 0
            ? connection.query(sql, parameters as (string | number)[])
            : connection.query(sql))) as OdbcRows;
          return normaliseRows(dialect, result);
        });
      } catch (error) {
        throw classifyOdbcError(dialect, error);
      }
    },
    async close() {
      closed = true;
      const opened = pool;
      pool = undefined;
      await knex.destroy();
      if (opened) await (await opened.catch(() => undefined))?.close();
    },
  };
}
