import { readFileSync } from 'node:fs';
import { cellText, TendrilError, type DatabaseConfig, type DatabaseTlsConfig } from '@tendril/core';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexLog, type SqlLogger } from './knex-log.js';

/** The SQL engines Tendril reads through knex. `odbc` is a separate adapter. */
export const DIALECTS = ['mysql', 'mssql', 'postgres', 'sqlite'] as const;
export type Dialect = (typeof DIALECTS)[number];

/**
 * One connection pool to one EHR (or test) database. Queries are built on `knex` by
 * `queries.ts`; `dialect` picks the SQL a query needs where the engines differ.
 */
export interface SqlClient {
  /** Builds queries for this dialect. Run them with {@link SqlClient.execute}, never by awaiting. */
  readonly knex: Knex;
  readonly dialect: Dialect;
  /**
   * Runs a query built with `knex` and returns its rows. Knex clients send it through their
   * driver; the ODBC adapter compiles it and sends it through unixODBC, so the engine never cares.
   */
  execute(query: Knex.QueryBuilder | Knex.Raw): Promise<Record<string, unknown>[]>;
  /** Closes the pool; the client is unusable afterwards. */
  close(): Promise<void>;
}

/** A database config resolved to its dialect and a complete knex config (without pool sizes). */
export interface ResolvedDatabase {
  readonly dialect: Dialect;
  readonly knexConfig: Knex.Config;
}

/** URL schemes `resolveDatabase` accepts, listed in the error for an unknown one. */
export const DATABASE_URL_SCHEMES = [
  'mysql',
  'mariadb',
  'mssql',
  'sqlserver',
  'postgres',
  'postgresql',
  'sqlite',
] as const;

interface DatabaseParts {
  readonly dialect: Dialect;
  readonly host?: string;
  readonly port?: number;
  readonly instance?: string;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly filename?: string;
  readonly domain?: string;
  readonly encrypt?: boolean;
  readonly trustServerCertificate?: boolean;
  /** MySQL/MariaDB: TLS (mysql2 `ssl`). */
  readonly tls?: DatabaseTlsConfig;
}

function configProblem(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_CONFIG_INVALID', message, { details });
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    // The value may be a password: name the part, never echo it.
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `the database URL's ${what} has an invalid percent-escape; encode special characters as %XX`,
      {
        cause,
      },
    );
  }
}

function booleanParam(params: URLSearchParams, name: string): boolean | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  switch (value.toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
      return true;
    case 'false':
    case '0':
    case 'no':
      return false;
    default:
      throw configProblem(`database URL parameter ${name} must be true or false`, { parameter: name });
  }
}

function sqliteFilename(rest: string): string {
  // sqlite::memory:, sqlite:./file.db, sqlite:///abs/path.db, sqlite://./file.db
  const path = rest.startsWith('//') ? rest.slice(2) : rest;
  if (path === '')
    throw configProblem(
      'a sqlite URL needs a file: sqlite:./file.db, sqlite:///abs/path.db or sqlite::memory:',
    );
  return decode(path, 'file name');
}

function partsFromUrl(url: string): DatabaseParts {
  const colon = url.indexOf(':');
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : '';
  if (scheme === 'sqlite') return { dialect: 'sqlite', filename: sqliteFilename(url.slice(colon + 1)) };
  const dialect = dialectOfScheme(scheme);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `the database URL is not a valid URL; use ${scheme}://user:password@host:port/database`,
      {
        cause,
      },
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const database = parsed.pathname.replace(/^\//, '');
  const params = parsed.searchParams;
  const parts: DatabaseParts = {
    dialect,
    ...(host ? { host } : {}),
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    ...(parsed.username ? { user: decode(parsed.username, 'user name') } : {}),
    ...(parsed.password ? { password: decode(parsed.password, 'password') } : {}),
    ...(database ? { database: decode(database, 'database name') } : {}),
  };
  if (dialect !== 'mssql') return parts;
  const instance = params.get('instance') ?? undefined;
  const domain = params.get('domain') ?? undefined;
  const encrypt = booleanParam(params, 'encrypt');
  const trustServerCertificate = booleanParam(params, 'trustServerCertificate');
  return {
    ...parts,
    ...(instance ? { instance } : {}),
    ...(domain ? { domain } : {}),
    ...(encrypt === undefined ? {} : { encrypt }),
    ...(trustServerCertificate === undefined ? {} : { trustServerCertificate }),
  };
}

function dialectOfScheme(scheme: string): Dialect {
  switch (scheme) {
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    case 'mssql':
    case 'sqlserver':
      return 'mssql';
    case 'postgres':
    case 'postgresql':
      return 'postgres';
    case 'sqlite':
      return 'sqlite';
    default:
      throw new TendrilError(
        'TENDRIL_E_DB_DIALECT',
        `database URL scheme "${scheme}" is not supported; use one of ${DATABASE_URL_SCHEMES.map((s) => `${s}:`).join(', ')}`,
        { details: { scheme } },
      );
  }
}

/**
 * PostgreSQL type OIDs whose values stay the server's text (no JS `Date`, docs/sync-semantics.md, "Keyset
 * paging").
 */
const PG_TEXT_DATE_OIDS = new Set([
  1082, // date
  1114, // timestamp
  1184, // timestamptz
]);

/**
 * Per-connection pg type parsers: `date`, `timestamp` and `timestamptz` come back as the server's
 * text. Passed as the `types` connection option, so other pg users in the process keep theirs
 * (a `pg.types.setTypeParser` call would change every pool in the process).
 */
const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    if (PG_TEXT_DATE_OIDS.has(oid) && format !== 'binary') return (value: string) => value;
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  },
};

type AfterCreate = (
  connection: { query: (sql: string, callback: (error: Error | null) => void) => unknown },
  done: (error: Error | null, connection: unknown) => void,
) => void;

/** Runs one session statement on every new pooled connection before knex hands it out. */
function sessionSetup(sql: string): AfterCreate {
  return (connection, done) => {
    connection.query(sql, (error) => done(error, connection));
  };
}

/** A PEM file named in `database.tls`, read now so a wrong path is a config problem, not a login failure. */
function pemFile(path: string, field: 'ca' | 'cert' | 'key'): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `database.tls.${field}: cannot read ${path}; give the path of a PEM file the agent's user may read`,
      { cause, details: { field } },
    );
  }
}

/** `database.tls` as mysql2's `ssl` option (Node's TLS options). */
export function mysqlSslOptions(tls: DatabaseTlsConfig): Record<string, unknown> {
  return {
    ...(tls.ca ? { ca: pemFile(tls.ca, 'ca') } : {}),
    ...(tls.cert ? { cert: pemFile(tls.cert, 'cert') } : {}),
    ...(tls.key ? { key: pemFile(tls.key, 'key') } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

function knexConfigOf(parts: DatabaseParts): Knex.Config {
  switch (parts.dialect) {
    case 'mysql':
      return {
        client: 'mysql2',
        connection: {
          host: parts.host ?? '127.0.0.1',
          port: parts.port ?? 3306,
          ...(parts.user === undefined ? {} : { user: parts.user }),
          ...(parts.password === undefined ? {} : { password: parts.password }),
          ...(parts.database === undefined ? {} : { database: parts.database }),
          charset: 'utf8mb4',
          ...(parts.tls ? { ssl: mysqlSslOptions(parts.tls) } : {}),
          // Dates as the server's text (never the agent's zone), BIGINT keys as exact strings.
          dateStrings: true,
          supportBigNumbers: true,
          bigNumberStrings: true,
          timezone: '+00:00',
        },
        // TIMESTAMP columns are shown in the session zone: pin it to UTC for `db-utc` cursors.
        pool: { afterCreate: sessionSetup("SET time_zone = '+00:00'") },
      };
    case 'postgres':
      return {
        client: 'pg',
        connection: {
          host: parts.host ?? '127.0.0.1',
          port: parts.port ?? 5432,
          ...(parts.user === undefined ? {} : { user: parts.user }),
          ...(parts.password === undefined ? {} : { password: parts.password }),
          ...(parts.database === undefined ? {} : { database: parts.database }),
          types: PG_TYPES,
        } as Knex.PgConnectionConfig,
        // `timestamptz` text follows the session zone; UTC makes it `db-utc` like MySQL TIMESTAMP.
        pool: { afterCreate: sessionSetup("SET TIME ZONE 'UTC'") },
      };
    case 'sqlite':
      if (!parts.filename) throw configProblem('a sqlite database needs a filename (or sqlite::memory:)');
      return { client: 'better-sqlite3', connection: { filename: parts.filename }, useNullAsDefault: true };
    case 'mssql': {
      const options = {
        // Encrypted by default; a self-signed server certificate needs trustServerCertificate=true.
        encrypt: parts.encrypt ?? true,
        trustServerCertificate: parts.trustServerCertificate ?? false,
        appName: 'tendril',
        ...(parts.instance ? { instanceName: parts.instance } : {}),
      };
      return {
        client: 'mssql',
        connection: {
          server: parts.host ?? '127.0.0.1',
          // A named instance is found through the SQL Browser; its port is not fixed.
          ...(parts.instance ? {} : { port: parts.port ?? 1433 }),
          ...(parts.user === undefined ? {} : { user: parts.user }),
          ...(parts.password === undefined ? {} : { password: parts.password }),
          ...(parts.database === undefined ? {} : { database: parts.database }),
          ...(parts.domain ? { domain: parts.domain, type: 'ntlm' } : {}),
          options,
        },
      };
    }
    default:
      throw new Error(`unreachable dialect ${parts.dialect satisfies never}`);
  }
}

/**
 * SQL Server specifics checked before the knex config is built. `host: 'SQL01\\DENTRIX'` (the
 * `SERVER\\INSTANCE` form SQL Server tools and Dentrix installs use) is split into host and named
 * instance (giving it both ways is a config error; a port next to an instance is dropped, as
 * before, since the SQL Browser gives the instance's port). A Windows (NTLM) login (`domain`)
 * needs the account's user name and password: tedious cannot use the agent's own Windows
 * session (integrated SSPI) on any platform.
 */
function mssqlLogin(parts: DatabaseParts): DatabaseParts {
  let result = parts;
  const slash = parts.host?.indexOf('\\') ?? -1;
  if (parts.host !== undefined && slash >= 0) {
    if (parts.instance !== undefined) {
      throw configProblem(
        'the SQL Server instance is given twice (host "SERVER\\INSTANCE" and instance); keep one',
      );
    }
    const host = parts.host.slice(0, slash);
    const instance = parts.host.slice(slash + 1);
    if (host === '' || instance === '')
      throw configProblem('a SQL Server host must be SERVER or SERVER\\INSTANCE');
    result = { ...parts, host, instance };
  }
  if (result.domain !== undefined && (result.user === undefined || result.password === undefined)) {
    throw configProblem(
      'a Windows (NTLM) SQL Server login needs user and password besides domain; the agent cannot use its own Windows session',
    );
  }
  return result;
}

/**
 * Resolves `connections[].database` (a URL or parts) to the dialect and a knex config carrying
 * every driver setting the sync semantics depend on (text dates, string BIGINTs, UTC sessions).
 * Percent-escapes in the URL's user and password are decoded.
 */
export function resolveDatabase(db: DatabaseConfig): ResolvedDatabase {
  if ('odbc' in db) {
    // ODBC has no knex driver: its connections are opened by createOdbcClient (odbc-client.ts).
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      'an odbc database is opened with createOdbcClient, not through a knex driver; use createOdbcClient (or openSqlClient) for it',
      { details: { dialect: db.dialect } },
    );
  }
  const parts: DatabaseParts =
    'url' in db ? { ...partsFromUrl(db.url), ...(db.tls ? { tls: db.tls } : {}) } : db;
  if (parts.tls && parts.dialect !== 'mysql') {
    throw configProblem(
      'database.tls is for MySQL/MariaDB connections; SQL Server encrypts with encrypt and trustServerCertificate',
    );
  }
  if (!(DIALECTS as readonly string[]).includes(parts.dialect)) dialectOfScheme(String(parts.dialect));
  return {
    dialect: parts.dialect,
    knexConfig: knexConfigOf(parts.dialect === 'mssql' ? mssqlLogin(parts) : parts),
  };
}

export interface SqlClientOptions {
  /** Pool bounds. SQLite always uses one connection (an in-memory database lives in it). */
  readonly pool?: { readonly min: number; readonly max: number };
  /**
   * Receives knex's own warnings ("Acquire connection error" when the database is down…), text
   * only: never bindings, stacks or quoted values (knex-log.ts). Absent: they are dropped, since
   * every query error is thrown to the caller and classified there anyway.
   */
  readonly logger?: SqlLogger;
}

/**
 * Opens a pooled client. Connections are made lazily on the first query, so a wrong host shows up
 * there (run it through {@link classifyDbError}).
 */
export function createSqlClient(db: DatabaseConfig, options: SqlClientOptions = {}): SqlClient {
  const { dialect, knexConfig } = resolveDatabase(db);
  const pool = dialect === 'sqlite' ? { min: 1, max: 1 } : (options.pool ?? { min: 0, max: 4 });
  const knex = knexFactory({
    ...knexConfig,
    pool: { ...(knexConfig.pool ?? {}), ...pool },
    log: knexLog(options.logger),
  });
  return {
    knex,
    dialect,
    execute: async (query) => rowsOf(await query) as Record<string, unknown>[],
    close: () => knex.destroy(),
  };
}

/** The rows of a query result: knex.raw returns [rows, fields] on mysql2, { rows } on pg, the rows elsewhere. */
export function rowsOf(result: unknown): unknown[] {
  if (Array.isArray(result)) return Array.isArray(result[0]) ? (result[0] as unknown[]) : result;
  if (result && typeof result === 'object' && Array.isArray((result as { rows?: unknown }).rows)) {
    return (result as { rows: unknown[] }).rows;
  }
  return [];
}

interface DriverErrorFields {
  code?: unknown;
  errno?: unknown;
  number?: unknown;
  sqlState?: unknown;
  severity?: unknown;
  address?: unknown;
  port?: unknown;
  hostname?: unknown;
  name?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** Node/driver error codes that mean "the server could not be reached". */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
  // tedious
  'ESOCKET',
  'ETIMEOUT',
  'EINSTLOOKUP',
  'ECONNCLOSED',
]);
const MYSQL_AUTH = new Set([1045, 1698]);
const MYSQL_PERMISSION = new Set([1044, 1142, 1143, 1227]);
const MSSQL_AUTH = new Set([18456, 18452, 18486, 18487, 18488]);
const MSSQL_PERMISSION = new Set([229, 230, 262, 297, 300, 916]);
const PG_AUTH = new Set(['28P01', '28000']);

/** The error, its `cause`s and the first member of an AggregateError (Node's dual-stack connect). */
function chain(err: unknown): DriverErrorFields[] {
  const out: DriverErrorFields[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const fields = current as DriverErrorFields;
    out.push(fields);
    if (Array.isArray(fields.errors) && fields.errors[0] && typeof fields.errors[0] === 'object')
      out.push(fields.errors[0] as DriverErrorFields);
    current = fields.cause;
  }
  return out;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * Maps a driver error (mysql2, pg, tedious, better-sqlite3, knex pool timeout) to a coded
 * TendrilError whose message names the fix. The message carries error codes, host and port only:
 * knex prefixes driver messages with the SQL and its bound values, and driver messages can quote
 * row values, so neither is copied. The original error is kept as `cause` for local debugging.
 */
export function classifyDbError(err: unknown): TendrilError {
  if (err instanceof TendrilError) return err;
  const links = chain(err);
  const details: Record<string, unknown> = {};
  for (const link of links) {
    const code = text(link.code);
    if (code !== undefined && details['code'] === undefined) details['code'] = code;
    const errno = num(link.errno) ?? num(link.number);
    if (errno !== undefined && details['errno'] === undefined) details['errno'] = errno;
    const sqlState = text(link.sqlState);
    if (sqlState !== undefined && details['sqlState'] === undefined) details['sqlState'] = sqlState;
    const address = text(link.address) ?? text(link.hostname);
    if (address !== undefined && details['host'] === undefined) details['host'] = address;
    const port = num(link.port);
    if (port !== undefined && details['port'] === undefined) details['port'] = port;
  }
  const label = [details['code'], details['errno'], details['sqlState']]
    .filter((v) => v !== undefined)
    .map(cellText)
    .join(' ');
  const where =
    details['host'] === undefined
      ? ''
      : ` at ${cellText(details['host'])}${details['port'] === undefined ? '' : `:${cellText(details['port'])}`}`;
  const make = (
    code: 'TENDRIL_E_DB_CONNECT' | 'TENDRIL_E_DB_AUTH' | 'TENDRIL_E_DB_PERMISSION' | 'TENDRIL_E_DB_QUERY',
    message: string,
  ) => new TendrilError(code, message, { cause: err, details });

  for (const link of links) {
    const code = text(link.code);
    const errno = num(link.errno) ?? num(link.number);
    // pg DatabaseError: `code` is the SQLSTATE and `severity` is set.
    const pgState = text(link.severity) !== undefined ? code : undefined;
    if (
      (errno !== undefined && MYSQL_AUTH.has(errno) && code?.startsWith('ER_')) ||
      (pgState !== undefined && PG_AUTH.has(pgState)) ||
      code === 'ELOGIN' ||
      (errno !== undefined && MSSQL_AUTH.has(errno))
    ) {
      return make(
        'TENDRIL_E_DB_AUTH',
        `The database refused the login (${label}). Check the user name and password in the connection's database settings, and that the user may connect from this host and open the database.`,
      );
    }
    if (
      (errno !== undefined && MYSQL_PERMISSION.has(errno) && code?.startsWith('ER_')) ||
      pgState === '42501' ||
      (errno !== undefined && MSSQL_PERMISSION.has(errno) && code === 'EREQUEST')
    ) {
      return make(
        'TENDRIL_E_DB_PERMISSION',
        `The database user lacks a permission it needs (${label}). Grant it SELECT on every table the connector reads (the connector's grant list), then retry.`,
      );
    }
    if (code === 'ER_BAD_DB_ERROR' || pgState === '3D000') {
      return make(
        'TENDRIL_E_DB_CONNECT',
        `The database named in the connection settings does not exist on the server${where} (${label}). Check the database name.`,
      );
    }
    if (
      (code !== undefined && CONNECT_CODES.has(code)) ||
      (pgState !== undefined && (pgState.startsWith('08') || pgState === '57P03')) ||
      text(link.name) === 'KnexTimeoutError' ||
      // pg reports a dropped socket without a code; the message itself is not copied.
      (link instanceof Error && link.message.startsWith('Connection terminated'))
    ) {
      return make(
        'TENDRIL_E_DB_CONNECT',
        `Could not reach the database server${where} (${label || 'timeout'}). Check the host, port and instance in the connection settings, that the server is running, and that a firewall allows the connection.`,
      );
    }
  }
  return make(
    'TENDRIL_E_DB_QUERY',
    `A query against the database failed${label ? ` (${label})` : ''}. Check that the connector's tables and columns exist in this database version; the full driver error is kept locally as the cause.`,
  );
}
