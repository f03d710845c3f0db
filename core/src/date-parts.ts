/**
 * Dates and times kept in separate columns (year / month / day, hour / minute / second). Three
 * outcomes, because they are reported differently: `none` is a normal unknown (every part blank or
 * 0, a year before 1800: the vendor's "no date"), `impossible` is a value that names no real day
 * or time and is reported as `TENDRIL_W_IMPOSSIBLE_DATE`, `valid` carries the text.
 */
export type PartsOutcome =
  | { readonly kind: 'valid'; readonly value: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'impossible' };

const NONE: PartsOutcome = { kind: 'none' };
const IMPOSSIBLE: PartsOutcome = { kind: 'impossible' };

function blank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

/** A whole number, or undefined when the part is not one (`'7.5'`, `'x'`). */
function whole(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  return Number.isInteger(n) ? n : undefined;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** Year, month and day parts as `YYYY-MM-DD`. */
export function dateOfParts(year: unknown, month: unknown, day: unknown): PartsOutcome {
  const parts = [year, month, day];
  if (parts.every((p) => blank(p) || whole(p) === 0)) return NONE;
  // A date with a part missing is unknown, not wrong: nothing was there to drop.
  if (parts.some(blank)) return NONE;
  const [y, m, d] = parts.map(whole);
  if (y === undefined || m === undefined || d === undefined) return IMPOSSIBLE;
  if (y < 1800) return NONE;
  if (y > 9999 || m < 1 || m > 12 || d < 1) return IMPOSSIBLE;
  // Date.UTC rolls February 30 over into March: compare the day back to catch it.
  const check = new Date(Date.UTC(y, m - 1, d));
  if (check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) return IMPOSSIBLE;
  return { kind: 'valid', value: `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}` };
}

/** Hour, minute and second parts as `HH:MM:SS` (24-hour clock). */
export function timeOfParts(hour: unknown, minute: unknown, second: unknown): PartsOutcome {
  if (blank(hour)) return NONE;
  const [h, m, s] = [hour, blank(minute) ? 0 : minute, blank(second) ? 0 : second].map(whole);
  if (h === undefined || m === undefined || s === undefined) return IMPOSSIBLE;
  if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) return IMPOSSIBLE;
  return { kind: 'valid', value: `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}` };
}
