import { cellText, TendrilError } from '@tendril/core';
import type { Knex } from 'knex';
import { classifyDbError, type SqlClient } from './client.js';
import { checkIdentifier, objectName, requireMssql } from './mssql-paging.js';
import type { ChangeStrategyProbe, ProbedColumn } from './change-strategy.js';

/**
 * The read-only queries `tendril discover` runs per table on SQL Server to choose a change
 * strategy (docs/sync-semantics.md, "Change-detection modes"): whether change tracking is on for the database
 * and the table and readable by this login, whether snapshot isolation is available, the table's columns with
 * their types (a `rowversion` column; the cursor column's real type, e.g. `DDB_LAST_MOD`
 * `datetime` vs `datetime2(7)`), and its primary key. Names are bound, never spliced.
 */

/**
 * One row: `object_id` (NULL if the table does not exist), `ct_database` / `ct_table` (0/1),
 * `ct_permission` (`HAS_PERMS_BY_NAME(…, 'VIEW CHANGE TRACKING')`: 1, 0, or NULL when unknown),
 * `snapshot_isolation` (`sys.databases.snapshot_isolation_state`, 1 = ON).
 */
export function changeTrackingStatusQuery(
  client: SqlClient,
  table: string,
  schema = 'dbo',
): Knex.QueryBuilder {
  requireMssql(client, 'change tracking');
  const { knex } = client;
  const name = objectName(schema, table);
  return knex.select({
    object_id: knex.raw('OBJECT_ID(?)', [name]),
    ct_database: knex('sys.change_tracking_databases').count('*').where('database_id', knex.raw('DB_ID()')),
    ct_table: knex('sys.change_tracking_tables')
      .count('*')
      .where('object_id', knex.raw('OBJECT_ID(?)', [name])),
    ct_permission: knex.raw('HAS_PERMS_BY_NAME(?, ?, ?)', [name, 'OBJECT', 'VIEW CHANGE TRACKING']),
    snapshot_isolation: knex('sys.databases')
      .select('snapshot_isolation_state')
      .where('database_id', knex.raw('DB_ID()')),
  });
}

/** The table's columns in order: name, `DATA_TYPE` (`rowversion` shows as `timestamp`), precision. */
export function columnsProbeQuery(client: SqlClient, table: string, schema = 'dbo'): Knex.QueryBuilder {
  requireMssql(client, 'column discovery');
  return client
    .knex('INFORMATION_SCHEMA.COLUMNS')
    .select('COLUMN_NAME', 'DATA_TYPE', 'DATETIME_PRECISION', 'CHARACTER_MAXIMUM_LENGTH', 'IS_NULLABLE')
    .where({ TABLE_SCHEMA: checkIdentifier(schema, 'schema'), TABLE_NAME: checkIdentifier(table, 'table') })
    .orderBy('ORDINAL_POSITION');
}

/** The primary key's columns in key order (CT needs a primary key). */
export function primaryKeyProbeQuery(client: SqlClient, table: string, schema = 'dbo'): Knex.QueryBuilder {
  requireMssql(client, 'key discovery');
  return client
    .knex({ tc: 'INFORMATION_SCHEMA.TABLE_CONSTRAINTS' })
    .join({ kcu: 'INFORMATION_SCHEMA.KEY_COLUMN_USAGE' }, function on(this: Knex.JoinClause) {
      this.on('kcu.CONSTRAINT_SCHEMA', '=', 'tc.CONSTRAINT_SCHEMA').andOn(
        'kcu.CONSTRAINT_NAME',
        '=',
        'tc.CONSTRAINT_NAME',
      );
    })
    .select({ COLUMN_NAME: 'kcu.COLUMN_NAME' })
    .where({
      'tc.CONSTRAINT_TYPE': 'PRIMARY KEY',
      'tc.TABLE_SCHEMA': checkIdentifier(schema, 'schema'),
      'tc.TABLE_NAME': checkIdentifier(table, 'table'),
    })
    .orderBy('kcu.ORDINAL_POSITION');
}

type Row = Readonly<Record<string, unknown>>;

function flag(value: unknown): boolean | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  return Number(value) > 0;
}

/** The SQL Server type name with its precision, as declarations spell it: `datetime2(7)`, `datetime`. */
function typeOf(row: Row): string {
  const dataType = String(row['DATA_TYPE']).toLowerCase();
  const precision = row['DATETIME_PRECISION'];
  const length = row['CHARACTER_MAXIMUM_LENGTH'];
  if ((dataType === 'datetime2' || dataType === 'datetimeoffset' || dataType === 'time') && precision != null)
    return `${dataType}(${cellText(precision)})`;
  if (
    (dataType === 'varchar' || dataType === 'nvarchar' || dataType === 'char' || dataType === 'nchar') &&
    length != null
  )
    return `${dataType}(${Number(length) === -1 ? 'max' : cellText(length)})`;
  // INFORMATION_SCHEMA names rowversion by its old synonym.
  return dataType === 'timestamp' ? 'rowversion' : dataType;
}

/**
 * Turns the three probe results into a {@link ChangeStrategyProbe}. Pure, so it is tested on the
 * row shapes SQL Server returns without a server.
 */
export function readMssqlProbe(
  table: string,
  status: readonly Row[],
  columns: readonly Row[],
  primaryKey: readonly Row[],
): ChangeStrategyProbe {
  const s = status[0] ?? {};
  const probedColumns: ProbedColumn[] = columns.map((row) => ({
    name: String(row['COLUMN_NAME']),
    type: typeOf(row),
    nullable: String(row['IS_NULLABLE']).toUpperCase() === 'YES',
  }));
  const permission = flag(s['ct_permission']);
  return {
    table,
    exists: s['object_id'] !== null && s['object_id'] !== undefined,
    primaryKey: primaryKey.map((row) => String(row['COLUMN_NAME'])),
    columns: probedColumns,
    changeTracking: {
      database: flag(s['ct_database']) ?? false,
      table: flag(s['ct_table']) ?? false,
      ...(permission === undefined ? {} : { canView: permission }),
    },
    snapshotIsolation: flag(s['snapshot_isolation']) ?? false,
  };
}

/** Runs the three probe queries for one table and reads them (discovery; read-only). */
export async function probeMssqlTable(
  client: SqlClient,
  table: string,
  schema = 'dbo',
): Promise<ChangeStrategyProbe> {
  try {
    const [status, columns, key] = await Promise.all([
      client.execute(changeTrackingStatusQuery(client, table, schema)),
      client.execute(columnsProbeQuery(client, table, schema)),
      client.execute(primaryKeyProbeQuery(client, table, schema)),
    ]);
    return readMssqlProbe(table, status, columns, key);
  } catch (error) {
    throw error instanceof TendrilError ? error : classifyDbError(error);
  }
}
