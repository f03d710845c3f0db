import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { localTextToInstant } from './time.js';

/** The conversion as luxon does it alone, with no cache: the reference the cached one must equal. */
function luxonOnly(text: string, zone: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text)!;
  const p = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
  };
  const local = DateTime.fromObject(p, { zone });
  if (!local.isValid) return undefined;
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  let earliest: number | undefined;
  for (const probe of [wall - 86_400_000, wall + 86_400_000]) {
    const instant = wall - DateTime.fromMillis(probe, { zone }).offset * 60_000;
    const back = DateTime.fromMillis(instant, { zone });
    const same =
      back.year === p.year &&
      back.month === p.month &&
      back.day === p.day &&
      back.hour === p.hour &&
      back.minute === p.minute &&
      back.second === p.second;
    if (same && (earliest === undefined || instant < earliest)) earliest = instant;
  }
  const utc = earliest === undefined ? local.toUTC() : DateTime.fromMillis(earliest, { zone: 'utc' });
  return `${utc.toISO({ suppressMilliseconds: true, includeOffset: false })}Z`;
}

const ZONES = [
  'America/New_York', // DST gaps and overlaps at 02:00
  'America/Phoenix', // no DST
  'Asia/Tokyo',
  'Europe/London',
  'Australia/Lord_Howe', // a 30-minute DST change
  'Asia/Kathmandu', // +05:45
  'Pacific/Chatham', // +12:45 / +13:45
  'America/St_Johns', // -03:30
];

const pad = (n: number) => String(n).padStart(2, '0');

describe('localTextToInstant with the offset cache', () => {
  it('equals luxon alone on every quarter hour around DST changes and on random times, in eight zones', () => {
    let compared = 0;
    for (const zone of ZONES) {
      // Every 5 minutes (and :59:59) across the days DST changes in either hemisphere, 2024–2026.
      for (const day of [
        '2024-03-10',
        '2024-11-03',
        '2025-03-30',
        '2025-04-06',
        '2025-10-05',
        '2025-10-26',
        '2026-03-08',
        '2026-11-01',
      ]) {
        for (let minute = 0; minute < 24 * 60; minute += 5) {
          for (const second of minute % 60 === 55 ? ['00', '59'] : ['00']) {
            const text = `${day} ${pad(Math.floor(minute / 60))}:${pad(minute % 60)}:${second}`;
            expect(localTextToInstant(text, zone), `${zone} ${text}`).toBe(luxonOnly(text, zone));
            compared++;
          }
        }
      }
      // Random wall times from 1850 (local mean time, offsets at odd seconds) to 2090.
      let seed = 7;
      for (let i = 0; i < 400; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const ms = Date.UTC(1850, 0, 1) + (seed / 2 ** 31) * (Date.UTC(2090, 0, 1) - Date.UTC(1850, 0, 1));
        const text = new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
        expect(localTextToInstant(text, zone), `${zone} ${text}`).toBe(luxonOnly(text, zone));
        compared++;
      }
    }
    expect(compared).toBe(8 * (8 * (288 + 24) + 400));
  });

  it('still rejects impossible wall times', () => {
    for (const text of [
      '2025-02-30 10:00:00',
      '2025-13-01 10:00:00',
      '2025-06-01 24:00:00',
      '2025-06-01 10:60:00',
    ])
      expect(localTextToInstant(text, 'America/New_York'), text).toBeUndefined();
  });
});
