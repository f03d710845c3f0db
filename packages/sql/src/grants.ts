import { tablesRead, tablesWritten, TendrilError, type ConnectorDefinition } from '@tendril/core';

/**
 * `tendril grants`: the least-privilege login script derived from a connector's declarations
 * (docs/adding-a-connector.md, "Provisional connectors (no public schema)", step 5: read rights only —
 * narrower even than SQL Server's `db_datareader`, which reads every table). SELECT on exactly the tables the
 * streams read (main tables, joins, delete logs); on SQL Server also VIEW CHANGE TRACKING on the main tables,
 * so change tracking is used when the DBA has enabled it (docs/sync-semantics.md, "Change-detection modes":
 * `change-tracking`). With `writeback`, INSERT/UPDATE on exactly the tables the connector's `sql` writeback
 * path declares (`defineWriteback`), or a note when it has none.
 */

export const GRANT_DIALECTS = ['mysql', 'mssql'] as const;
export type GrantDialect = (typeof GRANT_DIALECTS)[number];

export interface GrantsInput {
  readonly connector: ConnectorDefinition;
  readonly dialect: GrantDialect;
  /** The login/user to create. */
  readonly user: string;
  /** The password to set. Callers generate one when the operator gives none. */
  readonly password: string;
  /** The EHR database: MySQL grants are qualified with it; SQL Server adds `USE [db]`. */
  readonly database?: string;
  /** MySQL host part of the account. Default `%`. */
  readonly host?: string;
  /** SQL Server schema of unqualified table names. Default `dbo`. */
  readonly schema?: string;
  /** Also grant what the connector's sql writeback path writes (or a note when it has none). */
  readonly writeback?: boolean;
  /** SQL Server: grant VIEW CHANGE TRACKING on the main tables. Default true. */
  readonly changeTracking?: boolean;
}

export interface GrantsScript {
  readonly script: string;
  /** Every table granted SELECT, as named in the script's order (sorted). */
  readonly selectTables: readonly string[];
  /** Tables granted VIEW CHANGE TRACKING (SQL Server). */
  readonly changeTrackingTables: readonly string[];
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const HOST = /^[A-Za-z0-9_.%:-]{1,255}$/;
const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

function usage(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_USAGE', message, { details });
}

/** A MySQL string literal: quotes and backslashes escaped (NO_BACKSLASH_ESCAPES-safe: no other escapes used). */
function mysqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function mysqlName(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

function mssqlString(value: string): string {
  return `N'${value.replace(/'/g, "''")}'`;
}

function mssqlName(name: string): string {
  return `[${name.replace(/]/g, ']]')}]`;
}

function checkName(value: string, what: string): void {
  if (!PLAIN.test(value))
    throw usage(`${what} "${value}" must be a plain identifier (letters, digits, _)`, { what });
}

/** Main tables of streams whose reads could use SQL Server change tracking (timestamp and snapshot). */
function changeTrackingCandidates(connector: ConnectorDefinition): string[] {
  const tables = new Set<string>();
  for (const table of Object.values(connector.streams)) {
    switch (table.cursor.mode) {
      case 'timestamp':
      case 'snapshot':
        tables.add(table.table);
        break;
      case 'window':
        // Window streams read by business date; CT is not a rung for them.
        break;
      default:
        throw new Error(`unreachable cursor mode ${JSON.stringify(table.cursor satisfies never)}`);
    }
  }
  return [...tables].sort();
}

/** Every table any stream reads, sorted, each once. */
export function grantTables(connector: ConnectorDefinition): string[] {
  return [...new Set(Object.values(connector.streams).flatMap((t) => tablesRead(t)))].sort();
}

function header(input: GrantsInput, selectCount: number): string[] {
  const { connector } = input;
  return [
    `-- Tendril least-privilege login for connector ${connector.id} (${connector.displayName} ${connector.versions.join(', ')}).`,
    `-- Verification of this connector: ${connector.verification.level} (${connector.verification.against}).`,
    `-- Generated from the connector's declarations: SELECT on exactly the ${selectCount} tables its streams read, nothing else.`,
  ];
}

function writebackNote(input: GrantsInput): string[] {
  if (!input.writeback) return [];
  if (writebackGrants(input.connector).length > 0) {
    return [
      `-- --writeback: plus INSERT/UPDATE on exactly the tables the connector's sql writeback path writes (docs/writeback.md, "Configuration").`,
      '-- Give writes their own login (connections[].writeback.database) where you can; the read login then stays read-only.',
    ];
  }
  return [
    `-- --writeback: no writeback handlers declared for ${input.connector.id} in this version, so no INSERT or UPDATE right is granted.`,
  ];
}

/** The write rights of the connector's `sql` writeback path: table → rights, sorted (empty without one). */
export function writebackGrants(connector: ConnectorDefinition): { table: string; rights: string[] }[] {
  return [...tablesWritten(connector.writeback, connector.streams)]
    .map(([table, rights]) => ({ table, rights: [...rights].sort() }))
    .sort((a, b) => a.table.localeCompare(b.table));
}

/** The MySQL/MariaDB script: CREATE USER, then one GRANT SELECT per table. */
function mysqlScript(input: GrantsInput, tables: readonly string[]): string {
  const account = `${mysqlString(input.user)}@${mysqlString(input.host ?? '%')}`;
  if (input.database !== undefined) checkName(input.database, 'database');
  const qualified = (table: string) => {
    const [first, second] = table.split('.');
    if (second !== undefined) return `${mysqlName(first as string)}.${mysqlName(second)}`;
    return input.database !== undefined
      ? `${mysqlName(input.database)}.${mysqlName(table)}`
      : mysqlName(table);
  };
  return [
    ...header(input, tables.length),
    ...(input.database === undefined
      ? ['-- Run it in the EHR database (mysql <database> < this-file): table names are unqualified.']
      : []),
    ...writebackNote(input),
    `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${mysqlString(input.password)};`,
    ...tables.map((table) => `GRANT SELECT ON ${qualified(table)} TO ${account};`),
    ...(input.writeback
      ? writebackGrants(input.connector).map(
          (w) => `GRANT ${w.rights.join(', ')} ON ${qualified(w.table)} TO ${account};`,
        )
      : []),
    '',
  ].join('\n');
}

/** The SQL Server script: CREATE LOGIN, USE, CREATE USER, GRANT SELECT / VIEW CHANGE TRACKING per table. */
function mssqlScript(input: GrantsInput, tables: readonly string[], ctTables: readonly string[]): string {
  const schema = input.schema ?? 'dbo';
  checkName(schema, 'schema');
  if (input.database !== undefined) checkName(input.database, 'database');
  const user = mssqlName(input.user);
  const qualified = (table: string) => {
    const [first, second] = table.split('.');
    return second !== undefined
      ? `${mssqlName(first as string)}.${mssqlName(second)}`
      : `${mssqlName(schema)}.${mssqlName(table)}`;
  };
  return [
    ...header(input, tables.length),
    '-- Narrower than db_datareader (which reads every table) and far from the db_owner some vendors ask for.',
    ...(ctTables.length > 0
      ? [
          '-- VIEW CHANGE TRACKING lets Tendril use change tracking where the DBA has enabled it; harmless where it is off.',
        ]
      : []),
    ...writebackNote(input),
    `CREATE LOGIN ${user} WITH PASSWORD = ${mssqlString(input.password)}, CHECK_POLICY = ON;`,
    'GO',
    ...(input.database !== undefined
      ? [`USE ${mssqlName(input.database)};`, 'GO']
      : ['-- Run the rest in the EHR database (USE <database>).']),
    `CREATE USER ${user} FOR LOGIN ${user};`,
    'GO',
    ...tables.map((table) => `GRANT SELECT ON ${qualified(table)} TO ${user};`),
    ...ctTables.map((table) => `GRANT VIEW CHANGE TRACKING ON ${qualified(table)} TO ${user};`),
    ...(input.writeback
      ? writebackGrants(input.connector).map(
          (w) => `GRANT ${w.rights.join(', ')} ON ${qualified(w.table)} TO ${user};`,
        )
      : []),
    'GO',
    '',
  ].join('\n');
}

/** Builds the least-privilege script for a connector and dialect. */
export function grantsScript(input: GrantsInput): GrantsScript {
  if (!USER_NAME.test(input.user))
    throw usage('--user must be 1–64 characters of letters, digits, _, . and -, starting with a letter or _');
  if (input.host !== undefined && !HOST.test(input.host))
    throw usage('--host must be a host name, address or pattern such as % or 10.0.0.%');
  if (input.password.length === 0) throw usage('the password must not be empty');
  const tables = grantTables(input.connector);
  switch (input.dialect) {
    case 'mysql':
      return { script: mysqlScript(input, tables), selectTables: tables, changeTrackingTables: [] };
    case 'mssql': {
      const ct = input.changeTracking === false ? [] : changeTrackingCandidates(input.connector);
      return { script: mssqlScript(input, tables, ct), selectTables: tables, changeTrackingTables: ct };
    }
    default:
      throw usage(`--dialect must be one of ${GRANT_DIALECTS.join(', ')}`, {
        dialect: input.dialect satisfies never,
      });
  }
}
