import type { DatabaseConfig } from '@tendril/core';
import { resolveDatabase, type Dialect } from '@tendril/sql';

/**
 * Where a connection's database is, in the terms a person checks by hand: host, port, user and
 * database name. Never the password. ODBC connections hide these inside the driver's connection
 * string, so for them only the dialect is known.
 */
export interface DatabaseTarget {
  readonly dialect: Dialect;
  readonly odbc: boolean;
  readonly host?: string;
  readonly port?: number;
  readonly instance?: string;
  readonly user?: string;
  readonly domain?: string;
  readonly database?: string;
  readonly filename?: string;
  /** mssql: TDS encryption requested. */
  readonly encrypt?: boolean;
  /** mysql: `database.tls` is set (TLS requested). */
  readonly tls?: boolean;
  /** The same database config without the database name: for a login-only connection. */
  readonly withoutDatabase?: DatabaseConfig;
}

/** Default ports, for hints. */
export const DEFAULT_PORTS: Record<Exclude<Dialect, 'sqlite'>, number> = {
  mysql: 3306,
  mssql: 1433,
  postgres: 5432,
};

interface ConnectionFields {
  host?: string;
  server?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  domain?: string;
  filename?: string;
  options?: { encrypt?: boolean; trustServerCertificate?: boolean; instanceName?: string };
}

/** Reads the target out of a database config (URL or parts) through the same resolver the agent uses. */
export function describeTarget(db: DatabaseConfig): DatabaseTarget {
  if ('odbc' in db) return { dialect: db.dialect, odbc: true };
  const { dialect, knexConfig } = resolveDatabase(db);
  const c = (knexConfig.connection ?? {}) as ConnectionFields;
  const host = c.host ?? c.server;
  const instance = c.options?.instanceName;
  const port = dialect === 'sqlite' ? undefined : (c.port ?? (instance ? undefined : DEFAULT_PORTS[dialect]));
  const withoutDatabase: DatabaseConfig | undefined =
    dialect === 'sqlite'
      ? undefined
      : {
          dialect,
          ...(host ? { host } : {}),
          ...(c.port ? { port: c.port } : {}),
          ...(instance ? { instance } : {}),
          ...(c.user ? { user: c.user } : {}),
          ...(c.password !== undefined ? { password: c.password } : {}),
          ...(c.domain ? { domain: c.domain } : {}),
          ...(c.options?.encrypt !== undefined ? { encrypt: c.options.encrypt } : {}),
          ...(c.options?.trustServerCertificate !== undefined
            ? { trustServerCertificate: c.options.trustServerCertificate }
            : {}),
          ...(db.tls ? { tls: db.tls } : {}),
        };
  return {
    dialect,
    odbc: false,
    ...(host ? { host } : {}),
    ...(port ? { port } : {}),
    ...(instance ? { instance } : {}),
    ...(c.user ? { user: c.user } : {}),
    ...(c.domain ? { domain: c.domain } : {}),
    ...(c.database ? { database: c.database } : {}),
    ...(c.filename ? { filename: c.filename } : {}),
    ...(dialect === 'mssql' ? { encrypt: c.options?.encrypt ?? true } : {}),
    ...(dialect === 'mysql' ? { tls: db.tls !== undefined } : {}),
    ...(withoutDatabase ? { withoutDatabase } : {}),
  };
}

/** `user` or `DOMAIN\user`, for messages. */
export function userLabel(target: DatabaseTarget): string {
  if (!target.user) return '(no user name)';
  return target.domain ? `${target.domain}\\${target.user}` : target.user;
}
