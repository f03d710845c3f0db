import { createHash } from 'node:crypto';
import {
  cellText,
  canonicalJson,
  TendrilError,
  type ColumnType,
  type ConnectorDefinition,
  type TableDefinition,
} from '@tendril/core';
import type { Knex } from 'knex';
import { classifyDbError, type SqlClient } from './client.js';

/**
 * `tendril discover` (docs/adding-a-connector.md, "Provisional connectors (no public schema)", steps 1–3):
 * reads the live schema metadata (INFORMATION_SCHEMA on mysql, mssql and postgres; PRAGMA on sqlite),
 * compares it with what each stream of a connector expects (tables, columns, declared types, keys, cursor
 * columns), and fingerprints it for drift detection. Only metadata is read — never a row of a vendor table —
 * so the support bundle built from it carries no patient data.
 */

/** One column as the server describes it. */
export interface LiveColumn {
  readonly name: string;
  /** The server's type text: `bigint(20)`, `varchar(100)`, `datetime2(7)`, `timestamp`. */
  readonly type: string;
  readonly nullable: boolean;
}

/** One table or view as the server describes it. */
export interface LiveTable {
  /** Schema (`dbo`, `public`, the MySQL database); absent on SQLite. */
  readonly schema?: string;
  readonly name: string;
  readonly columns: readonly LiveColumn[];
  /** Primary key columns in key order (empty when there is none, or for a view). */
  readonly primaryKey: readonly string[];
  /** Approximate row count from the server's statistics, when it keeps one (never COUNT(*)). */
  readonly approximateRows?: number;
}

export interface LiveSchema {
  readonly dialect: SqlClient['dialect'];
  readonly serverVersion?: string;
  readonly edition?: string;
  /** The schema unqualified names resolve to (`dbo`, `public`, the MySQL database). */
  readonly defaultSchema?: string;
  readonly tables: readonly LiveTable[];
  /** SQL Server: tables with change tracking enabled (as visible to this login). */
  readonly changeTrackingTables?: readonly string[];
}

export const DISCOVERY_STATUSES = ['ok', 'missing', 'type-mismatch'] as const;
export type DiscoveryStatus = (typeof DISCOVERY_STATUSES)[number];

/** One finding: a problem (missing, type-mismatch) or a note that does not stop the stream. */
export interface DiscoveryFinding {
  readonly status: DiscoveryStatus | 'note';
  readonly table: string;
  readonly column?: string;
  /** What the column is for the stream: key, cursor or another read column. */
  readonly role?: 'key' | 'cursor' | 'column';
  readonly expected?: string;
  readonly found?: string;
  readonly message: string;
}

export interface StreamDiscovery {
  readonly stream: string;
  readonly status: DiscoveryStatus;
  /** Tables the stream reads, as this site names them. */
  readonly tables: readonly string[];
  /** Columns checked (all of them, not just the findings). */
  readonly checkedColumns: number;
  readonly findings: readonly DiscoveryFinding[];
  /** SHA-256 of the live metadata of the stream's tables (missing ones included as missing). */
  readonly fingerprint: string;
}

export interface DiscoveryReport {
  readonly connector: string;
  readonly verification: ConnectorDefinition['verification'];
  readonly dialect: SqlClient['dialect'];
  readonly serverVersion?: string;
  readonly edition?: string;
  readonly streams: readonly StreamDiscovery[];
  /** True when every stream is `ok`. */
  readonly ok: boolean;
  /** SHA-256 over the streams' fingerprints: one value to store and compare for drift. */
  readonly fingerprint: string;
}

type Row = Record<string, unknown>;

const str = (value: unknown): string | undefined =>
  value === null || value === undefined ? undefined : cellText(value);
const int = (value: unknown): number | undefined => {
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n) ? undefined : n;
};

async function run(client: SqlClient, query: Knex.QueryBuilder | Knex.Raw): Promise<Row[]> {
  try {
    return await client.execute(query);
  } catch (error) {
    throw classifyDbError(error);
  }
}

/** Groups column rows (`schema`, `table`, `column`, `type`, `nullable`) into tables, in ordinal order. */
function groupColumns(
  rows: readonly Row[],
): Map<string, { schema?: string; name: string; columns: LiveColumn[] }> {
  const tables = new Map<string, { schema?: string; name: string; columns: LiveColumn[] }>();
  for (const row of rows) {
    const schema = str(row['table_schema']);
    const name = str(row['table_name']) ?? '';
    const id = `${schema ?? ''}.${name}`;
    let table = tables.get(id);
    if (!table) {
      table = { ...(schema === undefined ? {} : { schema }), name, columns: [] };
      tables.set(id, table);
    }
    table.columns.push({
      name: str(row['column_name']) ?? '',
      type: str(row['column_type']) ?? '',
      nullable: /^(yes|1|true)$/i.test(str(row['is_nullable']) ?? ''),
    });
  }
  return tables;
}

function attachKeys(
  grouped: Map<string, { schema?: string; name: string; columns: LiveColumn[] }>,
  keyRows: readonly Row[],
  countRows: readonly Row[],
): LiveTable[] {
  const keys = new Map<string, string[]>();
  for (const row of keyRows) {
    const id = `${str(row['table_schema']) ?? ''}.${str(row['table_name']) ?? ''}`;
    keys.set(id, [...(keys.get(id) ?? []), str(row['column_name']) ?? '']);
  }
  const counts = new Map<string, number>();
  for (const row of countRows) {
    const rows = int(row['approximate_rows']);
    if (rows !== undefined)
      counts.set(`${str(row['table_schema']) ?? ''}.${str(row['table_name']) ?? ''}`, rows);
  }
  return [...grouped.entries()].map(([id, t]) => ({
    ...t,
    primaryKey: keys.get(id) ?? [],
    ...(counts.has(id) ? { approximateRows: counts.get(id) } : {}),
  }));
}

/** The metadata queries per dialect. Exported for snapshot tests (SQL Server has no server here). */
export function discoveryQueries(client: SqlClient): {
  columns: Knex.QueryBuilder | Knex.Raw;
  primaryKeys: Knex.QueryBuilder | Knex.Raw;
  rowCounts?: Knex.QueryBuilder | Knex.Raw;
  server: Knex.QueryBuilder | Knex.Raw;
  changeTracking?: Knex.QueryBuilder | Knex.Raw;
} {
  const { knex } = client;
  switch (client.dialect) {
    case 'mysql':
      return {
        columns: knex
          .select({
            table_schema: 'TABLE_SCHEMA',
            table_name: 'TABLE_NAME',
            column_name: 'COLUMN_NAME',
            column_type: 'COLUMN_TYPE',
            is_nullable: 'IS_NULLABLE',
          })
          .from('information_schema.COLUMNS')
          .where('TABLE_SCHEMA', knex.raw('DATABASE()'))
          .orderBy(['TABLE_NAME', 'ORDINAL_POSITION']),
        primaryKeys: knex
          .select({ table_schema: 'TABLE_SCHEMA', table_name: 'TABLE_NAME', column_name: 'COLUMN_NAME' })
          .from('information_schema.KEY_COLUMN_USAGE')
          .where('TABLE_SCHEMA', knex.raw('DATABASE()'))
          .andWhere('CONSTRAINT_NAME', 'PRIMARY')
          .orderBy(['TABLE_NAME', 'ORDINAL_POSITION']),
        rowCounts: knex
          .select({ table_schema: 'TABLE_SCHEMA', table_name: 'TABLE_NAME', approximate_rows: 'TABLE_ROWS' })
          .from('information_schema.TABLES')
          .where('TABLE_SCHEMA', knex.raw('DATABASE()')),
        server: knex.raw('SELECT VERSION() AS server_version, DATABASE() AS default_schema'),
      };
    case 'mssql':
      return {
        columns: knex
          .select({
            table_schema: 'TABLE_SCHEMA',
            table_name: 'TABLE_NAME',
            column_name: 'COLUMN_NAME',
            // `varchar(100)`, `nvarchar(max)`, `datetime2(7)`, `decimal(10,2)`, else the bare type.
            column_type: knex.raw(
              `CASE WHEN CHARACTER_MAXIMUM_LENGTH = -1 THEN DATA_TYPE + '(max)'
                WHEN CHARACTER_MAXIMUM_LENGTH IS NOT NULL AND DATA_TYPE NOT IN ('text', 'ntext', 'image', 'xml') THEN DATA_TYPE + '(' + CAST(CHARACTER_MAXIMUM_LENGTH AS varchar(10)) + ')'
                WHEN DATA_TYPE IN ('decimal', 'numeric') THEN DATA_TYPE + '(' + CAST(NUMERIC_PRECISION AS varchar(10)) + ',' + CAST(NUMERIC_SCALE AS varchar(10)) + ')'
                WHEN DATA_TYPE IN ('datetime2', 'datetimeoffset', 'time') THEN DATA_TYPE + '(' + CAST(DATETIME_PRECISION AS varchar(10)) + ')'
                ELSE DATA_TYPE END`,
            ),
            is_nullable: 'IS_NULLABLE',
          })
          .from('INFORMATION_SCHEMA.COLUMNS')
          .orderBy(['TABLE_SCHEMA', 'TABLE_NAME', 'ORDINAL_POSITION']),
        primaryKeys: knex
          .select({
            table_schema: 'kcu.TABLE_SCHEMA',
            table_name: 'kcu.TABLE_NAME',
            column_name: 'kcu.COLUMN_NAME',
          })
          .from({ tc: 'INFORMATION_SCHEMA.TABLE_CONSTRAINTS' })
          .join({ kcu: 'INFORMATION_SCHEMA.KEY_COLUMN_USAGE' }, function on(this: Knex.JoinClause) {
            this.on('kcu.CONSTRAINT_SCHEMA', '=', 'tc.CONSTRAINT_SCHEMA').andOn(
              'kcu.CONSTRAINT_NAME',
              '=',
              'tc.CONSTRAINT_NAME',
            );
          })
          .where('tc.CONSTRAINT_TYPE', 'PRIMARY KEY')
          .orderBy(['kcu.TABLE_SCHEMA', 'kcu.TABLE_NAME', 'kcu.ORDINAL_POSITION']),
        rowCounts: knex
          .select({
            table_schema: knex.raw('OBJECT_SCHEMA_NAME(p.object_id)'),
            table_name: knex.raw('OBJECT_NAME(p.object_id)'),
            approximate_rows: knex.raw('SUM(p.rows)'),
          })
          .from({ p: 'sys.partitions' })
          .whereIn('p.index_id', [0, 1])
          .groupBy('p.object_id'),
        server: knex.raw(
          "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS server_version, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, SCHEMA_NAME() AS default_schema",
        ),
        changeTracking: knex
          .select({
            table_schema: knex.raw('OBJECT_SCHEMA_NAME(object_id)'),
            table_name: knex.raw('OBJECT_NAME(object_id)'),
          })
          .from('sys.change_tracking_tables'),
      };
    case 'postgres':
      return {
        columns: knex
          .select({
            table_schema: 'table_schema',
            table_name: 'table_name',
            column_name: 'column_name',
            column_type: knex.raw(
              `CASE WHEN character_maximum_length IS NOT NULL THEN data_type || '(' || character_maximum_length || ')'
                WHEN data_type = 'numeric' AND numeric_precision IS NOT NULL THEN data_type || '(' || numeric_precision || ',' || numeric_scale || ')'
                ELSE data_type END`,
            ),
            is_nullable: 'is_nullable',
          })
          .from('information_schema.columns')
          .whereNotIn('table_schema', ['pg_catalog', 'information_schema'])
          .orderBy(['table_schema', 'table_name', 'ordinal_position']),
        primaryKeys: knex
          .select({
            table_schema: 'kcu.table_schema',
            table_name: 'kcu.table_name',
            column_name: 'kcu.column_name',
          })
          .from({ tc: 'information_schema.table_constraints' })
          .join({ kcu: 'information_schema.key_column_usage' }, function on(this: Knex.JoinClause) {
            this.on('kcu.constraint_schema', '=', 'tc.constraint_schema').andOn(
              'kcu.constraint_name',
              '=',
              'tc.constraint_name',
            );
          })
          .where('tc.constraint_type', 'PRIMARY KEY')
          .orderBy(['kcu.table_schema', 'kcu.table_name', 'kcu.ordinal_position']),
        rowCounts: knex
          .select({ table_schema: 'schemaname', table_name: 'relname', approximate_rows: 'n_live_tup' })
          .from('pg_stat_user_tables'),
        server: knex.raw('SELECT current_setting(?) AS server_version, current_schema() AS default_schema', [
          'server_version',
        ]),
      };
    case 'sqlite':
      return {
        columns: knex
          .select({
            table_name: 'm.name',
            column_name: 'c.name',
            column_type: 'c.type',
            is_nullable: knex.raw('CASE WHEN c."notnull" = 0 THEN ? ELSE ? END', ['YES', 'NO']),
          })
          .from({ m: 'sqlite_master' })
          .joinRaw('JOIN pragma_table_info(m.name) AS c')
          .whereIn('m.type', ['table', 'view'])
          .andWhere('m.name', 'not like', 'sqlite_%')
          .orderBy(['m.name', 'c.cid']),
        primaryKeys: knex
          .select({ table_name: 'm.name', column_name: 'c.name' })
          .from({ m: 'sqlite_master' })
          .joinRaw('JOIN pragma_table_info(m.name) AS c')
          .where('m.type', 'table')
          .andWhere('c.pk', '>', 0)
          .orderBy(['m.name', 'c.pk']),
        server: knex.raw('SELECT sqlite_version() AS server_version'),
      };
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}

/**
 * Reads the schema metadata of the current database (all tables and views the login can see):
 * columns with their types, primary keys, approximate row counts, server version (and, on SQL
 * Server, edition and the tables with change tracking). No vendor table is queried.
 */
export async function readLiveSchema(client: SqlClient): Promise<LiveSchema> {
  const queries = discoveryQueries(client);
  const columnRows = await run(client, queries.columns);
  const keyRows = await run(client, queries.primaryKeys);
  // Statistics views can be hidden from a least-privilege login: counts are optional extras.
  const countRows = queries.rowCounts ? await run(client, queries.rowCounts).catch(() => []) : [];
  const server = (await run(client, queries.server))[0] ?? {};
  const ct = queries.changeTracking
    ? await run(client, queries.changeTracking).catch(() => undefined)
    : undefined;
  const serverVersion = str(server['server_version']);
  const edition = str(server['edition']);
  const defaultSchema = str(server['default_schema']);
  return {
    dialect: client.dialect,
    ...(serverVersion ? { serverVersion } : {}),
    ...(edition ? { edition } : {}),
    ...(defaultSchema ? { defaultSchema } : {}),
    tables: attachKeys(groupColumns(columnRows), keyRows, countRows),
    ...(ct
      ? { changeTrackingTables: ct.map((r) => `${str(r['table_schema'])}.${str(r['table_name'])}`) }
      : {}),
  };
}

/** Identifier comparison as the engine does it by default: case-sensitive on postgres only. */
function sameName(dialect: SqlClient['dialect'], a: string, b: string): boolean {
  return dialect === 'postgres' ? a === b : a.toLowerCase() === b.toLowerCase();
}

/** Finds `name` or `schema.name`; unqualified names resolve in the default schema first. */
export function findLiveTable(schema: LiveSchema, name: string): LiveTable | undefined {
  const dot = name.indexOf('.');
  const wantedSchema = dot < 0 ? undefined : name.slice(0, dot);
  const wantedName = dot < 0 ? name : name.slice(dot + 1);
  const candidates = schema.tables.filter((t) => sameName(schema.dialect, t.name, wantedName));
  if (wantedSchema !== undefined)
    return candidates.find((t) => t.schema !== undefined && sameName(schema.dialect, t.schema, wantedSchema));
  return (
    candidates.find(
      (t) =>
        t.schema === undefined ||
        schema.defaultSchema === undefined ||
        sameName(schema.dialect, t.schema, schema.defaultSchema),
    ) ?? (candidates.length === 1 ? candidates[0] : undefined)
  );
}

/** Coarse type families: a column whose family differs would be read or compared differently. */
const TYPE_FAMILIES: readonly [RegExp, string][] = [
  [/^(tinyint|smallint|mediumint|int|integer|bigint|bit|boolean|bool)$/, 'integer'],
  [/^(decimal|numeric|money|smallmoney|number)$/, 'decimal'],
  [/^(float|double|double precision|real)$/, 'float'],
  [
    /^(char|varchar|nchar|nvarchar|character|character varying|text|tinytext|mediumtext|longtext|ntext|enum|set|uniqueidentifier|xml|json)$/,
    'string',
  ],
  [/^date$/, 'date'],
  [/^(datetime|datetime2|smalldatetime|timestamp|timestamp without time zone)$/, 'datetime'],
  [/^(datetimeoffset|timestamptz|timestamp with time zone)$/, 'datetime-zoned'],
  [/^(time|time without time zone)$/, 'time'],
  [/^(binary|varbinary|blob|tinyblob|mediumblob|longblob|image|bytea|rowversion)$/, 'binary'],
];

/** `bigint(20) unsigned` → `bigint unsigned`; `character varying(40)` → `character varying`. */
export function baseType(type: string): string {
  return type
    .trim()
    .toLowerCase()
    .replace(/\s*\([^)]*\)/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+zerofill$/, '');
}

function familyOf(type: string): string {
  const base = baseType(type).replace(/ unsigned$/, '');
  return TYPE_FAMILIES.find(([re]) => re.test(base))?.[1] ?? base;
}

/**
 * Whether a live column type can stand for the declared one. Cursor columns must match the base
 * type exactly (MySQL `timestamp` is stored in UTC, `datetime` is not; SQL Server `datetime` and
 * `datetime2` bind differently); integer keys must keep their sign; everything else must stay in
 * the same type family (a longer or shorter varchar is fine for reading).
 */
export function typeFits(declared: ColumnType, live: string, role: 'key' | 'cursor' | 'column'): boolean {
  const d = baseType(declared);
  const l = baseType(live);
  // SQL Server reports `rowversion` as `timestamp`; MySQL `timestamp` is a date-time.
  if (role === 'cursor') return d === l || (d === 'rowversion' && l === 'timestamp');
  if (familyOf(declared) !== familyOf(live)) return false;
  if (role === 'key' && familyOf(declared) === 'integer')
    return d.endsWith(' unsigned') === l.endsWith(' unsigned');
  return true;
}

interface ExpectedColumn {
  readonly declared: string;
  readonly physical: string;
  readonly type: ColumnType;
  readonly role: 'key' | 'cursor' | 'column';
}

interface ExpectedTable {
  readonly table: string;
  readonly columns: readonly ExpectedColumn[];
  readonly key: readonly string[];
}

/** Every table a stream reads, with the physical names this site uses and each column's role. */
export function expectedTables(table: TableDefinition): ExpectedTable[] {
  const out: ExpectedTable[] = [];
  const physical = (c: string) => table.columnNames?.[c] ?? c;
  // The fallback stamp is compared with the stamp itself (COALESCE), so it must match as exactly.
  const cursors =
    table.cursor.mode === 'timestamp' ? [table.cursor.column, table.cursor.fallback].filter(Boolean) : [];
  const mainRole = (c: string): ExpectedColumn['role'] =>
    table.key.includes(c) ? 'key' : cursors.includes(c) ? 'cursor' : 'column';
  out.push({
    table: table.table,
    key: table.key.map(physical),
    columns: Object.entries(table.columns).map(([c, type]) => ({
      declared: c,
      physical: physical(c),
      type,
      role: mainRole(c),
    })),
  });
  const also = new Set(table.cursor.mode === 'timestamp' ? (table.cursor.also ?? []) : []);
  for (const join of table.joins ?? []) {
    out.push({
      table: join.table,
      key: join.key,
      columns: Object.entries(join.columns).map(([c, type]) => ({
        declared: `${join.alias}.${c}`,
        physical: c,
        type,
        role: join.key.includes(c) ? 'key' : also.has(`${join.alias}.${c}`) ? 'cursor' : 'column',
      })),
    });
  }
  if (table.deleteLog) {
    const log = table.deleteLog;
    out.push({
      table: log.table,
      key: log.key,
      columns: Object.entries(log.columns).map(([c, type]) => ({
        declared: c,
        physical: c,
        type,
        role: log.key.includes(c) ? 'key' : c === log.cursor.column ? 'cursor' : 'column',
      })),
    });
  }
  // One table can be read twice (a self-join): check it once per role set, merged by name.
  const merged = new Map<string, ExpectedTable>();
  for (const t of out) {
    const existing = merged.get(t.table.toLowerCase());
    if (!existing) merged.set(t.table.toLowerCase(), t);
    else
      merged.set(t.table.toLowerCase(), {
        ...existing,
        columns: [
          ...existing.columns,
          ...t.columns.filter(
            (c) => !existing.columns.some((e) => e.physical.toLowerCase() === c.physical.toLowerCase()),
          ),
        ],
      });
  }
  return [...merged.values()];
}

function sha256(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** Compares one stream's tables with the live schema. Pure: the tests feed it hand-made schemas. */
export function compareStream(stream: string, table: TableDefinition, schema: LiveSchema): StreamDiscovery {
  const findings: DiscoveryFinding[] = [];
  let checkedColumns = 0;
  const fingerprintInput: unknown[] = [];
  const expected = expectedTables(table);
  for (const want of expected) {
    const live = findLiveTable(schema, want.table);
    if (!live) {
      findings.push({
        status: 'missing',
        table: want.table,
        message: `table ${want.table} does not exist (or this login cannot see it)`,
      });
      fingerprintInput.push({ table: want.table, missing: true });
      continue;
    }
    fingerprintInput.push({
      table: want.table,
      columns: live.columns.map((c) => [c.name, c.type, c.nullable]),
      primaryKey: live.primaryKey,
    });
    for (const column of want.columns) {
      checkedColumns += 1;
      const found = live.columns.find((c) => sameName(schema.dialect, c.name, column.physical));
      const where =
        column.physical === column.declared
          ? column.physical
          : `${column.physical} (declared ${column.declared})`;
      if (!found) {
        findings.push({
          status: 'missing',
          table: want.table,
          column: column.physical,
          role: column.role,
          expected: column.type,
          message: `${column.role} column ${where} does not exist in ${want.table}`,
        });
      } else if (!typeFits(column.type, found.type, column.role)) {
        findings.push({
          status: 'type-mismatch',
          table: want.table,
          column: column.physical,
          role: column.role,
          expected: column.type,
          found: found.type,
          message: `${column.role} column ${where} is ${found.type}, the connector expects ${column.type}`,
        });
      } else if (baseType(found.type) !== baseType(column.type)) {
        findings.push({
          status: 'note',
          table: want.table,
          column: column.physical,
          role: column.role,
          expected: column.type,
          found: found.type,
          message: `${where} is ${found.type} (declared ${column.type}); same type family, read unchanged`,
        });
      }
    }
    const pk = live.primaryKey;
    if (
      pk.length > 0 &&
      (pk.length !== want.key.length || !pk.every((c, i) => sameName(schema.dialect, c, want.key[i] ?? '')))
    ) {
      findings.push({
        status: 'note',
        table: want.table,
        expected: want.key.join(', '),
        found: pk.join(', '),
        message: `${want.table}'s primary key is (${pk.join(', ')}), the stream keys rows by (${want.key.join(', ')}); make sure that is unique`,
      });
    }
  }
  const status: DiscoveryStatus = findings.some((f) => f.status === 'missing')
    ? 'missing'
    : findings.some((f) => f.status === 'type-mismatch')
      ? 'type-mismatch'
      : 'ok';
  return {
    stream,
    status,
    tables: expected.map((t) => t.table),
    checkedColumns,
    findings,
    fingerprint: sha256({ dialect: schema.dialect, tables: fingerprintInput }),
  };
}

/** Compares every listed stream of a connector (as this site names its tables) with the live schema. */
export function compareConnector(
  connector: ConnectorDefinition,
  schema: LiveSchema,
  streams: readonly string[] = Object.keys(connector.streams),
): DiscoveryReport {
  const results = streams.map((name) => {
    const table = connector.streams[name];
    if (!table)
      throw new TendrilError(
        'TENDRIL_E_STREAM_UNKNOWN',
        `connector ${connector.id} has no stream ${name}; streams: ${Object.keys(connector.streams).join(', ')}`,
      );
    return compareStream(name, table, schema);
  });
  return {
    connector: connector.id,
    verification: connector.verification,
    dialect: schema.dialect,
    ...(schema.serverVersion ? { serverVersion: schema.serverVersion } : {}),
    ...(schema.edition ? { edition: schema.edition } : {}),
    streams: results,
    ok: results.every((r) => r.status === 'ok'),
    fingerprint: sha256(results.map((r) => [r.stream, r.fingerprint])),
  };
}

/**
 * Column names that suggest a change stamp (docs/adding-a-connector.md, "Provisional connectors (no public
 * schema)", step 1).
 */
const CHANGE_NAME = /(mod|upd|chang|edit|stamp|last_?mod|version)/i;

/**
 * The support bundle: the discovery report plus the metadata of every table the login can see
 * (names, column names and types, keys, approximate row counts) and candidate change columns, so
 * maintainers can turn a provisional map into a verified one. Never a row value.
 */
export function supportBundle(
  report: DiscoveryReport,
  schema: LiveSchema,
  generatedAt: string,
): Record<string, unknown> {
  return {
    kind: 'tendril-support-bundle',
    version: 1,
    generatedAt,
    contents: 'schema metadata only: no rows, no values',
    report,
    server: {
      dialect: schema.dialect,
      version: schema.serverVersion,
      edition: schema.edition,
      defaultSchema: schema.defaultSchema,
    },
    ...(schema.changeTrackingTables ? { changeTrackingTables: schema.changeTrackingTables } : {}),
    tables: schema.tables.map((t) => ({
      ...t,
      changeCandidates: t.columns
        .filter(
          (c) =>
            /^(rowversion|timestamp)$/.test(baseType(c.type)) ||
            (/date|time/.test(baseType(c.type)) && CHANGE_NAME.test(c.name)),
        )
        .map((c) => c.name),
    })),
  };
}
