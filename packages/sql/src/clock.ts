import { TendrilError } from '@tendril/core';
import { classifyDbError, type SqlClient } from './client.js';

const NOW_TEXT = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$/;

/**
 * The SQL that reads the server clock in UTC as text, per dialect (docs/sync-semantics.md, "Timestamp
 * cursors").
 */
function nowSql(client: SqlClient): string {
  switch (client.dialect) {
    case 'mysql':
      // dateStrings: the DATETIME(6) value arrives as the server's text.
      return 'SELECT UTC_TIMESTAMP(6) AS now_utc';
    case 'mssql':
      return 'SELECT CONVERT(varchar(27), SYSUTCDATETIME(), 121) AS now_utc';
    case 'postgres':
      // clock_timestamp(), not now(): now() is frozen at the start of the transaction.
      return `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS now_utc`;
    case 'sqlite':
      return `SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS now_utc`;
    default:
      throw new Error(`unreachable dialect ${client.dialect satisfies never}`);
  }
}

/**
 * The database clock in UTC as `YYYY-MM-DD HH:MM:SS.ffffff` (always 6 fraction digits,
 * truncated). Polls take `nowDb` from here, never from the agent clock, because the stamps being
 * compared were written by the database (docs/sync-semantics.md, "Timestamp cursors", step 1).
 */
export async function dbNowUtc(client: SqlClient): Promise<string> {
  let result: unknown;
  try {
    result = await client.execute(client.knex.raw(nowSql(client)));
  } catch (error) {
    throw classifyDbError(error);
  }
  const row = (result as Record<string, unknown>[])[0] as { now_utc?: unknown } | undefined;
  const value = row?.now_utc;
  const match = typeof value === 'string' ? NOW_TEXT.exec(value.trim()) : null;
  if (!match) {
    throw new TendrilError(
      'TENDRIL_E_CLOCK',
      `the ${client.dialect} server clock did not come back as text; check the driver's date settings (dateStrings, pg type parsers)`,
      {
        details: { dialect: client.dialect, type: typeof value },
      },
    );
  }
  return `${match[1]} ${match[2]}.${(match[3] ?? '').padEnd(6, '0').slice(0, 6)}`;
}
