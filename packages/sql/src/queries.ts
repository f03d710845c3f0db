import {
  TendrilError,
  type ColumnType,
  type DeleteLogSpec,
  type RowCondition,
  type TableDefinition,
} from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { bindCursor, bindKey, checkDeclaredType, cursorText } from './column-binding.js';
import { addLeftJoins } from './joins.js';

/**
 * Every read a connector stream makes, built with knex and fully parameterized: connectors never
 * write SQL (docs/architecture.md, "Layers"). Row shape, for every query but {@link keysPageQuery}:
 * - main-table declared columns under their bare names (`AptNum`);
 * - join columns as `"<alias>.<column>"` (`"p.LName"`);
 * - for `timestamp` tables, the cursor as the database's own text under {@link CURSOR_ALIAS}.
 */

/** Alias of the cursor column's text form in every row of a timestamp table. */
export const CURSOR_ALIAS = '__cursor';

/**
 * Position inside a poll's fixed window, after the last committed row (docs/sync-semantics.md, "Keyset paging").
 * Identical to `CursorPosition` in `packages/store/src/types.ts`; defined here because this
 * package depends on `@tendril/core` only (docs/architecture.md, "Layers") and the store has no index yet.
 */
export interface CursorPosition {
  /** Cursor value of the last row, as the database's own text at full precision. Absent for key-only paging. */
  readonly cursor?: string;
  /** Key columns of the last row, as strings. */
  readonly key: readonly string[];
}

/** One page of a `timestamp` stream inside the poll's fixed `[lower, upper)` window. */
export interface TimestampPage {
  readonly lower: string;
  readonly upper: string;
  readonly after?: CursorPosition;
  readonly limit: number;
  /** `cursor` (default): `(c, key…)` order; `key`: primary-key order with the window as a filter. */
  readonly order?: 'cursor' | 'key';
}

/** One page of a scan in key order. */
export interface KeyPage {
  readonly after?: CursorPosition;
  readonly limit: number;
}

/** A row as the driver returns it; values are strings for keys, cursors and dates. */
export type SqlRow = Record<string, unknown>;

interface Column {
  /** Qualified reference: `table.column` or `alias.column`; an expression for a cursor with a fallback. */
  readonly ref: string | Knex.Raw;
  readonly type: ColumnType;
  readonly name: string;
  /** A cursor with a fallback: the stamp and the fallback column `ref` coalesces. */
  readonly coalesced?: readonly [Column & { ref: string }, Column & { ref: string }];
}

/** Resolves the column names a table definition uses (bare = main table, `alias.column` = join). */
class Columns {
  constructor(
    private readonly client: SqlClient,
    private readonly table: string,
    private readonly main: Readonly<Record<string, ColumnType>>,
    private readonly joins: TableDefinition['joins'] = [],
    /** Per-site physical names of main-table columns (`TableDefinition.columnNames`). */
    private readonly names: TableDefinition['columnNames'] = {},
  ) {}

  get(name: string): Column & { readonly ref: string } {
    const dot = name.indexOf('.');
    if (dot < 0) {
      const type = this.main[name];
      if (type === undefined) throw undeclared(this.table, name);
      checkDeclaredType(this.client, type, name);
      return { ref: `${this.table}.${this.names?.[name] ?? name}`, type, name };
    }
    const alias = name.slice(0, dot);
    const column = name.slice(dot + 1);
    const type = this.joins?.find((j) => j.alias === alias)?.columns[column];
    if (type === undefined) throw undeclared(this.table, name);
    checkDeclaredType(this.client, type, name);
    return { ref: name, type, name };
  }
}

function undeclared(table: string, column: string): TendrilError {
  return new TendrilError(
    'TENDRIL_E_CONNECTOR_DEFINITION',
    `table ${table}: column "${column}" is not declared in columns`,
    { details: { table, column } },
  );
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'page size must be a positive integer; check sync.pageSize',
      { details: { limit } },
    );
  }
}

function checkPosition(
  table: string,
  key: readonly string[],
  after: CursorPosition | undefined,
  needsCursor: boolean,
): void {
  if (!after) return;
  if (after.key.length !== key.length || (needsCursor && after.cursor === undefined)) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `table ${table}: the stored page position does not match the stream's key (${key.join(', ')})${needsCursor ? ' and cursor' : ''}; the connector definition changed, so reset the stream to run a baseline`,
      {
        details: {
          table,
          keyColumns: key.length,
          positionColumns: after.key.length,
          hasCursor: after.cursor !== undefined,
        },
      },
    );
  }
}

/** `WHERE` for a static row filter. A `notIn` excludes NULLs too (SQL three-valued logic). */
function applyCondition(qb: Knex.QueryBuilder, columns: Columns, condition: RowCondition | undefined): void {
  for (const [name, expected] of Object.entries(condition ?? {})) {
    const { ref } = columns.get(name);
    if (typeof expected === 'object') {
      if ('in' in expected) qb.whereIn(ref, [...expected.in]);
      else qb.whereNotIn(ref, [...expected.notIn]);
    } else qb.where(ref, expected);
  }
}

/** `ref op value` for a column name or an expression (knex types the two apart). */
function compare(qb: Knex.QueryBuilder, ref: Column['ref'], op: string, value: Knex.Raw): Knex.QueryBuilder {
  return typeof ref === 'string' ? qb.where(ref, op, value) : qb.where(ref, op, value);
}

interface Bound {
  readonly column: Column;
  readonly bind: () => Knex.Raw;
}

/**
 * `(c1, c2, …) > (v1, v2, …)` written out column by column (row-value comparison is missing on
 * SQL Server and not index-friendly everywhere): `c1 > v1 OR (c1 = v1 AND (c2 > v2 OR …))`.
 */
function greaterThan(qb: Knex.QueryBuilder, parts: readonly Bound[]): void {
  const [first, ...rest] = parts;
  if (!first) return;
  compare(qb, first.column.ref, '>', first.bind());
  if (rest.length > 0) {
    qb.orWhere((equal) => {
      compare(equal, first.column.ref, '=', first.bind()).andWhere((deeper) => greaterThan(deeper, rest));
    });
  }
}

function keyParts(client: SqlClient, keyColumns: readonly Column[], values: readonly string[]): Bound[] {
  return keyColumns.map((column, i) => ({
    column,
    bind: () => bindKey(client, column.type, column.name, values[i] as string),
  }));
}

function cursorPart(client: SqlClient, column: Column, value: string): Bound {
  return { column, bind: () => bindCursor(client, column.type, column.name, value) };
}

/**
 * `lower <= c AND c < upper`, both bound in the column's type. A cursor with a fallback `f` is
 * written `(lower <= c AND c < upper) OR (c IS NULL AND lower <= f AND f < upper)` — the same rows
 * as `COALESCE(c, f)` in the window, but each branch can still use an index on its own column.
 */
function inWindow(
  qb: Knex.QueryBuilder,
  client: SqlClient,
  column: Column,
  lower: string,
  upper: string,
): void {
  if (column.coalesced) {
    const [stamp, fallback] = column.coalesced;
    qb.where((either) => {
      either
        .where((stamped) => inWindow(stamped, client, stamp, lower, upper))
        .orWhere((unstamped) => {
          unstamped.whereNull(stamp.ref).andWhere((rest) => inWindow(rest, client, fallback, lower, upper));
        });
    });
    return;
  }
  compare(qb, column.ref, '>=', bindCursor(client, column.type, column.name, lower));
  compare(qb, column.ref, '<', bindCursor(client, column.type, column.name, upper));
}

/**
 * The change stamp of a timestamp table as compared, ordered and selected: the column, or
 * `COALESCE(column, fallback)` when the cursor declares a fallback (both of one declared type).
 */
function cursorOf(client: SqlClient, table: TableDefinition, columns: Columns): Column {
  if (table.cursor.mode !== 'timestamp') throw new Error('unreachable: not a timestamp table');
  const stamp = columns.get(table.cursor.column);
  if (table.cursor.fallback === undefined) return stamp;
  const fallback = columns.get(table.cursor.fallback);
  return {
    ...stamp,
    ref: client.knex.raw('COALESCE(??, ??)', [stamp.ref, fallback.ref]),
    coalesced: [stamp, fallback],
  };
}

/** Main table, LEFT JOINs and the select list shared by row-reading queries. */
function selectRows(client: SqlClient, table: TableDefinition, columns: Columns): Knex.QueryBuilder {
  const { knex } = client;
  const qb = knex(table.table);
  const select: Record<string, string> = {};
  // `site AS declared` when a per-site override renames a column: rows keep declared names.
  for (const name of Object.keys(table.columns))
    select[name] = `${table.table}.${table.columnNames?.[name] ?? name}`;
  for (const join of table.joins ?? []) {
    for (const name of Object.keys(join.columns)) select[`${join.alias}.${name}`] = `${join.alias}.${name}`;
  }
  qb.select(select);
  if (table.cursor.mode === 'timestamp')
    qb.select(knex.raw('? as ??', [cursorText(client, cursorOf(client, table, columns).ref), CURSOR_ALIAS]));
  addJoins(qb, client, table, columns);
  return qb;
}

function addJoins(qb: Knex.QueryBuilder, client: SqlClient, table: TableDefinition, columns: Columns): void {
  addLeftJoins(qb, client, table, (owner) => columns.get(owner).ref);
}

function columnsOf(client: SqlClient, table: TableDefinition): Columns {
  return new Columns(client, table.table, table.columns, table.joins, table.columnNames);
}

/**
 * One page of a `timestamp` stream (docs/sync-semantics.md, "Timestamp cursors" and "Keyset paging"): `table.where`, the poll's fixed
 * window `lower <= c < upper`, then after `page.after` in `(c, key…)` order.
 *
 * With `page.order: 'key'` pages go by primary key only, the window still applied as a filter: a
 * backload's window spans the whole table, and ordering it by `(c, key)` would sort the table
 * again for every page (O(n²) on engines whose stamp index does not carry the key, like MyISAM).
 *
 * With `cursor.also` (stamps of joined tables), a row qualifies when any of its stamps is in the
 * window, and pages go by key only (`page.after.cursor` is not used): the row's position in
 * stamp order is ambiguous when several stamps count. The joins must be to-one, as for every
 * query here, or a main row would appear once per joined row.
 */
export function timestampPageQuery(
  client: SqlClient,
  table: TableDefinition,
  page: TimestampPage,
): Knex.QueryBuilder {
  if (table.cursor.mode !== 'timestamp') {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `table ${table.table} has no timestamp cursor; read it with snapshotPageQuery`,
      {
        details: { table: table.table, mode: table.cursor.mode },
      },
    );
  }
  checkLimit(page.limit);
  const columns = columnsOf(client, table);
  const cursor = cursorOf(client, table, columns);
  const keys = table.key.map((k) => columns.get(k));
  const also = (table.cursor.also ?? []).map((c) => columns.get(c));
  const byKeyOnly = also.length > 0 || page.order === 'key';
  checkPosition(table.table, table.key, page.after, !byKeyOnly);
  const qb = selectRows(client, table, columns);
  applyCondition(qb, columns, table.where);
  if (byKeyOnly) {
    qb.andWhere((any) => {
      for (const stamp of [cursor, ...also])
        any.orWhere((one) => inWindow(one, client, stamp, page.lower, page.upper));
    });
    if (page.after) {
      const after = page.after;
      qb.andWhere((next) => greaterThan(next, keyParts(client, keys, after.key)));
    }
    qb.orderBy(keys.map((k) => ({ column: k.ref, order: 'asc' })));
  } else {
    qb.andWhere((window) => inWindow(window, client, cursor, page.lower, page.upper));
    if (page.after) {
      const after = page.after;
      qb.andWhere((next) =>
        greaterThan(next, [
          cursorPart(client, cursor, after.cursor as string),
          ...keyParts(client, keys, after.key),
        ]),
      );
    }
    qb.orderBy([cursor, ...keys].map((c) => ({ column: c.ref, order: 'asc' })));
  }
  return qb.limit(page.limit);
}

/** One page of a full scan in key order (`snapshot` mode, baselines), `table.where` applied. */
export function snapshotPageQuery(
  client: SqlClient,
  table: TableDefinition,
  page: KeyPage,
): Knex.QueryBuilder {
  checkLimit(page.limit);
  const columns = columnsOf(client, table);
  const keys = table.key.map((k) => columns.get(k));
  checkPosition(table.table, table.key, page.after, false);
  const qb = selectRows(client, table, columns);
  applyCondition(qb, columns, table.where);
  if (page.after) {
    const after = page.after;
    qb.andWhere((next) => greaterThan(next, keyParts(client, keys, after.key)));
  }
  return qb.orderBy(keys.map((k) => ({ column: k.ref, order: 'asc' }))).limit(page.limit);
}

/**
 * Point lookup of rows by full key: confirms delete candidates (docs/sync-semantics.md, "Classification") and reads
 * rows found by reconciliation. Same select list, joins and `table.where` as the page queries, so
 * a row filtered out by `where` counts as absent. Each key is one string per key column. Callers
 * chunk large key sets (SQL Server allows 2,100 parameters per statement).
 */
export function lookupByKeysQuery(
  client: SqlClient,
  table: TableDefinition,
  keys: readonly (readonly string[])[],
): Knex.QueryBuilder {
  const columns = columnsOf(client, table);
  const keyColumns = table.key.map((k) => columns.get(k));
  for (const key of keys) {
    if (key.length !== table.key.length) {
      throw new TendrilError(
        'TENDRIL_E_CURSOR_STATE',
        `table ${table.table}: a lookup key has ${key.length} part(s) but the table's key is (${table.key.join(', ')}); pass one string per key column`,
        { details: { table: table.table, keyColumns: table.key.length, lookupColumns: key.length } },
      );
    }
  }
  const qb = selectRows(client, table, columns);
  applyCondition(qb, columns, table.where);
  if (keys.length === 0) return qb.whereRaw('1 = 0');
  const [single] = keyColumns;
  if (keyColumns.length === 1 && single) {
    return qb.whereIn(
      single.ref,
      keys.map((key) => bindKey(client, single.type, single.name, key[0] as string)),
    );
  }
  return qb.andWhere((any) => {
    for (const key of keys) {
      any.orWhere((match) => {
        keyColumns.forEach((column, i) => {
          match.where(column.ref, '=', bindKey(client, column.type, column.name, key[i] as string));
        });
      });
    }
  });
}

/**
 * One page of a delete log (Open Dental `deletedobject`), read as a second timestamp stream:
 * its `where`, the window `lower <= c < upper`, keyset `(c, key…)`. Returns the declared log
 * columns under their bare names plus {@link CURSOR_ALIAS}.
 */
export function deleteLogPageQuery(
  client: SqlClient,
  log: DeleteLogSpec,
  page: TimestampPage,
): Knex.QueryBuilder {
  checkLimit(page.limit);
  const { knex } = client;
  const columns = new Columns(client, log.table, log.columns);
  const cursor = columns.get(log.cursor.column);
  const keys = log.key.map((k) => columns.get(k));
  checkPosition(log.table, log.key, page.after, true);
  const select: Record<string, string> = {};
  for (const name of Object.keys(log.columns)) select[name] = `${log.table}.${name}`;
  const qb = knex(log.table)
    .select(select)
    .select(knex.raw('? as ??', [cursorText(client, cursor.ref), CURSOR_ALIAS]));
  applyCondition(qb, columns, log.where);
  qb.andWhere((window) => inWindow(window, client, cursor, page.lower, page.upper));
  if (page.after) {
    const after = page.after;
    qb.andWhere((next) =>
      greaterThan(next, [
        cursorPart(client, cursor, after.cursor as string),
        ...keyParts(client, keys, after.key),
      ]),
    );
  }
  return qb.orderBy([cursor, ...keys].map((c) => ({ column: c.ref, order: 'asc' }))).limit(page.limit);
}

/**
 * One page of key columns only, in key order: nightly reconciliation's key scan
 * (docs/sync-semantics.md, "Nightly reconciliation"). `table.where` applies; joins are added only when it filters on a
 * joined column.
 */
export function keysPageQuery(client: SqlClient, table: TableDefinition, page: KeyPage): Knex.QueryBuilder {
  checkLimit(page.limit);
  const columns = columnsOf(client, table);
  const keys = table.key.map((k) => columns.get(k));
  checkPosition(table.table, table.key, page.after, false);
  const select: Record<string, string> = {};
  for (const key of keys) select[key.name] = key.ref;
  const qb = client.knex(table.table).select(select);
  if (Object.keys(table.where ?? {}).some((name) => name.includes('.'))) addJoins(qb, client, table, columns);
  applyCondition(qb, columns, table.where);
  if (page.after) {
    const after = page.after;
    qb.andWhere((next) => greaterThan(next, keyParts(client, keys, after.key)));
  }
  return qb.orderBy(keys.map((k) => ({ column: k.ref, order: 'asc' }))).limit(page.limit);
}

/**
 * Rows of a `timestamp` stream changed at or after `from` (the last poll's upper bound, i.e. inside
 * the settle window): `{ rows, newest_0, newest_1… }` — the count, and the newest value of the
 * cursor and of each `cursor.also` stamp as the database's text. `tendril sync` reports them as held
 * back until the window has passed (docs/sync.md).
 */
export function settlingRowsQuery(
  client: SqlClient,
  table: TableDefinition,
  from: string,
): Knex.QueryBuilder {
  if (table.cursor.mode !== 'timestamp') {
    throw new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', `table ${table.table} has no timestamp cursor`, {
      details: { table: table.table, mode: table.cursor.mode },
    });
  }
  const { knex } = client;
  const columns = columnsOf(client, table);
  // The cursor as the polls compare it (with its fallback, COALESCE), then each `also` stamp.
  const stamps = [cursorOf(client, table, columns), ...(table.cursor.also ?? []).map((c) => columns.get(c))];
  const qb = knex(table.table).select(knex.raw('COUNT(*) AS ??', ['rows']));
  stamps.forEach((stamp, i) => {
    qb.select(knex.raw('MAX(?) AS ??', [cursorText(client, stamp.ref), `newest_${i}`]));
  });
  if ((table.cursor.also?.length ?? 0) > 0) addJoins(qb, client, table, columns);
  applyCondition(qb, columns, table.where);
  qb.andWhere((any) => {
    for (const stamp of stamps)
      any.orWhere((one) => {
        compare(one, stamp.ref, '>=', bindCursor(client, stamp.type, stamp.name, from));
      });
  });
  return qb;
}

/**
 * How many rows a full read of the stream's table covers (`table.where` applied): the total a
 * backload's progress line shows. An estimate only: rows change while it runs.
 */
export function tableRowCountQuery(client: SqlClient, table: TableDefinition): Knex.QueryBuilder {
  const columns = columnsOf(client, table);
  const qb = client.knex(table.table).select(client.knex.raw('COUNT(*) AS ??', ['rows']));
  applyCondition(qb, columns, table.where);
  return qb;
}
