import { access } from 'node:fs/promises';
import {
  cellText,
  tablesRead,
  type ConnectionConfig,
  type ConnectorDefinition,
  type TendrilError,
} from '@tendril/core';
import { streamsOf } from '@tendril/scheduler';
import { classifyDbError, openSqlClient, type SqlClient } from '@tendril/sql';
import { probeDns, probeTcp } from './network.js';
import {
  actualColumns,
  compareSchema,
  declaredColumns,
  readFingerprints,
  schemaDrift,
  streamTables,
  writeFingerprint,
} from './schema-fingerprint.js';
import { DEFAULT_PORTS, describeTarget, userLabel, type DatabaseTarget } from './target.js';

/** The steps, in the order they run: each needs the one before it. */
export const CHECK_STEPS = ['dns', 'tcp', 'tls', 'login', 'database', 'read-rights', 'schema'] as const;
export type CheckStepName = (typeof CHECK_STEPS)[number];

export const CHECK_STATUSES = ['ok', 'warning', 'failed', 'skipped'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** One finding inside a step (a table without the SELECT right, a missing column). */
export interface CheckItem {
  readonly subject: string;
  readonly message: string;
  readonly fix?: string;
}

export interface CheckStepResult {
  readonly step: CheckStepName;
  readonly status: CheckStatus;
  /** What was found, in plain words. Never a password or a row value. */
  readonly message: string;
  /** What to do about it. */
  readonly fix?: string;
  readonly items?: readonly CheckItem[];
  /** The driver's error code (ER_ACCESS_DENIED_ERROR 1045, ENOTFOUND…), for support. */
  readonly errorCode?: string;
}

export interface ConnectionCheck {
  readonly id: string;
  readonly connector: string;
  readonly target: Omit<DatabaseTarget, 'withoutDatabase'>;
  readonly steps: CheckStepResult[];
}

export interface CheckOptions {
  /** TCP connect timeout; default 5 s. */
  readonly timeoutMs?: number;
  /** Where the schema fingerprint is stored for drift detection; omitted: not stored. */
  readonly fingerprintFile?: string;
  readonly now?: () => Date;
}

interface DriverFacts {
  readonly coded: TendrilError;
  readonly label: string;
  readonly code: string | undefined;
  readonly errno: number | undefined;
  readonly looksLikeTls: boolean;
}

function factsOf(error: unknown): DriverFacts {
  const coded = classifyDbError(error);
  const d = coded.details ?? {};
  const code = typeof d['code'] === 'string' ? d['code'] : undefined;
  const errno = typeof d['errno'] === 'number' ? d['errno'] : undefined;
  const label = [code, errno, d['sqlState']]
    .filter((v) => v !== undefined)
    .map(cellText)
    .join(' ');
  // Only classified here, never printed: driver messages can quote values.
  let looksLikeTls = false;
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error && /certificate|self[- ]signed|\bSSL\b|\bTLS\b|handshake/i.test(e.message))
      looksLikeTls = true;
  }
  return { coded, label, code, errno, looksLikeTls };
}

const quoteMysql = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/** The GRANT a database admin runs so the user can read `table`. */
function grantFor(target: DatabaseTarget, table: string, mysqlAccount: string | undefined): string {
  const user = target.user ?? '<the agent user>';
  switch (target.dialect) {
    case 'mysql':
      return `GRANT SELECT ON ${target.database ? `${quoteMysql(target.database)}.` : ''}${quoteMysql(table)} TO ${mysqlAccount ?? `'${user}'@'%'`};`;
    case 'mssql':
      return `USE [${target.database ?? '<database>'}]; GRANT SELECT ON dbo.[${table}] TO [${userLabel(target)}];`;
    case 'postgres':
      return `GRANT SELECT ON "${table}" TO "${user}";`;
    case 'sqlite':
      return `make the file readable by the service's user (SQLite has no grants)`;
    default:
      throw new Error(`unreachable dialect ${target.dialect satisfies never}`);
  }
}

/** `'user'@'host'` from MySQL's CURRENT_USER() (`user@host`). */
function mysqlAccountOf(currentUser: unknown): string | undefined {
  if (typeof currentUser !== 'string' || !currentUser.includes('@')) return undefined;
  const at = currentUser.lastIndexOf('@');
  return `'${currentUser.slice(0, at)}'@'${currentUser.slice(at + 1)}'`;
}

function skip(step: CheckStepName, message: string): CheckStepResult {
  return { step, status: 'skipped', message };
}

function dnsFailure(host: string, code: string): CheckStepResult {
  return {
    step: 'dns',
    status: 'failed',
    errorCode: code,
    message: `the server name "${host}" did not resolve (${code}): this machine cannot find a server by that name`,
    fix: `check the spelling of the server name; try the server's IP address instead of the name (or the reverse); "nslookup ${host}" on this machine must answer`,
  };
}

function tcpFailure(target: DatabaseTarget, host: string, port: number, code: string): CheckStepResult {
  const usual = target.dialect === 'sqlite' ? '' : ` (the usual port is ${DEFAULT_PORTS[target.dialect]})`;
  switch (code) {
    case 'ECONNREFUSED':
      return {
        step: 'tcp',
        status: 'failed',
        errorCode: code,
        message: `nothing accepted a connection on ${host}:${port} (connection refused): no database is listening on that port there`,
        fix: `check the port number${usual}, that the database service is running on ${host}, and that it listens on the network and not only on localhost (MySQL/MariaDB: bind-address; SQL Server: TCP/IP enabled in SQL Server Configuration Manager)`,
      };
    case 'ETIMEDOUT':
      return {
        step: 'tcp',
        status: 'failed',
        errorCode: code,
        message: `${host}:${port} did not answer in time: a firewall is probably dropping the connection, or the address is wrong`,
        fix: `allow TCP port ${port} from this machine in the database server's firewall (Windows Defender Firewall → Inbound rules), and check the address`,
      };
    default:
      return {
        step: 'tcp',
        status: 'failed',
        errorCode: code,
        message: `could not open a connection to ${host}:${port} (${code}): this machine has no network route to that server`,
        fix: `check the server address, this machine's network connection and any VPN; try the IP address instead of the name (or the reverse)`,
      };
  }
}

function loginFailure(target: DatabaseTarget, facts: DriverFacts): CheckStepResult {
  const who = userLabel(target);
  const where = `${target.host ?? 'the server'}${target.port ? `:${target.port}` : ''}`;
  if (facts.coded.code === 'TENDRIL_E_DB_AUTH') {
    const fix =
      target.dialect === 'mssql'
        ? target.domain
          ? `check the Windows account's password (run \`tendril init\` again to store a new one) and that the account has a login on this SQL Server`
          : `check the password (run \`tendril init\` again to store a new one), and that SQL Server accepts SQL logins (server properties → Security → "SQL Server and Windows Authentication mode")`
        : target.dialect === 'mysql'
          ? `check the password (run \`tendril init\` again to store a new one); the user must also be allowed to connect from this machine: as an admin, SELECT user, host FROM mysql.user WHERE user = '${target.user ?? ''}' must show this machine's address or %`
          : `check the password (run \`tendril init\` again to store a new one) and pg_hba.conf on the server for this machine's address`;
    return {
      step: 'login',
      status: 'failed',
      errorCode: facts.label,
      message: `the database refused user "${who}" at ${where} (${facts.label}): the password is wrong, or this user may not log in from this machine`,
      fix,
    };
  }
  return {
    step: 'login',
    status: 'failed',
    errorCode: facts.label || facts.coded.code,
    message: `the server at ${where} accepted the network connection but the database login did not complete (${facts.label || 'timeout'})`,
    fix: `check that ${where} is the database's port and not another service's, and that the database service is healthy; then run the check again`,
  };
}

/** The names SHOW DATABASES gives this user (the system schemas left out). */
async function mysqlVisibleDatabases(client: SqlClient): Promise<string[] | undefined> {
  try {
    const rows = await client.execute(client.knex.raw('SHOW DATABASES'));
    return rows
      .map((r) => cellText(r['Database'] ?? Object.values(r)[0]))
      .filter(
        (name) => name !== '' && !['information_schema', 'performance_schema', 'mysql', 'sys'].includes(name),
      );
  } catch {
    return undefined;
  }
}

/** Levenshtein distance, for "did you mean" on database names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function databaseFailure(
  target: DatabaseTarget,
  facts: DriverFacts,
  mysqlAccount: string | undefined,
  visibleDatabases?: readonly string[],
): CheckStepResult {
  const db = target.database ?? '(none)';
  const who = userLabel(target);
  // MySQL answers "access denied" for a database that does not exist when the user may not see it,
  // so the grant advice alone would send a database admin after the wrong fix.
  if (target.dialect === 'mysql' && visibleDatabases && !visibleDatabases.includes(db)) {
    const near = visibleDatabases.filter(
      (name) =>
        name.toLowerCase() === db.toLowerCase() || distance(name.toLowerCase(), db.toLowerCase()) <= 2,
    );
    return {
      step: 'database',
      status: 'failed',
      errorCode: facts.label,
      message: `the database "${db}" does not exist on ${target.host ?? 'the server'}, or user "${who}" has no right at all in it (MySQL does not tell the two apart); databases this user can see: ${visibleDatabases.join(', ') || '(none)'}${near.length ? ` — did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : ''}`,
      fix: `check the database name in the config (connections[].database)${near.length ? `: probably "${near[0]}"` : ''}; if the name is right, a database admin creates it or grants the user SELECT on its tables (tendril grants --connector <id> --dialect mysql --database ${db})`,
    };
  }
  if (
    facts.code === 'ER_BAD_DB_ERROR' ||
    facts.coded.details?.['sqlState'] === '3D000' ||
    facts.code === '3D000'
  ) {
    return {
      step: 'database',
      status: 'failed',
      errorCode: facts.label,
      message: `the database "${db}" does not exist on ${target.host ?? 'the server'}`,
      fix: `check the database name in the config (Open Dental's is usually "opendental"); a database admin can list them with SHOW DATABASES (MySQL) or in SQL Server Management Studio`,
    };
  }
  if (target.dialect === 'mssql') {
    return {
      step: 'database',
      status: 'failed',
      errorCode: facts.label,
      message: `user "${who}" logged in but cannot open the database "${db}" (${facts.label}): it does not exist, or the login is not mapped to it`,
      fix: `check the database name; in SQL Server Management Studio: Security → Logins → ${who} → User Mapping → tick "${db}"`,
    };
  }
  return {
    step: 'database',
    status: 'failed',
    errorCode: facts.label,
    message: `user "${who}" logged in but may not open the database "${db}" (${facts.label}): the name is wrong, or the user has no rights on that database`,
    fix:
      target.dialect === 'mysql'
        ? `check the database name in the config; if it is right, as a database admin: GRANT SELECT ON ${quoteMysql(db)}.* TO ${mysqlAccount ?? `'${target.user ?? ''}'@'%'`}; (or grant table by table: tendril check lists the tables)`
        : `grant the user CONNECT on the database and SELECT on the connector's tables`,
  };
}

/** The TLS state of a MySQL/MariaDB session: the negotiated protocol and cipher, if any, and whether the server offers TLS. */
async function mysqlSessionTls(
  client: SqlClient,
): Promise<{ version?: string; cipher?: string; serverSupportsTls: boolean }> {
  const value = async (sql: string, name: string) => {
    const rows = await client.execute(client.knex.raw(sql, [name]));
    const v = rows[0]?.['Value'];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const version = await value('SHOW SESSION STATUS LIKE ?', 'Ssl_version');
  const cipher = await value('SHOW SESSION STATUS LIKE ?', 'Ssl_cipher');
  const haveSsl = await value('SHOW VARIABLES LIKE ?', 'have_ssl');
  return {
    ...(version ? { version } : {}),
    ...(cipher ? { cipher } : {}),
    serverSupportsTls: version !== undefined || haveSsl === 'YES',
  };
}

const MISSING_TABLE_CODES = new Set(['ER_NO_SUCH_TABLE', '42P01', 'SQLITE_ERROR']);

async function closeQuietly(client: SqlClient | undefined): Promise<void> {
  try {
    await client?.close();
  } catch {
    // Closing a pool that never connected can fail; nothing to do.
  }
}

/**
 * Walks one connection from the network to the schema: DNS → TCP → TLS → login → database →
 * SELECT right on every table the configured streams read → schema fingerprint. Each failure is
 * explained in plain words with the fix (wrong host, wrong password, missing grant…); the steps
 * after a failure are skipped, except that every table is checked so all missing grants are listed
 * at once. Uses the agent's real drivers.
 */
export async function checkConnection(
  connection: ConnectionConfig,
  connector: ConnectorDefinition,
  options: CheckOptions = {},
): Promise<ConnectionCheck> {
  const steps: CheckStepResult[] = [];
  let target: DatabaseTarget;
  try {
    target = describeTarget(connection.database);
  } catch (error) {
    const coded = classifyDbError(error);
    return {
      id: connection.id,
      connector: connector.id,
      target: { dialect: 'mysql', odbc: false },
      steps: [
        {
          step: 'dns',
          status: 'failed',
          message: `the database settings cannot be used: ${coded.message}`,
          fix: 'correct connections[].database in the config',
          errorCode: coded.code,
        },
      ],
    };
  }
  const { withoutDatabase, ...publicTarget } = target;
  const result: ConnectionCheck = { id: connection.id, connector: connector.id, target: publicTarget, steps };
  const skipRest = (after: CheckStepName, why: string) => {
    for (const step of CHECK_STEPS.slice(CHECK_STEPS.indexOf(after) + 1)) steps.push(skip(step, why));
  };

  // Network: DNS, TCP, TLS.
  if (target.dialect === 'sqlite' || target.odbc) {
    const why = target.odbc
      ? 'not checked: an ODBC connection string (or DSN) names the server only to its driver, so Tendril cannot test the network on its own; the login step below connects through the driver'
      : 'a SQLite file: no network';
    steps.push(skip('dns', why), skip('tcp', why), skip('tls', why));
  } else {
    const host = target.host ?? '127.0.0.1';
    const dns = await probeDns(host);
    if (!dns.ok) {
      steps.push(dnsFailure(host, dns.code));
      skipRest('dns', 'skipped: the server name did not resolve');
      return result;
    }
    steps.push({ step: 'dns', status: 'ok', message: dns.detail });
    if (target.port === undefined) {
      steps.push(
        skip(
          'tcp',
          `named instance "${target.instance ?? ''}": SQL Server Browser (UDP 1434) gives the port; reached during login`,
        ),
      );
    } else {
      const tcp = await probeTcp(host, target.port, options.timeoutMs ?? 5_000);
      if (!tcp.ok) {
        steps.push(tcpFailure(target, host, target.port, tcp.code));
        skipRest('tcp', 'skipped: the server could not be reached');
        return result;
      }
      steps.push({ step: 'tcp', status: 'ok', message: tcp.detail });
    }
  }
  const tlsIndex = steps.length;
  if (!(target.dialect === 'sqlite' || target.odbc)) {
    steps.push(
      target.dialect === 'mssql'
        ? target.encrypt
          ? {
              step: 'tls',
              status: 'ok',
              message:
                'encryption requested; negotiated inside the SQL Server login (checked with the login)',
            }
          : {
              step: 'tls',
              status: 'warning',
              message:
                'encryption is turned off (encrypt: false): the login and data cross the network unencrypted',
              fix: 'set encrypt: true (and trustServerCertificate: true for a self-signed server certificate)',
            }
        : target.dialect === 'mysql' && target.tls
          ? { step: 'tls', status: 'ok', message: 'TLS requested (database.tls); negotiated with the login' }
          : skip(
              'tls',
              target.dialect === 'mysql'
                ? 'not requested: the MySQL/MariaDB connection is unencrypted; to encrypt it, set database.tls (docs/configuration.md)'
                : "not requested: Tendril's PostgreSQL connection is unencrypted on the practice network",
            ),
    );
  }
  // MySQL/MariaDB: what the login negotiated, from the session itself (Ssl_version, Ssl_cipher).
  const reportMysqlTls = async (session: SqlClient) => {
    if (target.dialect !== 'mysql' || target.odbc) return;
    const status = await mysqlSessionTls(session).catch(() => undefined);
    if (!status) return;
    if (target.tls) {
      const tls = 'tls' in connection.database ? connection.database.tls : undefined;
      const verified = tls?.rejectUnauthorized !== false;
      steps[tlsIndex] = !status.version
        ? {
            step: 'tls',
            status: 'failed',
            message: 'TLS was requested (database.tls) but the session is not encrypted',
            fix: 'enable TLS on the database server (MariaDB/MySQL: ssl_cert, ssl_key, ssl_ca), then run the check again',
          }
        : verified
          ? {
              step: 'tls',
              status: 'ok',
              message: `TLS negotiated: ${status.version}, ${status.cipher ?? 'cipher unknown'}; the server's certificate was verified`,
            }
          : {
              step: 'tls',
              status: 'warning',
              message: `TLS negotiated: ${status.version}, ${status.cipher ?? 'cipher unknown'}; the server's certificate is NOT verified (rejectUnauthorized: false)`,
              fix: "give the CA that signed the server's certificate as database.tls.ca and remove rejectUnauthorized: false",
            };
    } else if (status.serverSupportsTls) {
      steps[tlsIndex] = skip(
        'tls',
        'not requested: the MySQL/MariaDB connection is unencrypted although the server offers TLS; to encrypt it, set database.tls (docs/configuration.md)',
      );
    }
  };

  // Login (without the database, so a wrong database name is told apart from a refused login).
  let loginClient: SqlClient | undefined;
  let client: SqlClient | undefined;
  let mysqlAccount: string | undefined;
  // MySQL/MariaDB: the databases this user can see, to tell a wrong database name from missing rights.
  let visibleDatabases: string[] | undefined;
  try {
    if (target.dialect === 'sqlite' && !target.odbc) {
      try {
        if (!target.filename) throw new Error('no file name');
        if (target.filename !== ':memory:') await access(target.filename);
        steps.push({ step: 'login', status: 'ok', message: `the SQLite file ${target.filename} exists` });
      } catch {
        steps.push({
          step: 'login',
          status: 'failed',
          message: `the SQLite file ${target.filename ?? ''} does not exist or cannot be read`,
          fix: 'check the path in connections[].database and the file permissions',
        });
        skipRest('login', 'skipped: the database file is missing');
        return result;
      }
    } else if (target.odbc || target.dialect === 'postgres' || !withoutDatabase) {
      // One connection does both: PostgreSQL checks the password before the database name.
      client = openSqlClient(connection.database, { pool: { min: 0, max: 1 } });
      try {
        await client.execute(client.knex.raw('SELECT 1 AS ok'));
        steps.push({
          step: 'login',
          status: 'ok',
          message: target.odbc
            ? 'connected through the ODBC driver (it also reached the server: the network is fine)'
            : `logged in as "${userLabel(target)}"`,
        });
        await reportMysqlTls(client);
      } catch (error) {
        const facts = factsOf(error);
        if (facts.coded.details?.['sqlState'] === '3D000' || facts.code === '3D000') {
          steps.push({ step: 'login', status: 'ok', message: `logged in as "${userLabel(target)}"` });
          steps.push(databaseFailure(target, facts, undefined));
          skipRest('database', 'skipped: the database cannot be opened');
          return result;
        }
        steps.push(loginFailure(target, facts));
        skipRest('login', 'skipped: the login failed');
        return result;
      }
    } else {
      loginClient = openSqlClient(withoutDatabase, { pool: { min: 0, max: 1 } });
      try {
        const rows = await loginClient.execute(
          loginClient.knex.raw(
            target.dialect === 'mysql' ? 'SELECT CURRENT_USER() AS who' : 'SELECT 1 AS ok',
          ),
        );
        mysqlAccount = target.dialect === 'mysql' ? mysqlAccountOf(rows[0]?.['who']) : undefined;
        await reportMysqlTls(loginClient);
        if (target.dialect === 'mysql') visibleDatabases = await mysqlVisibleDatabases(loginClient);
        steps.push({
          step: 'login',
          status: 'ok',
          message: `logged in as "${userLabel(target)}"${mysqlAccount ? ` (account ${mysqlAccount})` : ''}`,
        });
      } catch (error) {
        const facts = factsOf(error);
        if (
          target.dialect === 'mysql' &&
          target.tls &&
          (facts.looksLikeTls || facts.code?.startsWith('HANDSHAKE_'))
        ) {
          steps[tlsIndex] = {
            step: 'tls',
            status: 'failed',
            errorCode: facts.label || facts.code || 'TLS',
            message:
              facts.code === 'HANDSHAKE_NO_SSL_SUPPORT'
                ? `the server at ${target.host ?? 'the server'} does not offer TLS, but database.tls asks for it`
                : `the TLS handshake with ${target.host ?? 'the server'} failed (${facts.label || 'certificate'}): the server's certificate is not trusted, or does not name this host`,
            fix:
              facts.code === 'HANDSHAKE_NO_SSL_SUPPORT'
                ? 'enable TLS on the database server (ssl_cert, ssl_key, ssl_ca), or remove database.tls'
                : "give the CA that signed the server's certificate as database.tls.ca (a PEM file); if the certificate names another host, set database.tls.servername to that name",
          };
          skipRest('tls', 'skipped: the encrypted connection failed');
          return result;
        }
        if (target.dialect === 'mssql' && facts.looksLikeTls) {
          steps[tlsIndex] = {
            step: 'tls',
            status: 'failed',
            errorCode: facts.label,
            message: `the encrypted connection to ${target.host ?? 'the server'} failed (${facts.label}): the server's certificate is not trusted by this machine`,
            fix: 'install a certificate this machine trusts on the SQL Server, or (on a trusted practice network) set trustServerCertificate: true in the connection settings',
          };
          skipRest('tls', 'skipped: the encrypted connection failed');
          return result;
        }
        steps.push(loginFailure(target, facts));
        skipRest('login', 'skipped: the login failed');
        return result;
      } finally {
        await closeQuietly(loginClient);
        loginClient = undefined;
      }
    }

    // Database.
    if (!client) {
      client = openSqlClient(connection.database, { pool: { min: 0, max: 1 } });
      try {
        await client.execute(client.knex.raw('SELECT 1 AS ok'));
        steps.push({
          step: 'database',
          status: 'ok',
          message: `opened the database "${target.database ?? ''}"`,
        });
      } catch (error) {
        steps.push(databaseFailure(target, factsOf(error), mysqlAccount, visibleDatabases));
        skipRest('database', 'skipped: the database cannot be opened');
        return result;
      }
    } else {
      steps.push({
        step: 'database',
        status: 'ok',
        message: target.database ? `opened the database "${target.database}"` : 'opened the database',
      });
    }

    // Read rights: every table every configured stream reads.
    const streams = streamsOf(connection, connector);
    const tables = streamTables(connector, streams);
    const tableNames = [...new Set(tables.flatMap((t) => tablesRead(t)))];
    const denied: CheckItem[] = [];
    const absent: string[] = [];
    const readable: string[] = [];
    for (const table of tableNames) {
      try {
        await client.execute(client.knex.select(client.knex.raw('1 AS ok')).from(table).whereRaw('1 = 0'));
        readable.push(table);
      } catch (error) {
        const facts = factsOf(error);
        if (facts.coded.code === 'TENDRIL_E_DB_PERMISSION') {
          denied.push({
            subject: table,
            message: `user "${userLabel(target)}" cannot read table ${table} (${facts.label})`,
            fix: grantFor(target, table, mysqlAccount),
          });
        } else if (
          (facts.code && MISSING_TABLE_CODES.has(facts.code)) ||
          facts.errno === 208 ||
          facts.errno === 1146 ||
          // Through ODBC: SQLSTATE 42S02 (base table not found); the SQLite driver reports its
          // generic SQLITE_ERROR (1), as the native driver does (MISSING_TABLE_CODES).
          facts.coded.details?.['sqlState'] === '42S02' ||
          (target.odbc && target.dialect === 'sqlite' && facts.errno === 1)
        ) {
          absent.push(table);
        } else {
          denied.push({
            subject: table,
            message: `reading table ${table} failed (${facts.label || facts.coded.code})`,
            fix: 'run the check again; if it persists, send the log to support',
          });
        }
      }
    }
    if (denied.length > 0) {
      steps.push({
        step: 'read-rights',
        status: 'failed',
        message: `user "${userLabel(target)}" cannot read ${denied.length} of the ${tableNames.length} tables the connector reads: ${denied.map((d) => d.subject).join(', ')}`,
        fix: `as a database admin, run:\n${denied.map((d) => d.fix).join('\n')}`,
        items: denied,
      });
    } else {
      steps.push({
        step: 'read-rights',
        status: 'ok',
        message: `SELECT allowed on all ${readable.length} tables the connector reads${absent.length ? ` that exist (${absent.length} missing: see schema)` : ''}`,
      });
    }

    // Schema fingerprint, over the tables that can be read (the others were reported above).
    const declared = declaredColumns(tables);
    for (const table of [...declared.keys()]) if (!readable.includes(table)) declared.delete(table);
    const comparison = compareSchema(declared, await actualColumns(client, readable), client.dialect);
    const items: CheckItem[] = [
      ...absent.map((t) => ({
        subject: t,
        message: `table ${t} does not exist in the database "${target.database ?? ''}"`,
      })),
      ...comparison.missing.map((c) => ({ subject: c, message: `column ${c} does not exist` })),
    ];
    const versions = connector.versions.join(', ');
    let drift: string[] = [];
    // Only a complete reading is a fingerprint worth keeping: a missing grant would look like drift.
    if (options.fingerprintFile && denied.length === 0 && absent.length === 0) {
      const previous = (await readFingerprints(options.fingerprintFile))[connection.id];
      if (previous && previous.fingerprint !== comparison.fingerprint)
        drift = schemaDrift(previous.lines, comparison.lines);
      await writeFingerprint(options.fingerprintFile, connection.id, {
        connector: connector.id,
        fingerprint: comparison.fingerprint,
        checkedAt: (options.now?.() ?? new Date()).toISOString(),
        lines: comparison.lines,
      });
    }
    const short = comparison.fingerprint.slice(0, 12);
    if (items.length > 0) {
      steps.push({
        step: 'schema',
        status: 'failed',
        message: `${items.length} table${items.length === 1 ? '' : 's'}/column${items.length === 1 ? '' : 's'} the connector reads ${items.length === 1 ? 'is' : 'are'} missing: ${items.map((i) => i.subject).join(', ')} (fingerprint ${short})`,
        fix: `check that "${target.database ?? ''}" is the ${connector.displayName} database and its version is one the connector supports (${versions}); upgrade Tendril if the EHR was upgraded`,
        items,
      });
    } else if (comparison.typeDifferences.length > 0 || drift.length > 0) {
      steps.push({
        step: 'schema',
        status: 'warning',
        message: [
          `every column the connector reads exists (fingerprint ${short})`,
          ...(drift.length > 0
            ? [
                `the schema changed since the last check (${drift.length} column changes): ${drift.slice(0, 10).join('; ')}${drift.length > 10 ? '; …' : ''}`,
              ]
            : []),
          ...(comparison.typeDifferences.length > 0
            ? [`types differ from the connector's declarations: ${comparison.typeDifferences.join('; ')}`]
            : []),
        ].join('; '),
        fix: `usually harmless after an EHR update; if a sync fails afterwards, check the EHR version (${versions} supported)`,
      });
    } else {
      steps.push({
        step: 'schema',
        status: 'ok',
        message: `all ${comparison.lines.length} columns the connector reads exist (fingerprint ${short})`,
      });
    }
    return result;
  } finally {
    await closeQuietly(loginClient);
    await closeQuietly(client);
  }
}
