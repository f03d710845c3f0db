import { createHash } from 'node:crypto';
import { TendrilError } from '@tendril/core';
import { CronTime } from 'cron';

/**
 * Connections are spread over at most this window (docs/sync-semantics.md, "Scheduling": hash(connectionId)
 * mod 600 s).
 */
export const SPREAD_WINDOW_SECONDS = 600;

/** A fixed reference instant, so a connection's poll interval and offset never depend on when the agent started. */
const REFERENCE = new Date('2024-01-01T00:00:00Z');

/**
 * A poll schedule: a cron expression evaluated in UTC, shifted by a stable per-connection offset
 * so that many connections on one host (or one database server) do not all start at :00.
 */
export interface PollSchedule {
  readonly expression: string;
  /** Seconds between the first two occurrences after a fixed reference: the catch-up threshold. */
  readonly intervalSeconds: number;
  /** hash(connectionId) mod min(600 s, interval): stable across restarts and hosts. */
  readonly offsetSeconds: number;
  /** The first poll strictly after `from`. */
  next(from: Date): Date;
}

/** The nightly schedule: `HH:MM` wall time in the connection's IANA zone, DST-aware. */
export interface NightlySchedule {
  readonly time: string;
  readonly timezone: string;
  /** The first run strictly after `from`. In a spring-forward gap the wall time moves forward by the gap. */
  next(from: Date): Date;
  /** The last run at or before `at`, if one was due in the 48 hours before it. */
  previous(at: Date): Date | undefined;
}

function cronTime(expression: string, timezone: string, path: string): CronTime {
  try {
    return new CronTime(expression, timezone);
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `${path} is not a valid cron expression (${(cause as Error).message}); use five fields such as */10 * * * *`,
      {
        cause,
        details: { path },
      },
    );
  }
}

function nextFrom(time: CronTime, from: Date, timezone: string): Date {
  return new Date(time.getNextDateFrom(from, timezone).toMillis());
}

/** A stable number in [0, modulo) from a connection id (first 6 bytes of SHA-256). */
export function stableOffsetSeconds(connectionId: string, modulo: number): number {
  if (modulo <= 1) return 0;
  const digest = createHash('sha256').update(connectionId, 'utf8').digest();
  return digest.readUIntBE(0, 6) % Math.floor(modulo);
}

/** Builds a connection's poll schedule; throws TENDRIL_E_CONFIG_INVALID for a bad expression. */
export function pollSchedule(connectionId: string, expression: string, path = 'schedule.poll'): PollSchedule {
  const time = cronTime(expression, 'UTC', path);
  const first = nextFrom(time, REFERENCE, 'UTC');
  const second = nextFrom(time, first, 'UTC');
  const intervalSeconds = Math.max(1, Math.round((second.getTime() - first.getTime()) / 1000));
  const offsetSeconds = stableOffsetSeconds(connectionId, Math.min(SPREAD_WINDOW_SECONDS, intervalSeconds));
  const offsetMs = offsetSeconds * 1000;
  return {
    expression,
    intervalSeconds,
    offsetSeconds,
    // The unshifted occurrence after (from − offset), shifted back: strictly after `from`.
    next: (from) => new Date(nextFrom(time, new Date(from.getTime() - offsetMs), 'UTC').getTime() + offsetMs),
  };
}

/** The calendar date (`YYYY-MM-DD`) of an instant in an IANA zone. */
function localDate(at: Date, timezone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
}

function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The zone's UTC offset at an instant, in ms (local wall time − UTC). */
function offsetAt(instantMs: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(instantMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(instantMs / 1000) * 1000;
}

/**
 * A wall time in a zone as an instant, with the docs/sync-semantics.md, "Precision and time-zone traps" rule:
 * in a DST gap the time moves forward by the gap, in an overlap the earlier instant wins. Computed from the
 * zone's offsets on both sides of the day, so the answer never depends on today's date.
 */
export function zonedWallTimeToInstant(date: string, time: string, timezone: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = time.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  const before = offsetAt(wall - 36 * 3600_000, timezone);
  const after = offsetAt(wall + 36 * 3600_000, timezone);
  const valid = [...new Set([before, after])]
    .map((offset) => wall - offset)
    .filter((instant) => instant + offsetAt(instant, timezone) === wall);
  // No valid instant: the wall time is in a gap; the offset before it maps it past the gap.
  return new Date(valid.length > 0 ? Math.min(...valid) : wall - before);
}

/**
 * Builds a connection's nightly schedule from `HH:MM` and its IANA zone.
 *
 * The wall time is converted per calendar day with the same rule as vendor local times
 * (docs/sync-semantics.md, "Precision and time-zone traps", {@link zonedWallTimeToInstant}): in a
 * spring-forward gap it moves forward (02:00 → 03:00 EDT), in a fall-back overlap the earlier instant wins,
 * so the job runs exactly once per local day. (The `cron` package's own daily expression fires twice on a
 * fall-back night for 02:00 in America/New_York, at 01:00 EST and 02:00 EST; the tests pin this.)
 */
export function nightlySchedule(time: string, timezone: string, path = 'schedule.nightly'): NightlySchedule {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time);
  if (!match) {
    throw new TendrilError('TENDRIL_E_CONFIG_INVALID', `${path} must be a time HH:MM such as 02:00`, {
      details: { path },
    });
  }
  try {
    offsetAt(0, timezone);
  } catch (cause) {
    throw new TendrilError('TENDRIL_E_CONFIG_INVALID', `${path}: ${timezone} is not an IANA time zone`, {
      cause,
      details: { path },
    });
  }
  const on = (date: string) => zonedWallTimeToInstant(date, time, timezone);
  const next = (from: Date) => {
    // Start one day early: near midnight the zone's date can lag the instant's UTC date.
    const today = localDate(from, timezone);
    for (let day = -1; day <= 3; day++) {
      const candidate = on(addDays(today, day));
      if (candidate.getTime() > from.getTime()) return candidate;
    }
    throw new TendrilError(
      'TENDRIL_E_INTERNAL',
      `no nightly run found after ${from.toISOString()} for ${time} in ${timezone}`,
    );
  };
  return {
    time,
    timezone,
    next,
    previous(at) {
      let candidate = next(new Date(at.getTime() - 48 * 3600_000));
      let last: Date | undefined;
      while (candidate.getTime() <= at.getTime()) {
        last = candidate;
        candidate = next(candidate);
      }
      return last;
    },
  };
}
