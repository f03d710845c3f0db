import { DateTime } from 'luxon';
import { cellText } from './cell-text.js';

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const SQL_DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?/;

/**
 * `0000-00-00`, `0001-01-01`, `1753-…` and anything before 1800 mean "no date" (docs/standard-model.md,
 * "Conventions").
 */
export function isSentinelDate(text: string): boolean {
  const m = SQL_DATETIME.exec(text);
  if (!m) return true;
  const year = Number(m[1]);
  return year < 1800 || m[2] === '00' || m[3] === '00';
}

function parts(text: string) {
  const m = SQL_DATETIME.exec(text.trim());
  if (!m) return undefined;
  const fraction = (m[7] ?? '').padEnd(3, '0').slice(0, 3);
  return {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    millisecond: Number(fraction),
  };
}

/** A vendor date or datetime as `YYYY-MM-DD`, or undefined for sentinels and junk. */
export function toIsoDate(value: unknown): string | undefined {
  const text = textOf(value);
  if (text === undefined || isSentinelDate(text)) return undefined;
  return text.slice(0, 10);
}

/** A UTC wall time (`db-utc` columns) as an ISO instant with `Z`. */
export function utcTextToInstant(value: unknown): string | undefined {
  const text = textOf(value);
  if (text === undefined || isSentinelDate(text)) return undefined;
  const p = parts(text);
  if (!p) return undefined;
  const ms = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, p.millisecond);
  const check = new Date(ms);
  // Reject impossible wall times (2025-02-30) instead of letting them roll over.
  if (check.getUTCDate() !== p.day || check.getUTCMonth() !== p.month - 1 || p.year < 1000) return undefined;
  const base = `${String(p.year).padStart(4, '0')}-${pad2(p.month)}-${pad2(p.day)}T${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)}`;
  return p.millisecond === 0 ? `${base}Z` : `${base}.${String(p.millisecond).padStart(3, '0')}Z`;
}

/**
 * Converts an office-local wall time to a UTC instant. In a DST gap the time moves forward; in an
 * overlap the earlier instant wins (docs/sync-semantics.md, "Precision and time-zone traps").
 */
export function localTextToInstant(value: unknown, zone: string): string | undefined {
  const text = textOf(value);
  if (text === undefined || isSentinelDate(text)) return undefined;
  const p = parts(text);
  if (!p) return undefined;
  const local = DateTime.fromObject(p, { zone });
  if (!local.isValid) return undefined;
  // Luxon resolves an ambiguous wall time to one of its two offsets (the later instant in
  // Luxon 3), so try the offsets in force a day either side and keep the earliest instant whose
  // wall time matches. No match means a gap: Luxon's forward shift is the rule there.
  const wallAsUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, p.millisecond);
  let earliest: number | undefined;
  for (const probe of [wallAsUtc - 86_400_000, wallAsUtc + 86_400_000]) {
    const offset = DateTime.fromMillis(probe, { zone }).offset;
    const instant = wallAsUtc - offset * 60_000;
    const back = DateTime.fromMillis(instant, { zone });
    const sameWall =
      back.year === p.year &&
      back.month === p.month &&
      back.day === p.day &&
      back.hour === p.hour &&
      back.minute === p.minute &&
      back.second === p.second;
    if (sameWall && (earliest === undefined || instant < earliest)) earliest = instant;
  }
  return formatInstant(
    earliest === undefined ? local.toUTC() : DateTime.fromMillis(earliest, { zone: 'utc' }),
  );
}

/** `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, built by hand: luxon's token formatter is the slow part of a backload. */
export function formatInstant(dt: DateTime): string {
  const utc = dt.toUTC();
  const base = `${String(utc.year).padStart(4, '0')}-${pad2(utc.month)}-${pad2(utc.day)}T${pad2(utc.hour)}:${pad2(utc.minute)}:${pad2(utc.second)}`;
  return utc.millisecond === 0 ? `${base}Z` : `${base}.${String(utc.millisecond).padStart(3, '0')}Z`;
}

function textOf(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    return value.toISOString().replace('T', ' ').replace('Z', '');
  }
  const text = cellText(value).trim();
  return text === '' ? undefined : text;
}

export function isValidTimeZone(zone: string): boolean {
  return DateTime.local().setZone(zone).isValid;
}
