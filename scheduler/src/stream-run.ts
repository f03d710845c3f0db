import {
  cellText,
  sourceIdComponents,
  TendrilError,
  type ConnectionConfig,
  type ConnectorDefinition,
  type MappingContext,
  type Row,
  type TableDefinition,
} from '@tendril/core';
import { classifyDbError, dbNowUtc, utcToZoneCursor, type SqlClient } from '@tendril/sql';
import type { CursorPosition, RunCounts, RunKind, Store, StreamState } from '@tendril/store';
import type { Logger } from './logger.js';
import type { MapPool } from './map-pool.js';

/** Lower bound of a first read: older than any real change stamp, and valid in every engine. */
export const BEGINNING_OF_TIME = '1000-01-01 00:00:00';

export interface StreamSyncDeps {
  readonly sql: SqlClient;
  readonly store: Store;
  readonly logger: Logger;
  /**
   * Worker threads that map full reads' pages while this thread commits (docs/sync.md, "The map
   * pool"); without it every page is mapped on this thread.
   */
  readonly mapPool?: MapPool;
}

export interface StreamSyncInput {
  readonly connection: ConnectionConfig;
  readonly connector: ConnectorDefinition;
  readonly stream: string;
  /** Re-read everything (a backload) and confirm deletes of rows no longer present. */
  readonly full?: boolean;
  /** Record the run as the nightly reconciliation (a `full` run whose kind is `reconcile`; reconcile-stream.ts). */
  readonly reconcile?: boolean;
  /**
   * Release the reconciliation guard for this run (`tendril reconcile --approve`): every confirmed
   * delete is emitted, however many. Each is still confirmed by a point lookup first.
   */
  readonly approveDeletes?: boolean;
  /**
   * Reconciliation of `timestamp` streams: the day number choosing the rolling re-hash slice
   * (`hash(pk) mod rehashSlices = day mod rehashSlices`). Default: days since 1970-01-01 (UTC) of
   * the agent clock. Tests inject it.
   */
  readonly rehashDay?: number;
  /** The agent clock, for `syncedAt` and run times. Cursors always use the database clock. */
  readonly now?: () => Date;
  /** Called after each committed page with the running count of rows read. */
  readonly onProgress?: (read: number) => void;
  /** Called after each page commit; tests use it to crash a poll between pages. */
  readonly afterPageCommit?: (pageIndex: number) => void | Promise<void>;
}

export interface StreamSyncResult extends RunCounts {
  readonly stream: string;
  readonly kind: RunKind;
  readonly durationMs: number;
  /** Deletes held back by the reconciliation guard (nothing emitted for them). */
  readonly guardTripped: boolean;
  /** Keys-only reconciliation: keys scanned (rows read in full are in `read`). */
  readonly keysScanned?: number;
  /** Keys-only reconciliation: the re-hash slice read in full tonight, of `rehashSlices`. */
  readonly rehashSlice?: { readonly slice: number; readonly slices: number };
  /**
   * `timestamp` polls: rows stamped more than 60 s ahead of the database clock, not read yet
   * (logged as `TENDRIL_W_CLOCK_SKEW`; docs/sync-semantics.md, "Timestamp cursors").
   */
  readonly rowsAhead?: number;
}

/**
 * One run of one stream, as every change-detection strategy sees it: what to read, the mapping
 * context, the counts so far and the stream state as last committed. The engine (sync-stream.ts)
 * creates it; a strategy reads pages and hands their rows to stream-page.ts.
 */
export interface StreamRun {
  readonly deps: StreamSyncDeps;
  readonly input: StreamSyncInput;
  readonly table: TableDefinition;
  readonly ctx: MappingContext;
  readonly pageSize: number;
  /**
   * Re-read everything and confirm deletes of rows no longer present: a `full` run, or the
   * baseline after a change of change-detection mode (`baselineRequired`; docs/sync.md, "SQL
   * Server: change tracking and rowversion").
   */
  readonly full: boolean;
  readonly counts: RunCounts;
  readonly log: Logger;
  readonly now: () => Date;
  state: StreamState;
  pages: number;
  guardTripped: boolean;
  /** Rows this run's full scan read from the vendor table itself (not static rows or lookups). */
  tableRowsScanned: number;
  /**
   * The stream has rows in quarantine (at the start of the run, or quarantined by it): pages then
   * release the rows that map again (docs/quarantine.md, "Leaving quarantine").
   */
  quarantineSeen: boolean;
  keysScanned?: number;
  rehashSlice?: { slice: number; slices: number };
  rowsAhead?: number;
}

/** The agent clock as ISO-8601 UTC, milliseconds only when there are some. */
export function isoNow(now: () => Date): string {
  return now()
    .toISOString()
    .replace(/\.\d{3}Z$/, (ms) => (ms === '.000Z' ? 'Z' : ms));
}

/** A row's keyset position: its key, and its cursor value when the read is paged by cursor. */
export function positionOf(table: TableDefinition, row: Row, withCursor: boolean): CursorPosition {
  const key = table.key.map((column) => String(row[column]));
  const cursor = row['__cursor'];
  return withCursor && cursor !== undefined && cursor !== null ? { cursor: cellText(cursor), key } : { key };
}

/** Key components of a source id, without the table's constant prefix. */
export function keyOf(table: TableDefinition, sourceId: string): string[] {
  const parts = sourceIdComponents(sourceId);
  return table.sourceIdPrefix ? parts.slice(1) : parts;
}

/** Runs a database call, turning a driver error into the coded error that names the fix. */
export async function query<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof TendrilError ? error : classifyDbError(error);
  }
}

/** The current database time in the cursor column's clock domain, at full precision. */
export async function nowInClockDomain(
  run: StreamRun,
  clock: 'db-utc' | 'db-local' | 'client',
): Promise<string> {
  const utc = await query(() => dbNowUtc(run.deps.sql));
  return clock === 'db-utc' ? utc : utcToZoneCursor(utc, run.input.connection.timezone, 6);
}
