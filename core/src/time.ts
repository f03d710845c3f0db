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

/** Offsets are looked up per quarter hour of UTC time: every zone's changes fall on a quarter hour. */
const OFFSET_BUCKET_MS = 15 * 60_000;
/** Per zone, a bucket's offset in minutes; cleared when it grows past this many buckets (about 30 years). */
const OFFSET_CACHE_LIMIT = 1_000_000;
const offsetCache = new Map<string, Map<number, number>>();

/**
 * The zone's UTC offset in minutes at an instant, as luxon gives it. Asking luxon (Intl) is the
 * slow part of converting a wall time, so the answer is kept per quarter hour, and only for a
 * quarter hour whose first and last millisecond have the same offset (no change inside it; a
 * historical change at an odd second is then looked up exactly, every time).
 */
function offsetMinutes(zone: string, instantMs: number): number {
  const bucket = Math.floor(instantMs / OFFSET_BUCKET_MS);
  let buckets = offsetCache.get(zone);
  if (buckets === undefined) offsetCache.set(zone, (buckets = new Map<number, number>()));
  const cached = buckets.get(bucket);
  if (cached !== undefined) return cached;
  const first = DateTime.fromMillis(bucket * OFFSET_BUCKET_MS, { zone }).offset;
  const last = DateTime.fromMillis((bucket + 1) * OFFSET_BUCKET_MS - 1, { zone }).offset;
  if (first !== last) return DateTime.fromMillis(instantMs, { zone }).offset;
  if (buckets.size >= OFFSET_CACHE_LIMIT) buckets.clear();
  buckets.set(bucket, first);
  return first;
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
  const wallAsUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, p.millisecond);
  const check = new Date(wallAsUtc);
  // Reject impossible wall times (2025-02-30, 24:00) instead of letting them roll over.
  if (
    check.getUTCDate() !== p.day ||
    check.getUTCMonth() !== p.month - 1 ||
    check.getUTCHours() !== p.hour ||
    check.getUTCMinutes() !== p.minute ||
    check.getUTCSeconds() !== p.second
  )
    return undefined;
  // The offsets in force a day either side are the wall time's candidates; a candidate is right
  // when the instant it gives has that same offset (its wall time is this one). Both right: an
  // overlap, and the earlier instant wins. Neither: a gap, where luxon's forward shift is the rule.
  let earliest: number | undefined;
  for (const probe of [wallAsUtc - 86_400_000, wallAsUtc + 86_400_000]) {
    const offset = offsetMinutes(zone, probe);
    const instant = wallAsUtc - offset * 60_000;
    if (offsetMinutes(zone, instant) === offset && (earliest === undefined || instant < earliest))
      earliest = instant;
  }
  if (earliest === undefined) {
    const local = DateTime.fromObject(p, { zone });
    return local.isValid ? formatInstant(local.toUTC()) : undefined;
  }
  const iso = new Date(earliest).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
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
