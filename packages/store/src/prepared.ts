import {
  sql,
  type AliasedRawBuilder,
  type Compilable,
  type CompiledQuery,
  type Expression,
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  type QueryResult,
  type RawBuilder,
} from 'kysely';
import type { StoreDialect } from './dialect.js';
import { Slot, type BatchRow, type RowColumns, type RowValue } from './slots.js';
import type { StoreTables } from './tables.js';

/** What a prepared query is built with: its parameters, list parameters and the dialect's flag literals. */
export interface QueryParts<P> {
  param<K extends keyof P & string>(name: K): RawBuilder<P[K]>;
  /** `ref IN (list)` with the whole list as one parameter, whatever its length. */
  inList(ref: string, name: keyof P & string, type: 'text' | 'bigint'): RawBuilder<boolean>;
  /** A flag constant as the partial indexes spell it (`1` in SQLite, `TRUE` in PostgreSQL). */
  readonly yes: RawBuilder<number>;
  readonly no: RawBuilder<number>;
  /** The dialect, for its table expressions and row locks. */
  readonly dialect: StoreDialect;
}

interface Compiled {
  readonly query: CompiledQuery;
}

/**
 * A query whose SQL is built and compiled once per dialect, then run many times with new values:
 * the store's hot paths (a page commit, a lease, an attempt) pay neither the query builder nor the
 * SQL compiler per call, and SQLite reuses the prepared statement of the same text.
 */
export class Prepared<P extends object, R> {
  readonly #build: (db: Kysely<StoreTables>, parts: QueryParts<P>) => Compilable<R>;
  readonly #compiled = new WeakMap<StoreDialect, Compiled>();

  constructor(build: (db: Kysely<StoreTables>, parts: QueryParts<P>) => Compilable<R>) {
    this.#build = build;
  }

  compiled(db: Kysely<StoreTables>, dialect: StoreDialect): CompiledQuery {
    let entry = this.#compiled.get(dialect);
    if (entry === undefined) {
      entry = { query: this.#build(db, queryParts<P>(dialect)).compile() };
      this.#compiled.set(dialect, entry);
    }
    return entry.query;
  }

  /** Runs the query on `db` (the store's database or a transaction) with these values. */
  async run(db: Kysely<StoreTables>, dialect: StoreDialect, params: P): Promise<QueryResult<R>> {
    const query = this.compiled(db, dialect);
    return dialect.execute(db, { ...query, parameters: bindParameters(query, params, dialect) }) as Promise<
      QueryResult<R>
    >;
  }

  /** Runs a select, each row an array of its columns in select order (a wide row costs less so). */
  async runArrays(db: Kysely<StoreTables>, dialect: StoreDialect, params: P): Promise<unknown[][]> {
    const query = this.compiled(db, dialect);
    return dialect.executeArrays(db, { ...query, parameters: bindParameters(query, params, dialect) });
  }
}

/** What a batch's query is built from: the rows, as a table or as the current row's values. */
export interface BatchRows<C extends RowColumns> {
  /** The rows as the table `u` (for `UPDATE … FROM u`; on SQLite the one current row). */
  readonly table: AliasedRawBuilder<{ [K in keyof C]: RowValue }, 'u'>;
  /** A column of the current row, for {@link BatchRows.insert}. */
  readonly col: { readonly [K in keyof C]: RawBuilder<RowValue> };
  /**
   * `INSERT INTO table` one row per batch row; `values` gives each table column an expression of
   * the row's columns and the query's parameters. SQLite: `VALUES (…)`, run once per row;
   * PostgreSQL: `SELECT … FROM u`, run once.
   */
  insert<T extends keyof StoreTables>(
    table: T,
    values: Readonly<Record<string, Expression<unknown>>>,
  ): InsertQueryBuilder<StoreTables, T, InsertResult>;
}

/**
 * A write of many rows in one query. PostgreSQL runs it once with one array per column (`unnest`,
 * one round trip whatever the count); SQLite runs the same statement once per row inside the
 * transaction, as plain `INSERT … VALUES`: in-process that is cheaper than shipping the rows as
 * one document or reading them from a subquery. Only used inside transactions.
 */
export class Batch<C extends RowColumns, P extends object, R> {
  readonly #columns: C;
  readonly #build: (db: Kysely<StoreTables>, rows: BatchRows<C>, parts: QueryParts<P>) => Compilable<R>;
  readonly #compiled = new WeakMap<StoreDialect, Compiled>();

  constructor(
    columns: C,
    build: (db: Kysely<StoreTables>, rows: BatchRows<C>, parts: QueryParts<P>) => Compilable<R>,
  ) {
    this.#columns = columns;
    this.#build = build;
  }

  async run(
    db: Kysely<StoreTables>,
    dialect: StoreDialect,
    rows: readonly BatchRow<C>[],
    params: P,
  ): Promise<QueryResult<R>> {
    if (rows.length === 0) return { rows: [] };
    let entry = this.#compiled.get(dialect);
    if (entry === undefined) {
      entry = {
        query: this.#build(db, batchRows(db, dialect, this.#columns), queryParts<P>(dialect)).compile(),
      };
      this.#compiled.set(dialect, entry);
    }
    const query = entry.query;
    const base = bindParameters(query, params, dialect);
    return dialect.executeBatch(db, query, base, rows) as Promise<QueryResult<R>>;
  }
}

function batchRows<C extends RowColumns>(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  columns: C,
): BatchRows<C> {
  const table = dialect.rowSource(columns) as AliasedRawBuilder<{ [K in keyof C]: RowValue }, 'u'>;
  const names = Object.keys(columns) as (keyof C & string)[];
  const col = Object.fromEntries(
    names.map((name) => [
      name,
      dialect.batchRowsInline
        ? sql<RowValue>`${new Slot(name, 'column')}`
        : sql<RowValue>`${sql.ref(`u.${name}`)}`,
    ]),
  ) as BatchRows<C>['col'];
  return {
    table,
    col,
    insert: (name, values) => {
      if (dialect.batchRowsInline) return db.insertInto(name).values(values as never);
      const keys = Object.keys(values);
      return db
        .insertInto(name)
        .columns(keys as never)
        .expression(db.selectFrom(table).select(keys.map((key) => sql`${values[key]!}`.as(key))) as never);
    },
  };
}

function queryParts<P>(dialect: StoreDialect): QueryParts<P> {
  return {
    param: (name) => sql`${new Slot(name, 'value')}`,
    inList: (ref, name, type) => dialect.inList(ref, new Slot(name, 'list'), type),
    yes: dialect.flagLiteral(true),
    no: dialect.flagLiteral(false),
    dialect,
  };
}

/** The query's parameters with every value and list slot filled; batch column slots stay for the dialect. */
function bindParameters(query: CompiledQuery, params: object, dialect: StoreDialect): unknown[] {
  const values = params as Record<string, unknown>;
  return query.parameters.map((parameter) => {
    if (!(parameter instanceof Slot) || parameter.kind === 'column') return parameter;
    const value = values[parameter.name];
    if (value === undefined) throw new Error(`The store query is missing its parameter ${parameter.name}.`);
    return parameter.kind === 'list' ? dialect.encodeList(value as readonly (string | number)[]) : value;
  });
}
