import { TendrilError, type ColumnType } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';

/**
 * How a key or cursor value (always a string: the database's own text, docs/sync-semantics.md, "Keyset
 * paging") is bound so the server compares it in the column's own SQL type. A value bound in another type
 * makes the server convert one side, and the conversion can change equality or order: SQL Server
 * `datetime` vs `datetime2` (docs/sync-semantics.md, "Precision and time-zone traps"), `nvarchar` against a
 * `varchar` column with a `SQL_*` collation, or a 64-bit key compared as a double.
 */

const INTEGER_TYPE = /^\s*(tiny|small|medium|big)?int(eger)?\b/i;
const TIMESTAMPTZ_TYPE = /^\s*(timestamptz|timestamp\s*(\(\s*\d+\s*\))?\s+with\s+time\s+zone)\b/i;
/** A plain SQL Server type name with an optional length/precision: safe to splice into CAST. */
const MSSQL_TYPE =
  /^[A-Za-z][A-Za-z0-9_]*(?: [A-Za-z][A-Za-z0-9_]*)*(?:\s*\(\s*(?:\d+|max)\s*(?:,\s*\d+\s*)?\))?$/i;

/**
 * Checks, when a query is built rather than when it runs, that a declared type can be used the
 * way this dialect binds it (SQL Server splices it into `CAST(? AS …)`).
 */
export function checkDeclaredType(client: SqlClient, type: ColumnType, column: string): void {
  if (client.dialect === 'mssql') mssqlType(type, column);
}

/** True for integer column types, whose keys must compare as integers even beyond 2^53. */
export function isIntegerType(type: ColumnType): boolean {
  return INTEGER_TYPE.test(type);
}

function mssqlType(type: ColumnType, column: string): string {
  const trimmed = type.trim();
  if (!MSSQL_TYPE.test(trimmed) || /\b(unsigned|zerofill)\b/i.test(trimmed)) {
    // The type is spliced into SQL text, so anything but a plain type name is refused.
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `column ${column} has declared type "${trimmed}", which is not a plain SQL Server type such as datetime2(7) or varchar(20)`,
      {
        details: { column, type: trimmed },
      },
    );
  }
  return trimmed;
}

/**
 * A placeholder binding `value` as a key column of declared `type`.
 * - mysql: integer columns through `CAST(? AS SIGNED|UNSIGNED)`. mysql2 formats every parameter
 *   client-side into the SQL text, and a BigInt or a numeric string arrives as a quoted string
 *   literal; MySQL may then compare an integer column with a string as doubles, which collapses
 *   neighbouring keys near 2^63. The explicit cast makes the comparison exact on every version.
 *   String keys bind as plain strings; they compare under the column's collation, which is also
 *   the ORDER BY collation, so the keyset stays consistent.
 * - mssql: `CAST(? AS <declared type>)`: tedious sends strings as `nvarchar`, which against a
 *   `varchar` column with a `SQL_*` collation converts the column and changes its sort order
 * (docs/sync-semantics.md, "Keyset paging").
 *   Cast to `varchar(n)`, the parameter takes the database default collation with the weakest
 *   precedence, so the comparison runs in the column's own collation.
 * - postgres: a plain parameter; pg sends it untyped and the server infers the column's type.
 * - sqlite: a plain parameter; the column's INTEGER affinity converts it exactly.
 */
export function bindKey(client: SqlClient, type: ColumnType, column: string, value: string): Knex.Raw {
  const { knex } = client;
  switch (client.dialect) {
    case 'mysql':
      if (isIntegerType(type))
        return knex.raw(/\bunsigned\b/i.test(type) ? 'CAST(? AS UNSIGNED)' : 'CAST(? AS SIGNED)', [value]);
      return knex.raw('?', [value]);
    case 'mssql':
      return knex.raw(`CAST(? AS ${mssqlType(type, column)})`, [value]);
    case 'postgres':
    case 'sqlite':
      return knex.raw('?', [value]);
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}

/**
 * A placeholder binding a cursor text in the cursor column's own type.
 * - mssql: `CAST(? AS datetime)` for `datetime` (exact 1/300 s values round-trip from the
 *   `CONVERT(…, 121)` text), `CAST(? AS datetime2(7))` for `datetime2(7)`: never a `Date`.
 * - postgres: `?::timestamp` (`?::timestamptz` for zoned columns; sessions run in UTC).
 * - mysql: the text; MySQL converts a string constant to the column's temporal type.
 * - sqlite: the text; stamps are stored as text and compare as text.
 */
export function bindCursor(client: SqlClient, type: ColumnType, column: string, value: string): Knex.Raw {
  const { knex } = client;
  switch (client.dialect) {
    case 'mssql':
      return knex.raw(`CAST(? AS ${mssqlType(type, column)})`, [value]);
    case 'postgres':
      return knex.raw(TIMESTAMPTZ_TYPE.test(type) ? '?::timestamptz' : '?::timestamp', [value]);
    case 'mysql':
    case 'sqlite':
      return knex.raw('?', [value]);
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}

/**
 * The cursor column selected as the database's own text at full precision (docs/sync-semantics.md,
 * "Keyset paging"). `ref` is an already qualified column (`table.column`), or an expression over
 * such columns (the `COALESCE(column, fallback)` of a cursor with a fallback).
 */
export function cursorText(client: SqlClient, ref: string | Knex.Raw): Knex.Raw {
  const { knex } = client;
  // `??` quotes a column name; an expression is spliced in as `?`, which knex expands in place.
  const slot = typeof ref === 'string' ? '??' : '?';
  switch (client.dialect) {
    case 'mysql':
      // dateStrings: true makes the driver hand back the server's text.
      return typeof ref === 'string' ? knex.raw('??', [ref]) : ref;
    case 'postgres':
      return knex.raw(`to_char(${slot}, 'YYYY-MM-DD HH24:MI:SS.US')`, [ref]);
    case 'mssql':
      // Style 121: yyyy-mm-dd hh:mi:ss.mmm for datetime, 7 digits for datetime2(7).
      return knex.raw(`CONVERT(varchar(27), ${slot}, 121)`, [ref]);
    case 'sqlite':
      return typeof ref === 'string' ? knex.raw('??', [ref]) : ref;
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}
