import { localTextToInstant, toIsoDate, utcTextToInstant, type MappingContext } from '@tendril/core';

function wholeNumber(value: unknown): number | undefined {
  if (value === null || value === undefined || (typeof value === 'string' && value.trim() === ''))
    return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * The office-local wall time of an appointment, `YYYY-MM-DD HH:MM:00`, from `APPTDATE` (its date
 * part; Dentrix keeps the time in separate columns) and `TIME_HOUR` / `TIME_MINUTE`. Undefined
 * when the date is a sentinel (`1753-…`: a wait-list entry without a slot) or a part is out of range.
 */
export function appointmentLocalText(apptDate: unknown, hour: unknown, minute: unknown): string | undefined {
  const date = toIsoDate(apptDate);
  const h = wholeNumber(hour);
  const m = wholeNumber(minute);
  if (date === undefined || h === undefined || m === undefined) return undefined;
  if (h < 0 || h > 23 || m < 0 || m > 59) return undefined;
  return `${date} ${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`;
}

/**
 * Start instant (UTC): the local `APPTDATE` + `TIME_HOUR:TIME_MINUTE` converted with the office zone
 * (DST gap → forward, overlap → earlier, docs/sync-semantics.md, "Precision and time-zone traps"). `ApptStartUTCDateTime` (11.0) is
 * the fallback when the local parts are missing: the local columns are the ones every version
 * fills (E), the UTC column's upkeep is unknown (A).
 */
export function appointmentStart(
  [apptDate, hour, minute, utcStart]: readonly unknown[],
  ctx: Pick<MappingContext, 'timezone'>,
): string | undefined {
  const local = appointmentLocalText(apptDate, hour, minute);
  if (local !== undefined) return localTextToInstant(local, ctx.timezone);
  return utcTextToInstant(utcStart);
}

/** `APPTLEN` in minutes (A: the unit is not documented publicly); negative or non-integer is unknown. */
export function appointmentMinutes(length: unknown): number | undefined {
  const n = wholeNumber(length);
  return n !== undefined && n >= 0 ? n : undefined;
}

/** End instant: start + `APPTLEN` minutes, else `ApptEndUTCDateTime`. */
export function appointmentEnd(
  [apptDate, hour, minute, utcStart, length, utcEnd]: readonly unknown[],
  ctx: Pick<MappingContext, 'timezone'>,
): string | undefined {
  const start = appointmentStart([apptDate, hour, minute, utcStart], ctx);
  const minutes = appointmentMinutes(length);
  if (start !== undefined && minutes !== undefined) {
    return new Date(Date.parse(start) + minutes * 60_000).toISOString().replace('.000Z', 'Z');
  }
  return utcTextToInstant(utcEnd);
}
