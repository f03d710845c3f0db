import type { ConnectionConfig, ConnectorDefinition } from '@tendril/core';
import { settlingRowsQuery, type SqlClient } from '@tendril/sql';
import type { Store } from '@tendril/store';

/** Rows a poll left for later because they changed inside the settle window (docs/sync.md). */
export interface HeldBack {
  readonly rows: number;
  /** The settle window, in seconds (`sync.settleSeconds`). */
  readonly settleSeconds: number;
  /** From this moment (agent clock) a poll reads every one of them. */
  readonly readableAt: string;
}

/** Cursor text (`YYYY-MM-DD HH:MM:SS[.ffffff]`, any clock domain) as seconds on one scale. */
function secondsOf(cursor: string): number | undefined {
  const ms = Date.parse(`${cursor.trim().replace(' ', 'T').slice(0, 23)}Z`);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * After a poll of a `timestamp` stream: how many rows changed at or after its upper bound (now
 * minus the settle window, by the database clock), and when the newest of them becomes readable.
 * The cursor and the watermark are in the same clock domain, so their difference is the wait.
 * Undefined when nothing is held back or the stream has no timestamp cursor.
 */
export async function heldBackRows(deps: {
  sql: SqlClient;
  store: Store;
  connection: ConnectionConfig;
  /** The connector with this site's tableMap applied. */
  connector: ConnectorDefinition;
  stream: string;
  now?: Date;
}): Promise<HeldBack | undefined> {
  const table = deps.connector.streams[deps.stream];
  if (!table || table.cursor.mode !== 'timestamp') return undefined;
  const state = await deps.store.getStreamState(deps.connection.id, deps.stream);
  if (state?.mode !== 'timestamp' || !state.watermark || state.inProgress) return undefined;
  const [row] = await deps.sql.execute(settlingRowsQuery(deps.sql, table, state.watermark));
  const rows = Number(row?.['rows'] ?? 0);
  if (!row || !(rows > 0)) return undefined;
  const upper = secondsOf(state.watermark);
  const newest = Object.entries(row)
    .filter(([name, value]) => name.startsWith('newest_') && value !== null && value !== undefined)
    .map(([, value]) => secondsOf(String(value)))
    .filter((s): s is number => s !== undefined);
  // A row stamped `s` is inside a poll's window once that poll's upper bound passes it: in (s − upper)
  // seconds, plus one for the exclusive bound and whole-second stamps.
  const wait = upper === undefined || newest.length === 0 ? 0 : Math.max(0, Math.max(...newest) - upper) + 1;
  const now = deps.now ?? new Date();
  return {
    rows,
    settleSeconds: deps.connection.sync.settleSeconds,
    readableAt: new Date(now.getTime() + Math.ceil(wait) * 1000).toISOString(),
  };
}
