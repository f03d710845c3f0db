import { TendrilError, type ColumnType, type RowCondition, type TableDefinition } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { bindKey, checkDeclaredType } from './column-binding.js';
import { addLeftJoins } from './joins.js';

/**
 * Shared pieces of the SQL Server change-detection queries (`mssql-change-tracking.ts`,
 * `mssql-rowversion.ts`): the same row shape as `queries.ts` (main columns under bare names, join
 * columns as `"alias.column"`), and keyset predicates written out column by column.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Refuses a name that is not a plain identifier: it is spliced into `OBJECT_ID()` text and aliases. */
export function checkIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `${what} "${name}" is not a plain SQL identifier`,
      {
        details: { what },
      },
    );
  }
  return name;
}

/** `schema.table` as `OBJECT_ID()` takes it, bracket-quoted. */
export function objectName(schema: string, table: string): string {
  return `[${checkIdentifier(schema, 'schema')}].[${checkIdentifier(table, 'table')}]`;
}

/** The stream must be read through a SQL Server client. */
export function requireMssql(client: SqlClient, what: string): void {
  if (client.dialect !== 'mssql') {
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      `${what} exists on SQL Server only; this connection is ${client.dialect}. Use the timestamp or snapshot mode`,
      { details: { dialect: client.dialect } },
    );
  }
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'page size must be a positive integer; check sync.pageSize',
      {
        details: { limit },
      },
    );
  }
}

/** A column of the main table or a join, with its declared type. */
export interface ResolvedColumn {
  readonly ref: string;
  readonly type: ColumnType;
  readonly name: string;
}

export function resolveColumn(client: SqlClient, table: TableDefinition, name: string): ResolvedColumn {
  const dot = name.indexOf('.');
  const type =
    dot < 0
      ? table.columns[name]
      : table.joins?.find((j) => j.alias === name.slice(0, dot))?.columns[name.slice(dot + 1)];
  if (type === undefined) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `table ${table.table}: column "${name}" is not declared in columns`,
      {
        details: { table: table.table, column: name },
      },
    );
  }
  checkDeclaredType(client, type, name);
  return { ref: dot < 0 ? `${table.table}.${name}` : name, type, name };
}

/** Main-table columns under their bare names and join columns as `"alias.column"`, with the LEFT JOINs. */
export function selectTableColumns(qb: Knex.QueryBuilder, client: SqlClient, table: TableDefinition): void {
  const select: Record<string, string> = {};
  for (const name of Object.keys(table.columns)) select[name] = `${table.table}.${name}`;
  for (const join of table.joins ?? []) {
    for (const name of Object.keys(join.columns)) select[`${join.alias}.${name}`] = `${join.alias}.${name}`;
  }
  qb.select(select);
  addLeftJoins(qb, client, table, (owner) => resolveColumn(client, table, owner).ref);
}

/** A static row filter as `WHERE` terms (a `notIn` also excludes NULL, as in `queries.ts`). */
export function applyRowCondition(
  qb: Knex.QueryBuilder,
  client: SqlClient,
  table: TableDefinition,
  condition: RowCondition | undefined,
): void {
  for (const [name, expected] of Object.entries(condition ?? {})) {
    const { ref } = resolveColumn(client, table, name);
    if (typeof expected === 'object') {
      if ('in' in expected) qb.whereIn(ref, [...expected.in]);
      else qb.whereNotIn(ref, [...expected.notIn]);
    } else qb.where(ref, expected);
  }
}

/** One term of a keyset position: the column and how to bind its value. */
export interface KeysetPart {
  readonly ref: string;
  readonly bind: () => Knex.Raw;
}

/** `(c1, c2, …) > (v1, v2, …)` written out: `c1 > v1 OR (c1 = v1 AND (c2 > v2 OR …))`. */
export function greaterThan(qb: Knex.QueryBuilder, parts: readonly KeysetPart[]): void {
  const [first, ...rest] = parts;
  if (!first) return;
  qb.where(first.ref, '>', first.bind());
  if (rest.length > 0) {
    qb.orWhere((equal) => {
      equal.where(first.ref, '=', first.bind()).andWhere((deeper) => greaterThan(deeper, rest));
    });
  }
}

/** Keyset parts for key columns referenced as `ref(column)`, each bound in its declared type. */
export function keyParts(
  client: SqlClient,
  table: TableDefinition,
  values: readonly string[],
  ref: (column: ResolvedColumn) => string = (c) => c.ref,
): KeysetPart[] {
  if (values.length !== table.key.length) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `table ${table.table}: the stored page position does not match the stream's key (${table.key.join(', ')}); reset the stream to run a baseline`,
      { details: { table: table.table, keyColumns: table.key.length, positionColumns: values.length } },
    );
  }
  return table.key.map((name, i) => {
    const column = resolveColumn(client, table, name);
    return { ref: ref(column), bind: () => bindKey(client, column.type, column.name, values[i] as string) };
  });
}
