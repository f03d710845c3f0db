import { describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import {
  compareCursor,
  cursorToMicros,
  microsToCursor,
  minCursor,
  shiftCursor,
  truncateCursor,
  utcToZoneCursor,
} from './cursor-text.js';

describe('cursorToMicros / microsToCursor', () => {
  it('counts naive wall-time microseconds from 1970-01-01 00:00:00', () => {
    expect(cursorToMicros('1970-01-01 00:00:00')).toBe(0n);
    expect(cursorToMicros('1970-01-01 00:00:01.5')).toBe(1_500_000n);
    expect(cursorToMicros('2024-02-29 12:34:56.123456')).toBe(1_709_210_096_123_456n);
    expect(cursorToMicros('1969-12-31 23:59:59.999999')).toBe(-1n);
  });

  it('truncates a 7th fraction digit instead of rounding it up', () => {
    expect(cursorToMicros('2024-01-01 00:00:00.9999999')).toBe(cursorToMicros('2024-01-01 00:00:00.999999'));
  });

  it('round-trips at full precision, beyond 2^53 microseconds and before 1970', () => {
    for (const text of [
      '2024-02-29 12:34:56.123456',
      '9999-12-31 23:59:59.999999',
      '1900-03-01 00:00:00.000001',
      '0001-01-01 00:00:00.000000',
    ]) {
      expect(microsToCursor(cursorToMicros(text), 6)).toBe(text);
    }
  });

  it('writes exactly `precision` digits, truncated, and none for precision 0', () => {
    const micros = cursorToMicros('2024-05-06 07:08:09.987654');
    expect(microsToCursor(micros, 0)).toBe('2024-05-06 07:08:09');
    expect(microsToCursor(micros, 3)).toBe('2024-05-06 07:08:09.987');
    expect(microsToCursor(micros, 7)).toBe('2024-05-06 07:08:09.9876540');
    expect(microsToCursor(-1n, 0)).toBe('1969-12-31 23:59:59');
  });

  it('rejects text that is not a database timestamp, without echoing it', () => {
    for (const bad of [
      '2024-02-30 00:00:00',
      '2024-13-01 00:00:00',
      'Tuesday',
      '2024-01-01',
      '2024-01-01 24:00:00',
    ]) {
      let caught: unknown;
      try {
        cursorToMicros(bad);
      } catch (error) {
        caught = error;
      }
      expect(isTendrilError(caught, 'TENDRIL_E_CLOCK')).toBe(true);
      expect((caught as Error).message).not.toContain(bad);
    }
  });
});

describe('shiftCursor / truncateCursor', () => {
  it('follows the worked example of docs/sync-semantics.md, "Timestamp cursors"', () => {
    const settle = 120;
    const overlap = 900;
    const watermark = '2024-03-05 10:00:00';
    const nowDb = '2024-03-05 10:10:05.734512';
    const upper = shiftCursor(nowDb, -settle, 0);
    expect(upper).toBe('2024-03-05 10:08:05');
    const lower = shiftCursor(minCursor(watermark, upper), -overlap, 0);
    expect(lower).toBe('2024-03-05 09:45:00');
    // The row stamped 10:07:59 that commits at 10:09:30 is re-read by the next poll.
    const nextUpper = shiftCursor('2024-03-05 10:20:05', -settle, 0);
    const nextLower = shiftCursor(minCursor(upper, nextUpper), -overlap, 0);
    expect([nextLower, nextUpper]).toEqual(['2024-03-05 09:53:05', '2024-03-05 10:18:05']);
    const late = '2024-03-05 10:07:59';
    expect(compareCursor(nextLower, late) <= 0 && compareCursor(late, nextUpper) < 0).toBe(true);
  });

  it('crosses day, month, leap-day and year boundaries', () => {
    expect(shiftCursor('2024-03-01 00:01:00', -120, 0)).toBe('2024-02-29 23:59:00');
    expect(shiftCursor('2023-12-31 23:59:59.999999', 0.000001, 6)).toBe('2024-01-01 00:00:00.000000');
    expect(shiftCursor('2024-03-01 00:00:00', -86_400 * 366, 0)).toBe('2023-03-01 00:00:00');
    expect(shiftCursor('2024-01-01 00:00:00', -86_400 * 365, 0)).toBe('2023-01-01 00:00:00');
  });

  it('truncates toward the past, never rounds up', () => {
    expect(truncateCursor('2024-01-01 10:00:00.999999', 0)).toBe('2024-01-01 10:00:00');
    expect(truncateCursor('2024-01-01 10:00:00.1239999', 3)).toBe('2024-01-01 10:00:00.123');
    expect(truncateCursor('2024-01-01 10:00:00', 6)).toBe('2024-01-01 10:00:00.000000');
    expect(shiftCursor('2024-01-01 10:00:00.999999', -120, 0)).toBe('2024-01-01 09:58:00');
  });
});

describe('compareCursor / minCursor', () => {
  it('compares instants, whatever the number of fraction digits', () => {
    expect(compareCursor('2024-01-01 10:00:00', '2024-01-01 10:00:00.000000')).toBe(0);
    expect(compareCursor('2024-01-01 10:00:00.0000001', '2024-01-01 10:00:00')).toBe(1);
    expect(compareCursor('2024-01-01 09:59:59.9999999', '2024-01-01 10:00:00')).toBe(-1);
    expect(compareCursor('2024-01-01T10:00:00', '2024-01-01 10:00:00')).toBe(0);
  });

  it('returns the earlier cursor as given', () => {
    expect(minCursor('2024-01-01 10:00:00.5', '2024-01-01 10:00:00.25')).toBe('2024-01-01 10:00:00.25');
    expect(minCursor('2024-01-01 10:00:00', '2024-01-01 10:00:00.000')).toBe('2024-01-01 10:00:00');
  });
});

describe('utcToZoneCursor', () => {
  it('converts a UTC wall time into the wall time of an IANA zone, keeping the fraction', () => {
    expect(utcToZoneCursor('2024-07-01 16:30:00.123456', 'America/New_York', 6)).toBe(
      '2024-07-01 12:30:00.123456',
    );
    expect(utcToZoneCursor('2024-01-01 03:00:00', 'America/Los_Angeles', 0)).toBe('2023-12-31 19:00:00');
    expect(utcToZoneCursor('2024-01-01 00:00:00', 'Asia/Kolkata', 0)).toBe('2024-01-01 05:30:00');
    expect(utcToZoneCursor('2024-01-01 00:00:00', 'UTC', 3)).toBe('2024-01-01 00:00:00.000');
  });

  it('moves forward over a DST gap', () => {
    // 2024-03-10: New York clocks jump from 02:00 EST to 03:00 EDT at 07:00 UTC.
    expect(utcToZoneCursor('2024-03-10 06:59:59', 'America/New_York', 0)).toBe('2024-03-10 01:59:59');
    expect(utcToZoneCursor('2024-03-10 07:00:00', 'America/New_York', 0)).toBe('2024-03-10 03:00:00');
  });

  it('goes backwards at a DST fall-back, and lower = min(watermark, upper) − overlap loses nothing', () => {
    // 2024-11-03: New York clocks fall back from 02:00 EDT to 01:00 EST at 06:00 UTC.
    expect(utcToZoneCursor('2024-11-03 05:30:00', 'America/New_York', 0)).toBe('2024-11-03 01:30:00');
    expect(utcToZoneCursor('2024-11-03 06:30:00', 'America/New_York', 0)).toBe('2024-11-03 01:30:00');

    // Poll 1 at 05:55 UTC (01:55 EDT); poll 2 at 06:05 UTC (01:05 EST): the local clock went back.
    const settle = 120;
    const overlap = 900;
    const upper1 = shiftCursor(utcToZoneCursor('2024-11-03 05:55:00', 'America/New_York', 0), -settle, 0);
    expect(upper1).toBe('2024-11-03 01:53:00');
    const upper2 = shiftCursor(utcToZoneCursor('2024-11-03 06:05:00', 'America/New_York', 0), -settle, 0);
    expect(upper2).toBe('2024-11-03 01:03:00');
    const lower2 = shiftCursor(minCursor(upper1, upper2), -overlap, 0);
    expect(lower2).toBe('2024-11-03 00:48:00');
    // A local stamp written at 01:02 EST (after the fall-back, before poll 2's upper) is inside.
    const stamp = '2024-11-03 01:02:00';
    expect(compareCursor(lower2, stamp) <= 0 && compareCursor(stamp, upper2) < 0).toBe(true);
  });

  it('refuses a zone that is not an IANA name', () => {
    expect(() => utcToZoneCursor('2024-01-01 00:00:00', 'Mars/Olympus', 0)).toThrow(/IANA/);
  });
});
