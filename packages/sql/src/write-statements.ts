import {
  isWriteStamp,
  TendrilError,
  wallClockText,
  zoneOffsetMinutes,
  type WhereValue,
  type WritebackRow,
  type WritebackSql,
  type WriteSelect,
  type WriteStamp,
  type WriteTable,
  type WriteValue,
} from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';

/**
 * The statements of a write transaction (docs/writeback.md), built with knex: identifiers quoted,
 * every value bound, the dialect's locking read and clock expressions. The writeback engine and
 * the connectors' handlers reach the database only through the {@link WritebackSql} made here.
 */

export type WriteStatementKind = 'select' | 'insert' | 'update';

/** One statement, built and ready: the runner sends it (or, in a test, records it). */
export interface WriteStatement {
  readonly kind: WriteStatementKind;
  readonly table: WriteTable;
  readonly query: Knex.QueryBuilder;
  /** It takes row locks: a locking read, an insert or an update (a plain read takes none). */
  readonly locks: boolean;
}

/** Sends a statement and returns knex's result (rows, `[insertId]`, an affected-row count). */
export type WriteRunner = (statement: WriteStatement) => Promise<unknown>;

export interface WritebackSqlOptions {
  /** The knex instance the builders are made from; `run` decides where each is sent. */
  readonly knex: Knex | Knex.Transaction;
  readonly dialect: SqlClient['dialect'];
  readonly run: WriteRunner;
  /** The office's IANA zone: `db-local` and `client` stamps are its wall time. */
  readonly timezone: string;
  readonly now: () => Date;
  /** Called with each statement's text (placeholders, never values) before it is sent. */
  readonly onStatement?: (sql: string) => void;
  /** Called once before the first statement is sent (the deadline gate); throws to abandon. */
  readonly beforeFirstStatement?: () => void;
}

const MYSQL_PRECISION = (p: number) => Math.max(0, Math.min(6, Math.trunc(p)));

/**
 * "Now" in a clock domain, as the dialect computes it on the database clock (`db-utc`, `db-local`:
 * the UTC clock shifted by the office's current offset, so no time-zone tables are needed), or as
 * a bound value of the agent's clock (`client`).
 */
function stampValue(options: WritebackSqlOptions, stamp: WriteStamp): Knex.Raw | string {
  const { knex, dialect } = options;
  const precision = stamp.precision ?? 0;
  if (stamp.stamp === 'client') return wallClockText(options.now(), options.timezone, precision);
  const offset = stamp.stamp === 'db-local' ? zoneOffsetMinutes(options.now(), options.timezone) : 0;
  switch (dialect) {
    case 'mysql': {
      const utc = `UTC_TIMESTAMP(${MYSQL_PRECISION(precision)})`;
      return offset === 0 ? knex.raw(utc) : knex.raw(`DATE_ADD(${utc}, INTERVAL ? MINUTE)`, [offset]);
    }
    case 'mssql':
      return offset === 0
        ? knex.raw('SYSUTCDATETIME()')
        : knex.raw('DATEADD(minute, ?, SYSUTCDATETIME())', [offset]);
    case 'postgres':
      return knex.raw("(clock_timestamp() AT TIME ZONE 'UTC') + make_interval(mins => ?)", [offset]);
    case 'sqlite':
      return knex.raw("strftime('%Y-%m-%d %H:%M:%f', 'now', ?)", [`${offset} minutes`]);
    default:
      throw new Error(`unreachable dialect ${dialect satisfies never}`);
  }
}

function undeclared(table: WriteTable, column: string): TendrilError {
  return new TendrilError(
    'TENDRIL_E_CONNECTOR_DEFINITION',
    `writeback: table ${table.table} has no declared column "${column}"; declare it in the stream or in writeOnly`,
    { details: { table: table.table, column } },
  );
}

/** The site's name of a declared column (checked to be declared). */
function physical(table: WriteTable, column: string): string {
  if (table.columns[column] === undefined) throw undeclared(table, column);
  return table.columnNames?.[column] ?? column;
}

function applyWhere(
  qb: Knex.QueryBuilder,
  table: WriteTable,
  where: Readonly<Record<string, WhereValue>> | undefined,
): void {
  for (const [column, expected] of Object.entries(table.where ?? {})) {
    const name = physical(table, column);
    if (typeof expected === 'object') {
      if ('in' in expected) qb.whereIn(name, [...expected.in]);
      else qb.whereNotIn(name, [...expected.notIn]);
    } else qb.where(name, expected);
  }
  for (const [column, value] of Object.entries(where ?? {})) {
    const name = physical(table, column);
    if (value === null) qb.whereNull(name);
    else if (typeof value === 'object' && 'in' in value) qb.whereIn(name, [...value.in]);
    else if (typeof value === 'object') qb.where(name, '>=', value.gte).andWhere(name, '<', value.lt);
    else qb.where(name, value);
  }
}

/**
 * The table of a read, locked where asked: SQL Server takes update locks held to the end of the
 * transaction (`WITH (UPDLOCK, HOLDLOCK)`: key-range locks, so a concurrent insert into the range
 * waits); MySQL/MariaDB and PostgreSQL `FOR UPDATE`. SQLite serialises writers by itself.
 */
function from(options: WritebackSqlOptions, table: WriteTable, lock: boolean): Knex.QueryBuilder {
  const { knex, dialect } = options;
  if (lock && dialect === 'mssql') return knex.from(knex.raw('?? WITH (UPDLOCK, HOLDLOCK)', [table.table]));
  const qb = knex(table.table);
  if (lock && (dialect === 'mysql' || dialect === 'postgres')) qb.forUpdate();
  return qb;
}

function values(
  options: WritebackSqlOptions,
  table: WriteTable,
  given: Readonly<Record<string, WriteValue>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const all: Record<string, WriteValue> = { ...given };
  // The stamp polling reads this table by: in its clock domain on every write (docs/writeback.md).
  if (table.stamp && !(table.stamp.column in all))
    all[table.stamp.column] = { stamp: table.stamp.clock, precision: table.stamp.precision };
  for (const [column, value] of Object.entries(all)) {
    out[physical(table, column)] = isWriteStamp(value) ? stampValue(options, value) : value;
  }
  return out;
}

/** A {@link WritebackSql} over `options.knex`, each statement sent through `options.run`. */
export function createWritebackSql(options: WritebackSqlOptions): WritebackSql {
  let first = true;
  const send = async (statement: WriteStatement): Promise<unknown> => {
    if (first) {
      first = false;
      options.beforeFirstStatement?.();
    }
    options.onStatement?.(statement.query.toSQL().sql);
    return options.run(statement);
  };
  return {
    dialect: options.dialect,
    async select(table: WriteTable, query: WriteSelect): Promise<WritebackRow[]> {
      const lock = query.lock ?? false;
      const qb = from(options, table, lock);
      if (query.aggregate) {
        const column = physical(table, query.aggregate.column);
        if (query.aggregate.fn === 'max') qb.max({ [query.aggregate.as]: column });
        else qb.min({ [query.aggregate.as]: column });
      } else {
        const columns = query.columns ?? Object.keys(table.columns);
        qb.select(columns.map((c) => (physical(table, c) === c ? c : { [c]: physical(table, c) })));
      }
      applyWhere(qb, table, query.where);
      const rows = await send({ kind: 'select', table, query: qb, locks: lock });
      return Array.isArray(rows) ? (rows as WritebackRow[]) : [];
    },
    async insert(table, row) {
      const qb = options.knex(table.table).insert(values(options, table, row));
      const result = await send({ kind: 'insert', table, query: qb, locks: true });
      // mysql2 and better-sqlite3 report the auto-increment key as `[id]`; others return nothing.
      const id = Array.isArray(result) ? (result[0] as unknown) : undefined;
      return typeof id === 'number' || typeof id === 'string' || typeof id === 'bigint'
        ? String(id) === '0'
          ? {}
          : { insertId: String(id) }
        : {};
    },
    async update(table, set, where) {
      const qb = options.knex(table.table).update(values(options, table, set));
      applyWhere(qb, table, where);
      const result = await send({ kind: 'update', table, query: qb, locks: true });
      return { affectedRows: typeof result === 'number' ? result : Number(result ?? 0) };
    },
  };
}
