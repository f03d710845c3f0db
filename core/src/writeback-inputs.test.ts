import { describe, expect, it } from 'vitest';
import { isWritebackDate, isWritebackInstant, parseWritebackInput } from './writeback-inputs.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const NOW = new Date('2030-01-10T12:00:00Z');
const limits = { now: NOW, bookingHorizonDays: 730 };

describe('writeback input sanity', () => {
  it('takes real calendar dates from 1900 only', () => {
    for (const ok of ['1900-01-01', '2024-02-29', '1999-12-31']) expect(isWritebackDate(ok), ok).toBe(true);
    for (const bad of [
      '0000-00-00',
      '1066-10-14',
      '1899-12-31',
      '2023-02-29',
      '2030-02-30',
      '2030-13-01',
      '2030-00-10',
      '2030-1-1',
    ])
      expect(isWritebackDate(bad), bad).toBe(false);
  });

  it('takes real instants with hours 00–23 only (T24:00 is refused, not rolled over)', () => {
    for (const ok of ['2030-01-02T23:59:59Z', '2030-01-02T00:00:00.123Z'])
      expect(isWritebackInstant(ok), ok).toBe(true);
    for (const bad of [
      '2030-01-02T24:00:00Z',
      '2030-02-30T10:00:00Z',
      '2030-13-01T10:00:00Z',
      '2030-01-02T10:60:00Z',
      '2030-01-02T10:00:60Z',
      '2030-01-02T10:00:00+01:00',
      '0000-01-01T00:00:00Z',
    ])
      expect(isWritebackInstant(bad), bad).toBe(false);
  });

  it('refuses births in the future, bookings in the past or beyond the horizon, each by field path', () => {
    const patient = {
      name: { family: 'Doe', given: ['Jane'] },
      gender: 'female',
      telecom: [{ system: 'email', value: 'jane@example.org' }],
    };
    expect(parseWritebackInput('Patient.create', { ...patient, birthDate: '2030-01-12' }, limits)).toEqual({
      ok: false,
      errors: [{ path: 'input.birthDate', message: 'must not be in the future' }],
    });
    // "Today" anywhere on Earth is fine (UTC+14 is a day ahead of UTC−10).
    expect(parseWritebackInput('Patient.create', { ...patient, birthDate: '2030-01-11' }, limits).ok).toBe(
      true,
    );
    const book = (start: string, end: string) => ({ patientId: id(1), practitionerIds: [id(2)], start, end });
    const paths = (input: unknown, days = 730) => {
      const result = parseWritebackInput('Appointment.book', input, { now: NOW, bookingHorizonDays: days });
      return result.ok ? [] : result.errors.map((e) => e.path);
    };
    expect(paths(book('2030-01-09T10:00:00Z', '2030-01-09T10:30:00Z'))).toEqual(['input.start']);
    expect(paths(book('2032-02-01T10:00:00Z', '2032-02-01T10:30:00Z'))).toEqual(['input.start']);
    expect(paths(book('2030-03-01T10:00:00Z', '2030-03-01T10:30:00Z'), 30)).toEqual(['input.start']);
    expect(paths(book('2030-03-01T10:00:00Z', '2030-03-01T10:30:00Z'))).toEqual([]);
    expect(paths(book('2030-03-01T10:00:00Z', '2030-03-03T10:30:00Z'))).toEqual(['input.end']);
    expect(paths(book('2030-03-01T10:00:00Z', '2030-03-01T09:30:00Z'))).toEqual(['input.end']);
  });

  it('refuses control characters and lone surrogates in text; a note may have line breaks', () => {
    const book = (note: string) =>
      parseWritebackInput('Appointment.book', {
        patientId: id(1),
        practitionerIds: [id(2)],
        start: '2030-03-01T10:00:00Z',
        end: '2030-03-01T10:30:00Z',
        note,
      });
    for (const bad of ['a\u0000b', 'a\u001bb', 'a\u007fb', 'a\u0085b', 'a\ud800b', 'a\u000bb'])
      expect(book(bad).ok, JSON.stringify(bad)).toBe(false);
    expect(book('line one\r\nline two\tend').ok).toBe(true);
    const city = parseWritebackInput('Patient.update', {
      patientId: id(1),
      addresses: [{ line: ['1 Main\nSt'] }],
    });
    expect(city).toMatchObject({ ok: false, errors: [{ path: 'input.addresses.0.line.0' }] });
  });
});
