import type { ConnectionConfig, ConnectorDefinition } from '@tendril/core';
import { tableRowCountQuery, type SqlClient } from '@tendril/sql';
import type { Store } from '@tendril/store';

/**
 * The row count of each stream that is about to be read in full (its first read, or `--full`),
 * for the progress line's total and ETA (snapshot streams: every time). Streams already polled incrementally get no total (a
 * poll reads only what changed). A count that fails is left out: the progress shows a count only.
 */
export async function backloadTotals(deps: {
  sql: SqlClient;
  store: Store;
  connection: ConnectionConfig;
  /** The connector with this site's tableMap applied. */
  connector: ConnectorDefinition;
  streams: readonly string[];
  full: boolean;
}): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const stream of deps.streams) {
    const table = deps.connector.streams[stream];
    if (!table) continue;
    try {
      const state = await deps.store.getStreamState(deps.connection.id, stream);
      // A snapshot stream reads its whole table on every poll.
      const backload =
        deps.full ||
        table.cursor.mode === 'snapshot' ||
        !state ||
        (state.watermark === undefined && state.maxSeenKey === undefined);
      if (!backload) continue;
      const [row] = await deps.sql.execute(tableRowCountQuery(deps.sql, table));
      const rows = Number(row?.['rows']);
      if (Number.isFinite(rows)) totals.set(stream, rows);
    } catch {
      // No total: the line shows the running count instead.
    }
  }
  return totals;
}
