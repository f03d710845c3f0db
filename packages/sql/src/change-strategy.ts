import type { TableDefinition } from '@tendril/core';

/**
 * Choosing a stream's change-detection mode from what discovery found (docs/sync-semantics.md,
 * "Change-detection modes", the ladder): the connector lists the modes a stream supports in order of
 * preference, discovery probes the database (`mssql-probe.ts` on SQL Server), and {@link
 * chooseChangeStrategy} takes the first rung that works. Pure: no I/O, so every branch is unit-tested.
 */

export const CHANGE_MODES = ['change-tracking', 'rowversion', 'timestamp', 'window', 'snapshot'] as const;
export type ChangeMode = (typeof CHANGE_MODES)[number];

/** One column as discovery saw it: `type` spelled like a declaration (`datetime2(7)`, `rowversion`). */
export interface ProbedColumn {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
}

/** What discovery learned about one table. */
export interface ChangeStrategyProbe {
  readonly table: string;
  readonly exists: boolean;
  /** Primary key columns in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
  readonly columns: readonly ProbedColumn[];
  readonly changeTracking: {
    /** CT enabled for the database (`sys.change_tracking_databases`). */
    readonly database: boolean;
    /** CT enabled for this table (`sys.change_tracking_tables`). */
    readonly table: boolean;
    /** The login holds VIEW CHANGE TRACKING on the table; absent when unknown. */
    readonly canView?: boolean;
  };
  /** `ALLOW_SNAPSHOT_ISOLATION` is ON: CT reads can run in one SNAPSHOT transaction. */
  readonly snapshotIsolation: boolean;
}

/** One rung a stream offers, in the connector's order of preference. */
export type LadderRung =
  | { readonly mode: 'change-tracking' }
  | { readonly mode: 'rowversion' }
  | { readonly mode: 'timestamp'; readonly column: string }
  | { readonly mode: 'window'; readonly column: string }
  | { readonly mode: 'snapshot' };

/** The chosen mode with what the engine needs to run it. */
export type ChangeStrategy =
  | {
      readonly mode: 'change-tracking';
      /**
       * `snapshot-transaction`: read `cur` and the pages in one SNAPSHOT transaction.
       * `current-version-filter`: snapshot isolation is off; read `cur` first and rely on
       * `SYS_CHANGE_VERSION <= cur` plus hashing (docs/sync-semantics.md, "Change-detection modes").
       */
      readonly consistency: 'snapshot-transaction' | 'current-version-filter';
    }
  | { readonly mode: 'rowversion'; readonly column: string }
  | {
      readonly mode: 'timestamp';
      readonly column: string;
      /**
       * The live type: bind cursor values with it (`datetime` ≠ `datetime2`; docs/sync-semantics.md,
       * "Precision and time-zone traps").
       */
      readonly sqlType: string;
      /** Fraction digits of the cursor text: `datetime` 3 (values are 1/300 s), `datetime2(n)` n. */
      readonly precision: number;
      /** Rows whose stamp is NULL are invisible to the window; only reconciliation sees them. */
      readonly nullable: boolean;
    }
  | { readonly mode: 'window'; readonly column: string; readonly sqlType: string }
  | { readonly mode: 'snapshot' };

/** Why a rung was passed over; reported by `tendril discover`. */
export const SKIP_REASONS = [
  'ct-database-off',
  'ct-table-off',
  'ct-no-permission',
  'no-primary-key',
  'no-rowversion-column',
  'column-missing',
  'column-not-datetime',
  'column-not-date',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface StrategyChoice {
  /** The first usable rung; undefined when the table does not exist (the stream is disabled). */
  readonly strategy: ChangeStrategy | undefined;
  readonly skipped: readonly { readonly mode: ChangeMode; readonly reason: SkipReason }[];
}

const DATETIME = /^(datetime|smalldatetime|datetime2(\((\d)\))?)$/i;
const DATE_LIKE = /^(date|datetime|smalldatetime|datetime2(\(\d\))?)$/i;

/** Fraction digits of a SQL Server date-time type's text form (style 121). */
export function datetimePrecision(type: string): number {
  const m = DATETIME.exec(type.trim());
  if (!m) return 0;
  const base = m[1]!.toLowerCase();
  if (base === 'datetime') return 3;
  if (base === 'smalldatetime') return 0;
  // datetime2 without a precision is datetime2(7).
  return m[3] === undefined ? 7 : Number(m[3]);
}

function column(probe: ChangeStrategyProbe, name: string): ProbedColumn | undefined {
  const lower = name.toLowerCase();
  // SQL Server names compare case-insensitively under the usual collations.
  return probe.columns.find((c) => c.name.toLowerCase() === lower);
}

type RungResult = { readonly strategy: ChangeStrategy } | { readonly reason: SkipReason };

function tryRung(probe: ChangeStrategyProbe, rung: LadderRung): RungResult {
  switch (rung.mode) {
    case 'change-tracking': {
      if (!probe.changeTracking.database) return { reason: 'ct-database-off' };
      if (!probe.changeTracking.table) return { reason: 'ct-table-off' };
      if (probe.primaryKey.length === 0) return { reason: 'no-primary-key' };
      if (probe.changeTracking.canView === false) return { reason: 'ct-no-permission' };
      return {
        strategy: {
          mode: 'change-tracking',
          consistency: probe.snapshotIsolation ? 'snapshot-transaction' : 'current-version-filter',
        },
      };
    }
    case 'rowversion': {
      const rv = probe.columns.find((c) => c.type.toLowerCase() === 'rowversion');
      return rv ? { strategy: { mode: 'rowversion', column: rv.name } } : { reason: 'no-rowversion-column' };
    }
    case 'timestamp': {
      const found = column(probe, rung.column);
      if (!found) return { reason: 'column-missing' };
      if (!DATETIME.test(found.type.trim())) return { reason: 'column-not-datetime' };
      return {
        strategy: {
          mode: 'timestamp',
          column: found.name,
          sqlType: found.type,
          precision: datetimePrecision(found.type),
          nullable: found.nullable,
        },
      };
    }
    case 'window': {
      const found = column(probe, rung.column);
      if (!found) return { reason: 'column-missing' };
      if (!DATE_LIKE.test(found.type.trim())) return { reason: 'column-not-date' };
      return { strategy: { mode: 'window', column: found.name, sqlType: found.type } };
    }
    case 'snapshot':
      return { strategy: { mode: 'snapshot' } };
    default:
      return rung satisfies never;
  }
}

/**
 * The first usable rung of `ladder` for the probed table, and why each earlier rung was skipped.
 * A missing table has no strategy. `snapshot` always works on an existing table, so a ladder that
 * ends with it always yields a strategy.
 */
export function chooseChangeStrategy(
  probe: ChangeStrategyProbe,
  ladder: readonly LadderRung[],
): StrategyChoice {
  if (!probe.exists) return { strategy: undefined, skipped: [] };
  const skipped: { mode: ChangeMode; reason: SkipReason }[] = [];
  for (const rung of ladder) {
    const result = tryRung(probe, rung);
    if ('strategy' in result) return { strategy: result.strategy, skipped };
    skipped.push({ mode: rung.mode, reason: result.reason });
  }
  return { strategy: undefined, skipped };
}

/**
 * The ladder a SQL Server stream offers, from its table declaration: change tracking, rowversion,
 * the declared stamp column (timestamp tables), then a snapshot scan.
 */
export function mssqlLadderFor(table: TableDefinition): LadderRung[] {
  const ladder: LadderRung[] = [{ mode: 'change-tracking' }, { mode: 'rowversion' }];
  if (table.cursor.mode === 'timestamp') ladder.push({ mode: 'timestamp', column: table.cursor.column });
  ladder.push({ mode: 'snapshot' });
  return ladder;
}
