import type { MappingContext } from './mapping-context.js';
import { mapFields, matchesCondition, rowSourceId } from './mapping.js';
import type { TableDefinition } from './sdk.js';
import type { ResolvedSlot, SlotDeclaration } from './writeback-declare.js';
import { instantToLocal, writebackFailure, type WritebackFailure, type WritebackRow } from './writeback.js';

/**
 * The slot engine of book and reschedule (docs/writeback.md, "How a command runs"): the time rules a
 * connector declares (vendor grid, one office day) and the overlap check, on appointments placed
 * by the appointments stream's own mapping. Pure: the engine in @tendril/scheduler reads the day.
 */

/** The time rules: start in the future, on the grid, ending after it on the same office day. */
export function checkSlotTime(
  declaration: SlotDeclaration,
  start: string,
  end: string,
  zone: string,
  now: Date,
): ResolvedSlot | WritebackFailure {
  const startMs = Date.parse(start);
  const endMs = Date.parse(end);
  if (startMs <= now.getTime())
    return writebackFailure('validation_failed', 'start must be in the future', { field: 'start' });
  const seconds = Math.round((endMs - startMs) / 1000);
  if (seconds <= 0) return writebackFailure('validation_failed', 'end must be after start', { field: 'end' });
  const from = instantToLocal(start, zone);
  const to = instantToLocal(end, zone);
  const grid = declaration.gridMinutes;
  if (grid !== undefined) {
    if (seconds % (grid * 60) !== 0) {
      return writebackFailure(
        'validation_failed',
        grid === 1
          ? 'the length must be a whole number of minutes'
          : `the length must be a multiple of ${grid} minutes (the EHR's time grid)`,
        { field: 'end' },
      );
    }
    const [, minute, second] = from.time.split(':').map(Number) as [number, number, number];
    if (second !== 0 || minute % grid !== 0) {
      return writebackFailure(
        'validation_failed',
        grid === 1 ? 'start must be on a whole minute' : `start must fall on the EHR's ${grid}-minute grid`,
        { field: 'start' },
      );
    }
  }
  if (declaration.sameDay && from.date !== to.date)
    return writebackFailure('validation_failed', 'an appointment must start and end on the same office day', {
      field: 'end',
    });
  return { start: from, end: to, seconds, minutes: seconds / 60 };
}

/** What the overlap check knows of one existing appointment. */
export interface PlacedAppointment {
  readonly id: string;
  readonly start?: string;
  readonly end?: string;
  readonly status?: string;
  readonly practitionerIds: readonly string[];
  readonly operatoryId?: string;
  /** The stream excludes the row (not an appointment in its terms: a note, a calendar block). */
  readonly excluded: boolean;
}

/** The model fields that place an appointment on the day (the slot check reads only their columns). */
export const SLOT_FIELDS = ['start', 'end', 'status', 'practitionerIds', 'operatoryId'] as const;

/**
 * One row of the appointments stream placed on the day by the stream's own mapping (start, end,
 * status, practitioners, operatory). Each field is mapped on its own, so a dirty value leaves that
 * field unknown instead of stopping the check.
 */
export function placeAppointment(
  table: TableDefinition,
  row: WritebackRow,
  ctx: MappingContext,
): PlacedAppointment {
  const fields = mapFields(table, row, ctx, SLOT_FIELDS);
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const start = text(fields['start']);
  const end = text(fields['end']);
  const status = text(fields['status']);
  const operatoryId = text(fields['operatoryId']);
  return {
    id: ctx.refId(table.resourceType, rowSourceId(table, row)),
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
    ...(status === undefined ? {} : { status }),
    practitionerIds: Array.isArray(fields['practitionerIds']) ? (fields['practitionerIds'] as string[]) : [],
    ...(operatoryId === undefined ? {} : { operatoryId }),
    excluded: matchesCondition(row, table.excludeWhen),
  };
}

/** The appointment being written: its time and who and where it books. */
export interface SlotCandidate {
  readonly start: string;
  readonly end: string;
  readonly practitionerIds: readonly string[];
  readonly operatoryId?: string;
  /** The appointment being moved (reschedule): never in conflict with itself. */
  readonly excludeId?: string;
}

/**
 * The overlap check: `existing.start < new.end AND existing.end > new.start` in the same operatory,
 * or for one of the same practitioners unless `providerDoubleBooking`. Appointments whose status
 * frees the slot, rows the stream excludes (unless they block), and rows without a known time are
 * ignored; an unknown status blocks (the safe reading).
 */
export function slotConflict(
  declaration: SlotDeclaration,
  candidate: SlotCandidate,
  existing: readonly PlacedAppointment[],
  providerDoubleBooking: boolean,
): WritebackFailure | undefined {
  const start = Date.parse(candidate.start);
  const end = Date.parse(candidate.end);
  for (const other of existing) {
    if (other.id === candidate.excludeId) continue;
    if (other.excluded && !declaration.excludedRowsBlock) continue;
    if (other.status !== undefined && (declaration.frees as readonly string[]).includes(other.status))
      continue;
    if (other.start === undefined || other.end === undefined) continue;
    if (!(Date.parse(other.start) < end && Date.parse(other.end) > start)) continue;
    if (
      declaration.operatory &&
      candidate.operatoryId !== undefined &&
      other.operatoryId === candidate.operatoryId
    ) {
      return writebackFailure(
        'slot_conflict',
        'the operatory already has an appointment overlapping this time',
        { field: 'start' },
      );
    }
    if (
      declaration.practitioner &&
      !providerDoubleBooking &&
      other.practitionerIds.some((p) => candidate.practitionerIds.includes(p))
    ) {
      return writebackFailure(
        'slot_conflict',
        'the practitioner already has an appointment overlapping this time',
        { field: 'start' },
      );
    }
  }
  return undefined;
}
