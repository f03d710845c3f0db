import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSentinelDate, localTextToInstant, toIsoDate, utcTextToInstant } from './time.js';

describe('time', () => {
  it('takes the earlier instant in a DST fall-back overlap', () => {
    // 2025-11-02 01:30 happens twice in New York: first at EDT (UTC-4), then at EST (UTC-5).
    expect(localTextToInstant('2025-11-02 01:30:00', 'America/New_York')).toBe('2025-11-02T05:30:00Z');
    expect(localTextToInstant('2025-11-02 00:59:59', 'America/New_York')).toBe('2025-11-02T04:59:59Z');
    expect(localTextToInstant('2025-11-02 02:00:00', 'America/New_York')).toBe('2025-11-02T07:00:00Z');
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves the overlap the same way whatever today is (Luxon guesses offsets from now)', () => {
    for (const today of ['2025-07-01T12:00:00Z', '2025-12-15T12:00:00Z', '2026-03-09T07:00:00Z']) {
      vi.useFakeTimers({ now: new Date(today) });
      expect(localTextToInstant('2025-11-02 01:30:00', 'America/New_York'), today).toBe(
        '2025-11-02T05:30:00Z',
      );
      expect(localTextToInstant('2025-03-09 02:30:00', 'America/New_York'), today).toBe(
        '2025-03-09T07:30:00Z',
      );
      vi.useRealTimers();
    }
  });

  it('moves a wall time in a DST spring-forward gap forward', () => {
    // 2025-03-09 02:30 does not exist in New York; 03:30 EDT is 07:30Z.
    expect(localTextToInstant('2025-03-09 02:30:00', 'America/New_York')).toBe('2025-03-09T07:30:00Z');
    expect(localTextToInstant('2025-03-09 01:59:00', 'America/New_York')).toBe('2025-03-09T06:59:00Z');
  });

  it('converts ordinary local times, with milliseconds, in other zones', () => {
    expect(localTextToInstant('2025-07-01 09:15:00.250', 'America/Denver')).toBe('2025-07-01T15:15:00.250Z');
    expect(localTextToInstant('2025-01-20 14:00:00', 'Europe/Paris')).toBe('2025-01-20T13:00:00Z');
  });

  it('treats sentinels and impossible dates as unknown', () => {
    for (const sentinel of ['0001-01-01', '0000-00-00 00:00:00', '1753-01-01 00:00:00', '1799-12-31']) {
      expect(isSentinelDate(sentinel)).toBe(true);
      expect(toIsoDate(sentinel)).toBeUndefined();
      expect(utcTextToInstant(sentinel)).toBeUndefined();
    }
    expect(utcTextToInstant('2025-02-30 10:00:00')).toBeUndefined();
    expect(utcTextToInstant('2025-02-28 10:00:00')).toBe('2025-02-28T10:00:00Z');
    expect(toIsoDate('1987-04-12 00:00:00')).toBe('1987-04-12');
  });
});
