import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ConnectorDefinition, TableDefinition, TendrilConfig } from '@tendril/core';
import type { SqlClient } from '@tendril/sql';

/** Table → column → declared vendor type, across a stream's main, joined and delete-log tables. */
export type DeclaredColumns = Map<string, Map<string, string>>;

/** The columns the given streams read, per table (what `tablesRead` lists, with their declared types). */
export function declaredColumns(tables: readonly TableDefinition[]): DeclaredColumns {
  const out: DeclaredColumns = new Map();
  const add = (table: string, columns: Readonly<Record<string, string>>) => {
    const entry = out.get(table) ?? new Map<string, string>();
    for (const [column, type] of Object.entries(columns)) entry.set(column, type);
    out.set(table, entry);
  };
  for (const table of tables) {
    add(table.table, table.columns);
    for (const join of table.joins ?? []) add(join.table, join.columns);
    if (table.deleteLog) add(table.deleteLog.table, table.deleteLog.columns);
  }
  return out;
}

/** Columns as the server's INFORMATION_SCHEMA (or SQLite's table_info) reports them: table → lower-case column → type. */
export async function actualColumns(
  client: SqlClient,
  tables: readonly string[],
): Promise<Map<string, Map<string, string>>> {
  const { knex } = client;
  const out = new Map<string, Map<string, string>>();
  const put = (table: string, column: string, type: string) => {
    const key = tables.find((t) => t.toLowerCase() === table.toLowerCase()) ?? table;
    const entry = out.get(key) ?? new Map<string, string>();
    entry.set(column.toLowerCase(), type.toLowerCase());
    out.set(key, entry);
  };
  if (tables.length === 0) return out;
  switch (client.dialect) {
    case 'mysql': {
      const rows = await client.execute(
        knex
          .select('TABLE_NAME as t', 'COLUMN_NAME as c', 'COLUMN_TYPE as ty')
          .from('information_schema.COLUMNS')
          .whereRaw('TABLE_SCHEMA = DATABASE()')
          .whereIn('TABLE_NAME', [...tables]),
      );
      for (const row of rows) put(String(row['t']), String(row['c']), String(row['ty']));
      return out;
    }
    case 'mssql': {
      const rows = await client.execute(
        knex
          .select('TABLE_NAME as t', 'COLUMN_NAME as c', 'DATA_TYPE as ty')
          .from('INFORMATION_SCHEMA.COLUMNS')
          .whereRaw('TABLE_CATALOG = DB_NAME()')
          .whereIn('TABLE_NAME', [...tables]),
      );
      for (const row of rows) put(String(row['t']), String(row['c']), String(row['ty']));
      return out;
    }
    case 'postgres': {
      const rows = await client.execute(
        knex
          .select('table_name as t', 'column_name as c', 'data_type as ty')
          .from('information_schema.columns')
          .whereRaw('table_schema = current_schema()')
          .whereIn('table_name', [...tables]),
      );
      for (const row of rows) put(String(row['t']), String(row['c']), String(row['ty']));
      return out;
    }
    case 'sqlite': {
      for (const table of tables) {
        const rows = await client.execute(
          knex.raw('SELECT name AS c, type AS ty FROM pragma_table_info(?)', [table]),
        );
        for (const row of rows) put(table, String(row['c']), String(row['ty']));
      }
      return out;
    }
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}

export interface SchemaComparison {
  /** `table.column` the connector reads that the server does not have (or the user cannot see). */
  readonly missing: string[];
  /** MySQL only (declared types are MySQL column types): `table.column: declared → actual`. */
  readonly typeDifferences: string[];
  /** SHA-256 over the sorted `table.column:type` lines of the declared columns as found. */
  readonly fingerprint: string;
  /** The lines hashed, kept for drift reports (names and types only: no data). */
  readonly lines: string[];
}

/** Compares what the connector declares with what the server has. */
export function compareSchema(
  declared: DeclaredColumns,
  actual: Map<string, Map<string, string>>,
  dialect: SqlClient['dialect'],
): SchemaComparison {
  const missing: string[] = [];
  const typeDifferences: string[] = [];
  const lines: string[] = [];
  for (const [table, columns] of declared) {
    const found = actual.get(table);
    for (const [column, declaredType] of columns) {
      const actualType = found?.get(column.toLowerCase());
      if (actualType === undefined) {
        missing.push(`${table}.${column}`);
        lines.push(`${table}.${column}:MISSING`);
        continue;
      }
      lines.push(`${table}.${column}:${actualType}`);
      if (dialect === 'mysql' && normalizeType(declaredType) !== normalizeType(actualType)) {
        typeDifferences.push(`${table}.${column}: declared ${declaredType}, server has ${actualType}`);
      }
    }
  }
  lines.sort();
  const fingerprint = createHash('sha256').update(lines.join('\n')).digest('hex');
  return { missing, typeDifferences, fingerprint, lines };
}

/** Lower-case, single spaces, and no integer display width (MariaDB shows `tinyint(4)` for `tinyint`). */
function normalizeType(type: string): string {
  return type
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)/, '$1');
}

/** One connection's last fingerprint, as stored for drift detection. */
export interface StoredFingerprint {
  readonly connector: string;
  readonly fingerprint: string;
  readonly checkedAt: string;
  readonly lines: string[];
}

/**
 * Where fingerprints live: `schema-fingerprints.json` beside the SQLite store (the agent's state
 * folder), else beside the config file. A file rather than a store table, so `tendril check` works
 * before the store exists and never opens it.
 */
export function fingerprintFile(config: TendrilConfig, configFile: string): string {
  const store = config.store;
  const folder =
    'sqlite' in store && store.sqlite !== ':memory:' ? dirname(store.sqlite) : dirname(configFile);
  return join(folder, 'schema-fingerprints.json');
}

export async function readFingerprints(file: string): Promise<Record<string, StoredFingerprint>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, StoredFingerprint>;
  } catch {
    return {};
  }
}

export async function writeFingerprint(
  file: string,
  connectionId: string,
  entry: StoredFingerprint,
): Promise<void> {
  const all = await readFingerprints(file);
  all[connectionId] = entry;
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(all, null, 2)}\n`);
  await rename(temporary, file);
}

/** What changed between two fingerprints' lines: added, removed or retyped columns. */
export function schemaDrift(previous: readonly string[], current: readonly string[]): string[] {
  const before = new Set(previous);
  const after = new Set(current);
  return [
    ...[...before].filter((l) => !after.has(l)).map((l) => `- ${l}`),
    ...[...after].filter((l) => !before.has(l)).map((l) => `+ ${l}`),
  ];
}

/** The connector's tables for the configured streams (re-exported for the check command). */
export function streamTables(connector: ConnectorDefinition, streams: readonly string[]): TableDefinition[] {
  return streams.map((s) => connector.streams[s]).filter((t): t is TableDefinition => t !== undefined);
}
