import { TendrilError } from '@tendril/core';

/**
 * Cursor values are the database's own text form, `YYYY-MM-DD HH:MM:SS[.fffffff]`, never a JS
 * `Date` (docs/sync-semantics.md, "Keyset paging" and "Precision and time-zone traps"): a `Date` holds
 * milliseconds only, so a `datetime2(7)` or `timestamp(6)` stamp would be rounded and a keyset `=` branch
 * could loop or skip rows.
 *
 * Arithmetic runs on integer ticks of 100 ns (the finest precision any supported engine stores)
 * counted from 1970-01-01 00:00:00 of a naive wall clock, so no time zone, no DST and no float
 * rounding enter. Zone conversion is the separate, explicit step {@link utcToZoneCursor}.
 */

const CURSOR_TEXT = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/;
const TICKS_PER_MICRO = 10n;
const TICKS_PER_SECOND = 10_000_000n;
const SECONDS_PER_DAY = 86_400n;
/** Largest fraction precision any supported engine stores (SQL Server `datetime2(7)`). */
export const MAX_CURSOR_PRECISION = 7;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`). */
function daysFromCivil(year: number, month: number, day: number): bigint {
  const y = BigInt(month <= 2 ? year - 1 : year);
  const era = floorDiv(y, 400n);
  const yoe = y - era * 400n;
  const m = BigInt(month);
  const doy = (153n * (m > 2n ? m - 3n : m + 9n) + 2n) / 5n + BigInt(day) - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146_097n + doe - 719_468n;
}

/** The inverse of {@link daysFromCivil}. */
function civilFromDays(days: bigint): { year: number; month: number; day: number } {
  const z = days + 719_468n;
  const era = floorDiv(z, 146_097n);
  const doe = z - era * 146_097n;
  const yoe = (doe - doe / 1460n + doe / 36_524n - doe / 146_096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const day = doy - (153n * mp + 2n) / 5n + 1n;
  const month = mp < 10n ? mp + 3n : mp - 9n;
  const year = yoe + era * 400n + (month <= 2n ? 1n : 0n);
  return { year: Number(year), month: Number(month), day: Number(day) };
}

function invalid(what: string): TendrilError {
  // The text itself is not echoed: a cursor can come from a row, and rows never go into messages.
  return new TendrilError(
    'TENDRIL_E_CLOCK',
    `${what} is not a database timestamp of the form YYYY-MM-DD HH:MM:SS[.fffffff]; check the cursor column's SQL type`,
  );
}

function checkPrecision(precision: number): void {
  if (!Number.isInteger(precision) || precision < 0 || precision > MAX_CURSOR_PRECISION) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `cursor precision must be an integer from 0 to ${MAX_CURSOR_PRECISION}`,
      {
        details: { precision },
      },
    );
  }
}

/** Wall-clock fields to 100 ns ticks since 1970-01-01 00:00:00 (naive: no zone). */
function ticksOfFields(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): bigint {
  const seconds =
    daysFromCivil(year, month, day) * SECONDS_PER_DAY + BigInt(hour * 3600 + minute * 60 + second);
  return seconds * TICKS_PER_SECOND;
}

function toTicks(text: string): bigint {
  const m = CURSOR_TEXT.exec(text.trim());
  if (!m) throw invalid('a cursor value');
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    throw invalid('a cursor value');
  // `2024-02-30` would silently become March 1st: reject dates that do not round-trip.
  if (civilFromDays(daysFromCivil(year, month, day)).day !== day) throw invalid('a cursor value');
  const fraction = BigInt((m[7] ?? '').padEnd(MAX_CURSOR_PRECISION, '0'));
  return ticksOfFields(year, month, day, hour, minute, second) + fraction;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function fromTicks(ticks: bigint, precision: number): string {
  checkPrecision(precision);
  const days = floorDiv(ticks, SECONDS_PER_DAY * TICKS_PER_SECOND);
  const inDay = ticks - days * SECONDS_PER_DAY * TICKS_PER_SECOND;
  const { year, month, day } = civilFromDays(days);
  const secondOfDay = Number(inDay / TICKS_PER_SECOND);
  const fraction = pad(Number(inDay % TICKS_PER_SECOND), MAX_CURSOR_PRECISION).slice(0, precision);
  const hms = `${pad(Math.floor(secondOfDay / 3600), 2)}:${pad(Math.floor(secondOfDay / 60) % 60, 2)}:${pad(secondOfDay % 60, 2)}`;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)} ${hms}${precision > 0 ? `.${fraction}` : ''}`;
}

/** Truncates (toward the past) to `precision` fraction digits. */
function truncateTicks(ticks: bigint, precision: number): bigint {
  checkPrecision(precision);
  const unit = 10n ** BigInt(MAX_CURSOR_PRECISION - precision);
  return floorDiv(ticks, unit) * unit;
}

/**
 * Microseconds since 1970-01-01 00:00:00 of the naive wall time in `text`. A 7th fraction digit
 * (SQL Server `datetime2(7)`) is truncated, never rounded: truncating re-reads, rounding skips.
 */
export function cursorToMicros(text: string): bigint {
  return floorDiv(toTicks(text), TICKS_PER_MICRO);
}

/**
 * The cursor text for a naive wall time given in microseconds: precision 0 gives no fraction,
 * otherwise exactly `precision` digits (truncated; a 7th digit is always 0).
 */
export function microsToCursor(micros: bigint, precision: number): string {
  return fromTicks(truncateTicks(micros * TICKS_PER_MICRO, precision), precision);
}

/**
 * `text` moved by `seconds` (negative for earlier), truncated to the column's precision. Used for
 * `upper = nowDb − settleDelay` and `lower = … − overlap`; the arithmetic is exact integer math,
 * never `Date` (docs/sync-semantics.md, "Precision and time-zone traps").
 */
export function shiftCursor(text: string, seconds: number, precision: number): string {
  if (!Number.isFinite(seconds))
    throw new TendrilError('TENDRIL_E_CLOCK', 'a cursor shift must be a finite number of seconds');
  const shift = BigInt(Math.round(seconds * 1_000_000)) * TICKS_PER_MICRO;
  return fromTicks(truncateTicks(toTicks(text) + shift, precision), precision);
}

/** `text` with exactly `precision` fraction digits, truncated (never rounded up). */
export function truncateCursor(text: string, precision: number): string {
  return fromTicks(truncateTicks(toTicks(text), precision), precision);
}

/**
 * Orders two cursor texts by the instant they name at full precision, whatever their number of
 * fraction digits (`10:00:00` equals `10:00:00.000000`). Negative, zero or positive.
 */
export function compareCursor(a: string, b: string): number {
  const ta = toTicks(a);
  const tb = toTicks(b);
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/**
 * The earlier of two cursors, as given. `lower = min(watermark, upper) − overlap` (docs/sync-semantics.md,
 * "Timestamp cursors", step 3).
 */
export function minCursor(a: string, b: string): string {
  return compareCursor(a, b) <= 0 ? a : b;
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let format = zoneFormats.get(zone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (cause) {
      throw new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `"${zone}" is not an IANA time zone; use a name such as America/New_York`,
        {
          cause,
          details: { zone },
        },
      );
    }
    zoneFormats.set(zone, format);
  }
  return format;
}

/**
 * Converts a UTC wall time (as `dbNowUtc` returns it) into the wall time of an IANA zone, for
 * `db-local` and `client` cursor columns (docs/sync-semantics.md, "Timestamp cursors"). The fraction is
 * carried over unchanged; only the zone's offset at that instant is added. In a DST fall-back the result
 * moves backwards, which `lower = min(watermark, upper) − overlap` absorbs.
 *
 * Luxon is a dependency of `@tendril/core` only and is not resolvable from this package, so the
 * offset comes from `Intl.DateTimeFormat`, fed an epoch number (no `Date` object is created).
 */
export function utcToZoneCursor(utcText: string, zone: string, precision: number): string {
  const utcTicks = toTicks(utcText);
  const utcSeconds = floorDiv(utcTicks, TICKS_PER_SECOND);
  const epochMs = Number(utcSeconds * 1000n);
  const fields: Record<string, string> = {};
  for (const part of zoneFormat(zone).formatToParts(epochMs)) fields[part.type] = part.value;
  const yearOfEra = Number(fields['year']);
  const year = fields['era'] === 'BC' || fields['era'] === 'B' ? 1 - yearOfEra : yearOfEra;
  const wallSeconds =
    ticksOfFields(
      year,
      Number(fields['month']),
      Number(fields['day']),
      Number(fields['hour']),
      Number(fields['minute']),
      Number(fields['second']),
    ) / TICKS_PER_SECOND;
  const offsetTicks = (wallSeconds - utcSeconds) * TICKS_PER_SECOND;
  return fromTicks(truncateTicks(utcTicks + offsetTicks, precision), precision);
}
