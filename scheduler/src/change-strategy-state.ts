import { TendrilError, type TableDefinition } from '@tendril/core';
import {
  chooseChangeStrategy,
  mssqlLadderFor,
  probeMssqlTable,
  type ChangeStrategy,
  type SqlClient,
  type StrategyChoice,
} from '@tendril/sql';
import type { RecordedChangeMode, RecordedChangeStrategy, StreamState } from '@tendril/store';

/**
 * The change-detection strategy of a stream, "chosen at discovery and recorded"
 * (docs/sync-semantics.md, "Change-detection modes"): `tendril discover` probes a SQL Server table, takes the
 * first usable rung of the stream's ladder (change tracking → rowversion → the declared stamp → snapshot),
 * and records it in the stream state; the engine runs the recorded mode. A change of mode (or of
 * rowversion/stamp column) on a stream that has already been read flags a baseline: the next run
 * scans the table in full and hash-diffs it against the shadow store, so only rows that really
 * differ produce events.
 */

/** Probes a SQL Server table and picks the first usable rung of the stream's ladder (read-only). */
export async function discoverChangeStrategy(
  client: SqlClient,
  table: TableDefinition,
): Promise<StrategyChoice> {
  if (client.dialect !== 'mssql') {
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      `change-detection discovery probes SQL Server only; this connection is ${client.dialect} and keeps the declared cursor mode`,
      { details: { dialect: client.dialect } },
    );
  }
  const probe = await probeMssqlTable(client, table.table);
  return chooseChangeStrategy(probe, mssqlLadderFor(table));
}

/** What the stream ran before any discovery: its declared cursor mode and column. */
export function declaredStrategy(table: TableDefinition): Pick<RecordedChangeStrategy, 'mode' | 'column'> {
  const cursor = table.cursor;
  switch (cursor.mode) {
    case 'timestamp':
      return { mode: cursor.mode, column: cursor.column };
    case 'window':
      return { mode: cursor.mode, column: cursor.dateColumn };
    case 'snapshot':
      return { mode: 'snapshot' };
    default:
      return cursor satisfies never;
  }
}

/** The strategy as the stream state records it. */
export function recordStrategy(strategy: ChangeStrategy, chosenAt: string): RecordedChangeStrategy {
  switch (strategy.mode) {
    case 'change-tracking':
      return { mode: strategy.mode, consistency: strategy.consistency, chosenAt };
    case 'rowversion':
      return { mode: strategy.mode, column: strategy.column, sqlType: 'rowversion', chosenAt };
    case 'timestamp':
      return {
        mode: strategy.mode,
        column: strategy.column,
        sqlType: strategy.sqlType,
        precision: strategy.precision,
        chosenAt,
      };
    case 'window':
      return { mode: strategy.mode, column: strategy.column, sqlType: strategy.sqlType, chosenAt };
    case 'snapshot':
      return { mode: strategy.mode, chosenAt };
    default:
      return strategy satisfies never;
  }
}

function sameStrategy(
  a: Pick<RecordedChangeStrategy, 'mode' | 'column'>,
  b: Pick<RecordedChangeStrategy, 'mode' | 'column'>,
): boolean {
  // SQL Server names compare case-insensitively under the usual collations.
  return a.mode === b.mode && (a.column ?? '').toLowerCase() === (b.column ?? '').toLowerCase();
}

function describe(s: Pick<RecordedChangeStrategy, 'mode' | 'column'>): string {
  return s.column ? `${s.mode} (${s.column})` : s.mode;
}

/** True when the stream has been read before, so a new mode must start with a baseline. */
function hasHistory(state: StreamState): boolean {
  return (
    state.watermark !== undefined ||
    state.changeTrackingVersion !== undefined ||
    state.rowversionWatermark !== undefined ||
    state.maxSeenKey !== undefined ||
    state.lastPollFinishedAt !== undefined
  );
}

export interface DiscoveredStrategyUpdate {
  readonly state: StreamState;
  /** The mode or its column differs from the one recorded (or, before any discovery, declared). */
  readonly changed: boolean;
  /** The next run is a baseline. */
  readonly baseline: boolean;
}

/**
 * The stream state after discovery chose `strategy`. Unchanged mode and column: the record is
 * refreshed (live type, precision, consistency) and keeps its `chosenAt`. Changed: the new record,
 * the previous mode's positions dropped (they mean nothing to the new mode), and — if the stream
 * was read before — `baselineRequired`, so the next run emits events only for rows that differ.
 */
export function applyDiscoveredStrategy(
  state: StreamState,
  table: TableDefinition,
  strategy: ChangeStrategy,
  at: string,
): DiscoveredStrategyUpdate {
  const previous = state.changeStrategy ?? declaredStrategy(table);
  const next = recordStrategy(strategy, at);
  if (sameStrategy(previous, next)) {
    const chosenAt = state.changeStrategy?.chosenAt ?? at;
    return {
      state: { ...state, changeStrategy: { ...next, chosenAt } },
      changed: false,
      baseline: state.baselineRequired !== undefined,
    };
  }
  const {
    changeTrackingVersion: _version,
    rowversionWatermark: _rowversion,
    changeInProgress: _changeInProgress,
    inProgress: _inProgress,
    ...rest
  } = state;
  if (!hasHistory(state)) return { state: { ...rest, changeStrategy: next }, changed: true, baseline: false };
  const reason = `change detection changed from ${describe(previous)} to ${describe(next)}`;
  return {
    state: { ...rest, changeStrategy: next, baselineRequired: { reason, at } },
    changed: true,
    baseline: true,
  };
}

/**
 * The mode the engine runs for a stream: the recorded `change-tracking`, `rowversion` or
 * `snapshot`; otherwise the declared cursor mode (discovery only records `timestamp`/`window`
 * for a column the stream declares, so the declaration already says how to read it).
 */
export function effectiveChangeMode(
  table: TableDefinition,
  state: StreamState | undefined,
): RecordedChangeMode {
  const recorded = state?.changeStrategy?.mode;
  switch (recorded) {
    case undefined:
    case 'timestamp':
    case 'window':
      return table.cursor.mode;
    case 'change-tracking':
    case 'rowversion':
    case 'snapshot':
      return recorded;
    default:
      return recorded satisfies never;
  }
}
