import type { Knex } from 'knex';
import { TendrilError, type RowCondition, type TableDefinition } from '@tendril/core';
import { planTables } from './ddl.js';

export interface SeedDeclaredOptions {
  /** Rows per table. Default 25. */
  readonly rows?: number;
  /** Written into every date-time column (cursor stamps included): a fixed past instant keeps runs reproducible. */
  readonly stamp?: string;
}

/** What the declarations ask of one column of one table, gathered over every stream. */
interface ColumnRole {
  /**
   * A key column, a join endpoint or a reference: its value is the row number in a form that
   * depends only on the row (never on the column's name), so a key and the columns pointing at it
   * hold the same value in row i of either table.
   */
  linked: boolean;
  /** Values a `where` or a join's `onValues` compares it with: rows cycle through them. */
  readonly choices: (string | number)[];
}

/** A live column, as `knex(table).columnInfo()` reports it. */
interface LiveColumn {
  readonly type: string;
  readonly maxLength: number | string | null;
  readonly nullable: boolean;
  readonly defaultValue: unknown;
}

/** The row number as text no wider than `width`: decimal when it fits, else base 36. */
function keyText(i: number, width: number): string | undefined {
  for (const text of [String(i), i.toString(36)]) if (text.length <= width) return text;
  return undefined;
}

/**
 * `<Column> <i>` fitted into `width`: the column name is shortened, never the number, so distinct
 * rows keep distinct values as long as the number itself fits (a 6-character column gets `prov 1`,
 * not `provid` for every row).
 */
function labelText(column: string, i: number, width: number): string {
  const full = `${column} ${i}`;
  if (full.length <= width) return full;
  const number = keyText(i, width) ?? String(i).slice(-width);
  return `${column.slice(0, Math.max(0, width - number.length - 1))} ${number}`.trimStart().slice(-width);
}

function widthOf(declared: string, live: LiveColumn | undefined): number {
  const liveWidth = live?.maxLength === null || live?.maxLength === undefined ? NaN : Number(live.maxLength);
  if (Number.isFinite(liveWidth) && liveWidth > 0) return liveWidth;
  return Number(/\((\d+)/.exec(declared)?.[1] ?? 255);
}

function baseType(type: string): string {
  return type
    .trim()
    .toLowerCase()
    .replace(/\s*\(.*$/, '')
    .replace(/ unsigned$/, '');
}

function valueFor(
  table: string,
  column: string,
  declared: string,
  live: LiveColumn | undefined,
  role: ColumnRole | undefined,
  i: number,
  stamp: string,
): string | number {
  // The live type wins: a real schema may differ from what the connector declares.
  const type = live?.type ?? declared;
  const base = baseType(type);
  const width = widthOf(declared, live);
  const choices = role?.choices ?? [];
  if (choices.length > 0) return choices[(i - 1) % choices.length]!;
  // An enum takes one of its own words (cycled), from the declaration: the live type says only `enum`.
  const words = /^enum\s*\((.*)\)$/i.exec(declared.trim())?.[1]?.match(/'[^']*'/g);
  if (words && words.length > 0) return words[(i - 1) % words.length]!.slice(1, -1);
  const integer = /int$|^bit$|^integer$|^boolean$|^bool$/.test(base);
  if (integer) return role?.linked ? i : /^(tiny|bit|bool)/.test(base) ? 0 : i;
  if (/^(decimal|numeric)$/.test(base)) {
    const [precision, scale] = (/\((\d+)\s*(?:,\s*(\d+))?/.exec(type) ?? []).slice(1).map(Number);
    const digits = precision === undefined ? 6 : precision - (scale ?? 0);
    return (i * 10) % 10 ** Math.max(1, digits);
  }
  if (/^(float|double|double precision|real)$/.test(base)) return i * 10;
  if (base === 'date') return `19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10}`;
  if (/^(datetime|datetime2|timestamp|smalldatetime|timestamp without time zone)$/.test(base)) return stamp;
  if (base === 'time') return '09:30:00';
  if (role?.linked) {
    const text = keyText(i, width);
    if (text === undefined) {
      throw new TendrilError(
        'TENDRIL_E_SEED',
        `table ${table}: key column ${column} holds ${width} character(s), too few for row ${i}; seed fewer rows`,
        { details: { table, column, width } },
      );
    }
    return text;
  }
  if (/phone/i.test(column)) return `(303) 555-${String(1000 + i).slice(-4)}`.slice(-width);
  if (/mail/i.test(column) && width >= 20) return `person${i}@example.com`.slice(0, width);
  return labelText(column, i, width);
}

/** Collects, per table and column (lower case), the roles every declaration gives it. */
function columnRoles(tables: readonly TableDefinition[]): Map<string, Map<string, ColumnRole>> {
  const roles = new Map<string, Map<string, ColumnRole>>();
  const role = (table: string, column: string): ColumnRole => {
    const byColumn = roles.get(table.toLowerCase()) ?? new Map<string, ColumnRole>();
    roles.set(table.toLowerCase(), byColumn);
    const found = byColumn.get(column.toLowerCase()) ?? { linked: false, choices: [] };
    byColumn.set(column.toLowerCase(), found);
    return found;
  };
  const link = (table: string, column: string) => {
    role(table, column).linked = true;
  };
  const choose = (table: string, column: string, value: string | number) => {
    const { choices } = role(table, column);
    if (!choices.includes(value)) choices.push(value);
  };
  const chooseFrom = (condition: RowCondition | undefined, resolve: (column: string) => [string, string]) => {
    for (const [qualified, test] of Object.entries(condition ?? {})) {
      const [table, column] = resolve(qualified);
      if (typeof test === 'string' || typeof test === 'number') choose(table, column, test);
      else if ('in' in test) for (const value of test.in) choose(table, column, value);
    }
  };
  for (const table of tables) {
    const aliases = new Map((table.joins ?? []).map((j) => [j.alias, j.table]));
    const resolve = (qualified: string): [string, string] => {
      const [first, second] = qualified.split('.');
      return second === undefined ? [table.table, first!] : [aliases.get(first!) ?? table.table, second];
    };
    for (const column of table.key) link(table.table, column);
    for (const join of table.joins ?? []) {
      for (const column of join.key) link(join.table, column);
      for (const [joined, owner] of Object.entries(join.on)) {
        link(join.table, joined);
        link(...resolve(owner));
      }
      for (const [joined, value] of Object.entries(join.onValues ?? {})) choose(join.table, joined, value);
    }
    for (const field of Object.values(table.fields)) {
      if (field.kind === 'ref') for (const column of field.columns) link(...resolve(column));
    }
    chooseFrom(table.where, resolve);
    if (table.deleteLog) {
      for (const column of table.deleteLog.key) link(table.deleteLog.table, column);
      link(table.deleteLog.table, table.deleteLog.deletedKeyColumn);
      chooseFrom(table.deleteLog.where, (column) => [table.deleteLog!.table, column]);
    }
  }
  // A column that is the whole key of its table stays unique: no cycling through choices there.
  for (const plan of planTables(tables)) {
    if (plan.key.length === 1) {
      const only = roles.get(plan.name.toLowerCase())?.get(plan.key[0]!.toLowerCase());
      if (only) only.choices.length = 0;
    }
  }
  return roles;
}

/**
 * Fills every table a set of declarations reads with `rows` deterministic rows, on tables created
 * from the declarations (`createTablesFromDeclarations`) or on a real vendor schema:
 * - Keys are the row number (1..rows) in the column's own type and width, read from the live
 *   table: text keys as decimal text, base 36 when the column is narrower (a `CHAR(6)` key stays
 *   unique); a key too narrow for the row count fails with `TENDRIL_E_SEED` naming the column.
 * - Joined tables are filled consistently: a join's columns on both sides and every reference
 *   column hold the row number in the same form, so row i of the main table finds row i of the
 *   joined table; a column a `where` or `onValues` compares with constants cycles through them,
 *   so every stream and every constant-keyed join has rows to read.
 * - Other columns: integers i (flags 0), dates and stamps fixed, text `<Column> <i>` shortened to
 *   the column's width from the name's end, never the number. Undeclared NOT NULL columns without
 *   a default (a real schema has many) get a value of their type; declared columns the live table
 *   lacks are skipped.
 * For connectors with no vendor data generator (the provisional Dolphin and Orthotrac maps, a new
 * connector's first run): enough to exercise every stream, not realistic data.
 */
export async function seedFromDeclarations(
  knex: Knex,
  tables: readonly TableDefinition[],
  options: SeedDeclaredOptions = {},
): Promise<Record<string, number>> {
  const rows = options.rows ?? 25;
  if (!Number.isInteger(rows) || rows < 1)
    throw new TendrilError('TENDRIL_E_SEED', 'rows must be a whole number ≥ 1', { details: { rows } });
  const stamp = options.stamp ?? '2024-01-15 10:00:00';
  const roles = columnRoles(tables);
  const written: Record<string, number> = {};
  for (const plan of planTables(tables)) {
    const live = (await knex(plan.name).columnInfo()) as unknown as Record<string, LiveColumn>;
    const liveByLower = new Map(
      Object.entries(live).map(([name, info]) => [name.toLowerCase(), { name, info }]),
    );
    const declared = new Map([...plan.columns].map(([column, type]) => [column.toLowerCase(), type]));
    // Declared columns the table has, then the table's own NOT NULL columns without a default.
    const columns: { name: string; type: string; info: LiveColumn | undefined }[] = [];
    for (const [column, type] of plan.columns) {
      const found = liveByLower.get(column.toLowerCase());
      if (found || liveByLower.size === 0)
        columns.push({ name: found?.name ?? column, type, info: found?.info });
    }
    for (const { name, info } of liveByLower.values()) {
      if (declared.has(name.toLowerCase()) || info.nullable || info.defaultValue !== null) continue;
      columns.push({ name, type: info.type, info });
    }
    const tableRoles = roles.get(plan.name.toLowerCase());
    const batch: Record<string, string | number>[] = [];
    for (let i = 1; i <= rows; i++) {
      const row: Record<string, string | number> = {};
      for (const { name, type, info } of columns) {
        row[name] = valueFor(plan.name, name, type, info, tableRoles?.get(name.toLowerCase()), i, stamp);
      }
      batch.push(row);
    }
    await knex.batchInsert(plan.name, batch, 100);
    written[plan.name] = rows;
  }
  return written;
}
