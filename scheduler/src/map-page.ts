import {
  isTendrilError,
  mapRow,
  type MappedRow,
  type MappingContext,
  type Row,
  type TableDefinition,
} from '@tendril/core';
import type { QuarantinedRow } from '@tendril/store';

/**
 * Mapping a page of rows (map → validate → hash, core's `mapRow`) with the per-row quarantine
 * rule, in one place: the engine runs it inline (stream-page.ts) or in a worker thread of the map
 * pool (map-worker.ts), and both must give the same result. No store, no run state: the page's
 * classification and commit stay with the engine, in page order.
 */

/** A source id's business date, for `window` streams (the shadow keeps it). */
export type BusinessDates = ReadonlyMap<string, string>;

/** A page of rows mapped to the standard model, with their business dates for window streams. */
export interface MappedPage {
  readonly mapped: readonly MappedRow[];
  readonly businessDates?: BusinessDates;
  /** Rows that failed mapping or validation: skipped into quarantine (docs/quarantine.md). */
  readonly quarantined: readonly QuarantinedRow[];
}

/** A mapped page and how many mapping warnings its rows raised (the run counts them). */
export interface MappedPageResult extends MappedPage {
  readonly warnings: number;
}

/**
 * The quarantine entry of a row whose mapping failed, or undefined when the failure is not the
 * row's (then the stream fails as before). Names and codes only, never the row's values.
 */
function quarantineEntry(table: TableDefinition, error: unknown): QuarantinedRow | undefined {
  if (!isTendrilError(error)) return undefined;
  if (error.code !== 'TENDRIL_E_MAPPING' && error.code !== 'TENDRIL_E_VALIDATION') return undefined;
  const sourceId = error.details?.['sourceId'];
  if (typeof sourceId !== 'string') return undefined;
  const field = error.details?.['field'];
  const reason = error.details?.['reason'];
  return {
    resourceType: table.resourceType,
    sourceId,
    errorCode: error.code,
    ...(typeof field === 'string' ? { field } : {}),
    reason: typeof reason === 'string' ? reason : 'mapping-failed',
  };
}

/**
 * Maps each row to the standard model: the table's field mapping, validation against the model,
 * and the content hash. A row whose mapping or validation fails is quarantined; any other error
 * is thrown. With `businessDateOf` (window streams) each row's business date is collected by
 * source id as well.
 */
export function mapPageRows(
  table: TableDefinition,
  ctx: MappingContext,
  rows: readonly Row[],
  syncedAt: string,
  businessDateOf?: (row: Row) => string | undefined,
): MappedPageResult {
  const mapped: MappedRow[] = [];
  const quarantined: QuarantinedRow[] = [];
  const dates = businessDateOf ? new Map<string, string>() : undefined;
  let warnings = 0;
  for (const row of rows) {
    let one: MappedRow;
    try {
      one = mapRow(table, row, ctx, syncedAt);
    } catch (error) {
      const entry = quarantineEntry(table, error);
      if (!entry) throw error;
      quarantined.push(entry);
      continue;
    }
    if (one.kind === 'live' && one.warnings) warnings += one.warnings.length;
    mapped.push(one);
    if (dates) {
      const day = businessDateOf!(row);
      if (day) dates.set(one.sourceId, day);
    }
  }
  return dates ? { mapped, businessDates: dates, quarantined, warnings } : { mapped, quarantined, warnings };
}

/**
 * What identifies a table's mapping for the map pool's check that a worker built the table the
 * engine would map with itself: names, key and field paths (the transforms are code, loaded from
 * the same connector module).
 */
export function tableSignature(table: TableDefinition): string {
  return JSON.stringify([
    table.table,
    table.resourceType,
    table.key,
    table.sourceIdPrefix ?? null,
    Object.keys(table.fields),
    table.columnNames ?? null,
  ]);
}
