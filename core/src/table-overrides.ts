import { TendrilError } from './errors.js';
import type { ConnectorDefinition } from './connector.js';
import type { TableDefinition } from './sdk.js';

/**
 * Per-site overrides of a stream's table (docs/adding-a-connector.md, "Provisional connectors (no public
 * schema)", step 4): an integration engineer adapts a provisional plugin to the schema found at install time,
 * in the config, without code. Names in `key` and `cursor` are DECLARED column names; `columns` maps a
 * declared column to the column that holds it at this site. The mapping keeps reading declared names because
 * queries select `siteColumn AS declaredColumn`.
 */
export interface TableOverride {
  /** The table at this site: `Name` or `schema.Name` (`dbo.Patients`). */
  readonly table?: string;
  /** Declared columns that form the key at this site, in `sourceId` order. */
  readonly key?: readonly string[];
  /** Declared column holding the change stamp at this site (timestamp streams only). */
  readonly cursor?: string;
  /** Declared main-table column → the column at this site. */
  readonly columns?: Readonly<Record<string, string>>;
  /**
   * Set by `tendril map` when an engineer confirmed this mapping on the live schema after a
   * preview of real rows mapped through the connector (docs/cli.md): the stream then counts as
   * "verified at install" in `tendril connectors --config` and the status page.
   */
  readonly verifiedAtInstall?: InstallVerification;
}

/** What `tendril map` checked before it wrote an override. */
export interface InstallVerification {
  /** When the engineer confirmed it (ISO instant). */
  readonly at: string;
  readonly by: 'tendril map';
  /** Rows of the live table mapped for the preview, and how many failed mapping or validation. */
  readonly sampleRows: number;
  readonly failedRows: number;
}

/** Stream name → override, as in `connections[].tableMap`. */
export type TableMap = Readonly<Record<string, TableOverride>>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TABLE_NAME = /^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Every problem with one stream's override, as sentences (empty when it is fine): unknown declared
 * columns, names that are not plain identifiers, a cursor on a stream that has none. Config
 * validation reports them all at once under `connections[i].tableMap.<stream>`.
 */
export function tableOverrideProblems(
  table: TableDefinition,
  override: TableOverride,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const declared = Object.keys(table.columns);
  const list = declared.join(', ');
  if (override.table !== undefined && !TABLE_NAME.test(override.table)) {
    problems.push({
      path: 'table',
      message: 'must be a plain table name or schema.table (letters, digits, _)',
    });
  }
  (override.key ?? []).forEach((column, i) => {
    if (!declared.includes(column))
      problems.push({
        path: `key.${i}`,
        message: `"${column}" is not a declared column of ${table.table}; name declared columns (${list}) and rename them with columns`,
      });
  });
  if (override.key !== undefined && override.key.length === 0)
    problems.push({ path: 'key', message: 'must name at least one column' });
  if (override.key !== undefined && override.key.length !== 1 && table.deleteLog) {
    problems.push({
      path: 'key',
      message: `stream reads deletions from ${table.deleteLog.table}, which needs a single-column key`,
    });
  }
  if (override.cursor !== undefined) {
    if (table.cursor.mode !== 'timestamp') {
      problems.push({
        path: 'cursor',
        message: `stream reads ${table.table} in ${table.cursor.mode} mode, which has no change-stamp column to override`,
      });
    } else if (!declared.includes(override.cursor)) {
      problems.push({
        path: 'cursor',
        message: `"${override.cursor}" is not a declared column of ${table.table}; name a declared column (${list}) and rename it with columns`,
      });
    }
  }
  for (const [column, site] of Object.entries(override.columns ?? {})) {
    if (column.includes('.')) {
      problems.push({
        path: `columns.${column}`,
        message: 'joined-table columns cannot be overridden yet; only main-table columns',
      });
    } else if (!declared.includes(column)) {
      problems.push({
        path: `columns.${column}`,
        message: `is not a declared column of ${table.table}; declared: ${list}`,
      });
    }
    if (!IDENTIFIER.test(site))
      problems.push({
        path: `columns.${column}`,
        message: 'the site column must be a plain identifier (letters, digits, _)',
      });
  }
  return problems;
}

/**
 * The table as this site has it: a new, frozen TableDefinition with the override applied (the
 * declared one is untouched). Throws `TENDRIL_E_CONFIG_INVALID` listing every problem when the
 * override does not fit (config validation reports the same problems earlier).
 */
export function applyTableOverrides<T extends TableDefinition>(
  table: T,
  override: TableOverride | undefined,
): T {
  if (!override) return table;
  const problems = tableOverrideProblems(table, override);
  if (problems.length > 0) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `the tableMap override of ${table.table} does not fit the connector: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      { details: { table: table.table, problems } },
    );
  }
  const columnNames = { ...(table.columnNames ?? {}), ...(override.columns ?? {}) };
  const cursor =
    override.cursor !== undefined && table.cursor.mode === 'timestamp'
      ? { ...table.cursor, column: override.cursor }
      : table.cursor;
  return Object.freeze({
    ...table,
    ...(override.table !== undefined ? { table: override.table } : {}),
    ...(override.key !== undefined ? { key: [...override.key] } : {}),
    cursor,
    ...(Object.keys(columnNames).length > 0 ? { columnNames } : {}),
  });
}

/**
 * What a stream of a connection is verified against, in words: "verified at install (…)" when
 * `tendril map` confirmed its mapping at this site, else the stream's own evidence, else the
 * connector's verification.
 */
export function streamVerification(
  connector: ConnectorDefinition,
  stream: string,
  tableMap: TableMap | undefined,
): string {
  const confirmed = tableMap?.[stream]?.verifiedAtInstall;
  if (confirmed) {
    return `verified at install (${confirmed.by}, ${confirmed.at.slice(0, 10)}: ${confirmed.sampleRows} rows mapped, ${confirmed.failedRows} failed)`;
  }
  return connector.streams[stream]?.evidence ?? connector.verification.against;
}

/** The physical column at this site for a declared main-table column. */
export function physicalColumn(table: TableDefinition, declared: string): string {
  return table.columnNames?.[declared] ?? declared;
}

/**
 * The connector as one connection sees it: every stream with that connection's `tableMap`
 * override applied. Streams without an override are the declared tables themselves.
 */
export function connectorForSite<C extends ConnectorDefinition>(
  connector: C,
  tableMap: TableMap | undefined,
): C {
  if (!tableMap || Object.keys(tableMap).length === 0) return connector;
  const streams: Record<string, TableDefinition> = {};
  for (const [name, table] of Object.entries(connector.streams))
    streams[name] = applyTableOverrides(table, tableMap[name]);
  return Object.freeze({ ...connector, streams });
}
