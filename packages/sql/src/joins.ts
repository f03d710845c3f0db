import type { TableDefinition } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { bindKey, checkDeclaredType } from './column-binding.js';

/**
 * The LEFT JOINs of a table definition, one implementation for every query that reads rows
 * (`queries.ts`, and the SQL Server change-tracking / rowversion pages through `mssql-paging.ts`):
 * each `on` pair compares two columns, each `onValues` entry compares the joined column with a
 * parameter bound in that column's declared type (like a key: `CAST(? AS int)` on SQL Server).
 * `ownerRef` turns a main-table or `alias.column` name into its qualified reference.
 */
export function addLeftJoins(
  qb: Knex.QueryBuilder,
  client: SqlClient,
  table: TableDefinition,
  ownerRef: (name: string) => string,
): void {
  for (const join of table.joins ?? []) {
    const constants = Object.entries(join.onValues ?? {}).map(([column, value]) => {
      const type = join.columns[column] as string;
      checkDeclaredType(client, type, `${join.alias}.${column}`);
      return { ref: `${join.alias}.${column}`, value: bindKey(client, type, column, String(value)) };
    });
    qb.leftJoin({ [join.alias]: join.table }, function on(this: Knex.JoinClause) {
      for (const [joined, owner] of Object.entries(join.on))
        this.on(`${join.alias}.${joined}`, '=', ownerRef(owner));
      for (const constant of constants) this.andOn(constant.ref, '=', constant.value);
    });
  }
}
