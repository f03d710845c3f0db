import type { Knex } from 'knex';
import { TendrilError, type TableDefinition } from '@tendril/core';

/** The dialects test DDL can be written for. */
export const DDL_DIALECTS = ['mysql', 'sqlite', 'postgres'] as const;
export type DdlDialect = (typeof DDL_DIALECTS)[number];

export interface CreateTablesOptions {
  /**
   * MySQL/MariaDB storage engine. Default `MyISAM`, Open Dental's default (no transactions, which
   * is what the connector has to live with on site).
   */
  readonly mysqlEngine?: 'MyISAM' | 'InnoDB';
}

/** One table as the union of every declaration that mentions it. */
interface TablePlan {
  readonly name: string;
  readonly key: readonly string[];
  /** Column → declared vendor type, in first-declared order. */
  readonly columns: Map<string, string>;
  /** Columns read as timestamp cursors: they get an index, as the poll query filters on them. */
  readonly cursorColumns: Set<string>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * What a declared vendor type may look like: a name, optional `(n)` / `(n,m)`, optional
 * `unsigned`. Types reach the DDL verbatim (`specificType`), so anything else is refused.
 */
const VENDOR_TYPE = /^([A-Za-z][A-Za-z ]*?)\s*(\(\s*\d+\s*(?:,\s*\d+\s*)?\))?(\s+unsigned)?$/i;
/** A MySQL `enum('a','b')` (OpenEMR `insurance_data.type`): plain quoted words only. */
const ENUM_TYPE = /^enum\s*\(\s*'[A-Za-z0-9_ -]*'(?:\s*,\s*'[A-Za-z0-9_ -]*')*\s*\)$/i;

type TypeClass =
  'integer' | 'float' | 'string' | 'text' | 'date' | 'datetime' | 'time' | 'timestamp' | 'other';

function definitionError(message: string, details: Record<string, unknown>): TendrilError {
  return new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', message, { details });
}

function checkIdentifier(name: string, table: string): void {
  if (!IDENTIFIER.test(name)) {
    throw definitionError(
      `table ${table}: "${name}" is not a plain SQL identifier; fix the table declaration`,
      {
        table,
      },
    );
  }
}

function parseType(
  type: string,
  table: string,
  column: string,
): { base: string; args: string; unsigned: boolean } {
  if (ENUM_TYPE.test(type.trim()))
    return {
      base: 'enum',
      args: type
        .trim()
        .slice(4)
        .replace(/\s*,\s*/g, ',')
        .replace(/\(\s*|\s*\)/g, (p) => p.trim()),
      unsigned: false,
    };
  const m = VENDOR_TYPE.exec(type.trim());
  if (!m) {
    throw definitionError(
      `table ${table}: column ${column} has type "${type}", which is not a plain SQL type such as varchar(100) or bigint(20); fix the declaration`,
      { table, column },
    );
  }
  return {
    base: (m[1] ?? '').trim().toLowerCase().replace(/\s+/g, ' '),
    args: (m[2] ?? '').replace(/\s+/g, ''),
    unsigned: m[3] !== undefined,
  };
}

function normalizeType(type: string, table: string, column: string): string {
  const { base, args, unsigned } = parseType(type, table, column);
  return `${base}${args}${unsigned ? ' unsigned' : ''}`;
}

function typeClass(type: string): TypeClass {
  const base = type.replace(/\(.*$/, '').replace(/ unsigned$/, '');
  switch (base) {
    case 'tinyint':
    case 'smallint':
    case 'mediumint':
    case 'int':
    case 'integer':
    case 'bigint':
    case 'bit':
    case 'boolean':
    case 'bool':
      return 'integer';
    case 'float':
    case 'double':
    case 'double precision':
    case 'real':
    case 'decimal':
    case 'numeric':
      return 'float';
    case 'varchar':
    case 'char':
    case 'character':
    case 'character varying':
      return 'string';
    case 'text':
    case 'tinytext':
    case 'mediumtext':
    case 'longtext':
      return 'text';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'time':
      return 'time';
    case 'timestamp':
      return 'timestamp';
    default:
      return 'other';
  }
}

/** The vendor type as PostgreSQL spells it (MySQL display widths and names do not exist there). */
export function postgresType(type: string): string {
  const { base, args } = parseType(type, 'postgres', 'type');
  switch (base) {
    case 'tinyint':
    case 'smallint':
      return 'smallint';
    case 'mediumint':
    case 'int':
    case 'integer':
      return 'integer';
    case 'bigint':
      return 'bigint';
    case 'double':
    case 'double precision':
    case 'real':
      return 'double precision';
    case 'float':
      return 'real';
    case 'datetime':
      return 'timestamp';
    case 'tinytext':
    case 'mediumtext':
    case 'longtext':
    case 'enum':
      return 'text';
    default:
      // varchar(n), char(n), text, date, time, timestamp, decimal(p,s), boolean… are spelled alike.
      return `${base}${args}`;
  }
}

/** The literal default Open Dental uses for a column class (fixture README "Open Dental's conventions"). */
function conventionalDefault(cls: TypeClass): string | number | undefined {
  switch (cls) {
    case 'integer':
    case 'float':
      return 0;
    case 'string':
      return '';
    case 'date':
      return '0001-01-01';
    case 'datetime':
      return '0001-01-01 00:00:00';
    case 'time':
      return '00:00:00';
    case 'text':
    case 'timestamp':
    case 'other':
      return undefined;
    default:
      return cls satisfies never;
  }
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((c, i) => c.toLowerCase() === b[i]?.toLowerCase());
}

/** Merges every table a set of declarations reads (main tables, joins, delete logs). */
export function planTables(tables: readonly TableDefinition[]): TablePlan[] {
  const plans = new Map<string, TablePlan>();
  const add = (
    name: string,
    key: readonly string[],
    columns: Readonly<Record<string, string>>,
    cursorColumn: string | undefined,
  ): TablePlan => {
    checkIdentifier(name, name);
    let plan = plans.get(name.toLowerCase());
    if (!plan) {
      plan = { name, key, columns: new Map(), cursorColumns: new Set() };
      plans.set(name.toLowerCase(), plan);
    } else if (!sameKey(plan.key, key)) {
      throw definitionError(
        `table ${name} is declared with two different keys; make the declarations agree`,
        {
          table: name,
        },
      );
    }
    for (const [column, type] of Object.entries(columns)) {
      checkIdentifier(column, name);
      const normalized = normalizeType(type, name, column);
      const existing = [...plan.columns.entries()].find(([c]) => c.toLowerCase() === column.toLowerCase());
      if (!existing) plan.columns.set(column, normalized);
      else if (existing[1] !== normalized) {
        throw definitionError(
          `table ${name}: column ${column} is declared as both "${existing[1]}" and "${normalized}"; make the declarations agree`,
          { table: name, column },
        );
      }
    }
    for (const column of key) {
      if (![...plan.columns.keys()].some((c) => c.toLowerCase() === column.toLowerCase())) {
        throw definitionError(`table ${name}: key column ${column} is not declared in columns; declare it`, {
          table: name,
          column,
        });
      }
    }
    if (cursorColumn !== undefined) plan.cursorColumns.add(cursorColumn);
    return plan;
  };

  for (const table of tables) {
    const cursor = table.cursor.mode === 'timestamp' ? table.cursor.column : undefined;
    add(table.table, table.key, table.columns, cursor);
    const aliases = new Map<string, string>();
    for (const join of table.joins ?? []) {
      add(join.table, join.key, join.columns, undefined);
      aliases.set(join.alias, join.table);
    }
    if (table.cursor.mode === 'timestamp') {
      for (const also of table.cursor.also ?? []) {
        const [alias, column] = also.split('.');
        const joined = alias === undefined ? undefined : aliases.get(alias);
        if (joined !== undefined && column !== undefined)
          plans.get(joined.toLowerCase())?.cursorColumns.add(column);
      }
    }
    if (table.deleteLog) {
      const log = table.deleteLog;
      add(log.table, log.key, log.columns, log.cursor.column);
    }
  }
  return [...plans.values()];
}

function autoIncrementKey(plan: TablePlan): string | undefined {
  if (plan.key.length !== 1) return undefined;
  const key = plan.key[0] as string;
  const type = [...plan.columns.entries()].find(([c]) => c.toLowerCase() === key.toLowerCase())?.[1];
  return type !== undefined && typeClass(type) === 'integer' ? key : undefined;
}

function columnSql(dialect: DdlDialect, type: string, isAutoKey: boolean): string {
  switch (dialect) {
    case 'mysql':
      return isAutoKey ? `${type} NOT NULL AUTO_INCREMENT` : type;
    case 'sqlite':
      // SQLite makes a column an alias of the rowid (and so auto-assigning) only when its declared
      // type is literally INTEGER. `bigint(20) PRIMARY KEY` would be an ordinary column that
      // accepts NULL keys, so an auto-increment key is declared INTEGER instead of the vendor type.
      // The affinity is the same (INTEGER) and rowids are 64-bit, like Open Dental's bigint keys.
      return isAutoKey ? 'INTEGER' : type.startsWith('enum(') ? 'text' : type;
    case 'postgres':
      return isAutoKey ? `${postgresType(type)} GENERATED BY DEFAULT AS IDENTITY` : postgresType(type);
    default:
      return dialect satisfies never;
  }
}

/** Orders key columns first, then the rest in declaration order. */
function orderedColumns(plan: TablePlan): [string, string][] {
  const entries = [...plan.columns.entries()];
  const isKey = (c: string) => plan.key.some((k) => k.toLowerCase() === c.toLowerCase());
  return [
    ...plan.key.map((k) => entries.find(([c]) => c.toLowerCase() === k.toLowerCase()) as [string, string]),
    ...entries.filter(([c]) => !isKey(c)),
  ];
}

function buildTable(
  knex: Knex,
  table: Knex.CreateTableBuilder,
  plan: TablePlan,
  dialect: DdlDialect,
  options: CreateTablesOptions,
): void {
  const autoKey = autoIncrementKey(plan);
  for (const [column, type] of orderedColumns(plan)) {
    const isAutoKey = autoKey !== undefined && autoKey === column;
    const builder = table.specificType(column, columnSql(dialect, type, isAutoKey));
    if (isAutoKey) continue;
    const cls = typeClass(type);
    const isKey = plan.key.includes(column);
    if (cls === 'timestamp') {
      // Open Dental's "last changed" columns: the database stamps them on insert and (MySQL) update.
      const now = dialect === 'mysql' ? 'CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP' : 'CURRENT_TIMESTAMP';
      builder.notNullable().defaultTo(knex.raw(now));
      continue;
    }
    const fallback = conventionalDefault(cls);
    // Numbers as bare literals (knex would quote them on SQLite); the value is our constant 0.
    if (fallback !== undefined)
      builder.notNullable().defaultTo(typeof fallback === 'number' ? knex.raw(String(fallback)) : fallback);
    else if (isKey) builder.notNullable();
    else builder.nullable();
  }
  table.primary([...plan.key]);
  for (const column of plan.cursorColumns) table.index([column]);
  if (dialect === 'mysql') {
    table.engine(options.mysqlEngine ?? 'MyISAM');
    table.charset('utf8mb3');
    table.collate('utf8mb3_general_ci');
  }
}

/**
 * Creates, in an empty (or partly filled) database, every table a connector's declarations read —
 * main tables, joined tables and delete logs — with the declared column names and vendor types.
 * `tendril seed` uses it to give the data generator somewhere to write when no vendor install
 * exists, and tests use it to prove the connector needs nothing beyond what it declares.
 *
 * - Columns declared for one table in several places are merged; conflicting types or keys throw
 *   `TENDRIL_E_CONNECTOR_DEFINITION`.
 * - Primary key = the declared `key`. A single integer key auto-increments (MySQL `AUTO_INCREMENT`,
 *   SQLite rowid alias — declared `integer`, see {@link columnSql} — PostgreSQL identity).
 * - Defaults follow Open Dental: numbers 0, strings '', dates '0001-01-01', datetimes
 *   '0001-01-01 00:00:00', times '00:00:00', text NULL; `timestamp` columns default to
 *   CURRENT_TIMESTAMP, with ON UPDATE CURRENT_TIMESTAMP on MySQL only (SQLite and PostgreSQL have
 *   no such clause: writers there must set the stamp themselves).
 * - Each timestamp cursor column (and `cursor.also` column) gets an index.
 * - Tables that already exist are left alone, whatever their columns.
 *
 * @returns the names of the tables it created, in the order first referenced.
 */
export async function createTablesFromDeclarations(
  knex: Knex,
  tables: readonly TableDefinition[],
  dialect: DdlDialect,
  options: CreateTablesOptions = {},
): Promise<string[]> {
  if (!DDL_DIALECTS.includes(dialect)) {
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      `test DDL supports ${DDL_DIALECTS.join(', ')}; pick one of them`,
      {
        details: { dialect },
      },
    );
  }
  const created: string[] = [];
  for (const plan of planTables(tables)) {
    if (await knex.schema.hasTable(plan.name)) continue;
    await knex.schema.createTable(plan.name, (table) => buildTable(knex, table, plan, dialect, options));
    created.push(plan.name);
  }
  return created;
}
