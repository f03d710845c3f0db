import { mappingContext } from '@tendril/core';
import { describe, expect, it } from 'vitest';
import { openEmr, openEmrOptionsSchema } from './index.js';
import { appointmentStatus, languageCoding, parseDiagnosis } from './vocabularies.js';

const ctx = mappingContext({
  connectionId: 'desert-family-medicine',
  connectorId: 'openemr',
  timezone: 'America/Phoenix',
  options: {},
});

describe('openemr connector definition', () => {
  it('loads with its identity, stable stream names and cursor modes', () => {
    expect(openEmr.id).toBe('openemr');
    expect(openEmr.verification.level).toBe('real-schema');
    expect(
      Object.fromEntries(Object.entries(openEmr.streams).map(([name, table]) => [name, table.cursor.mode])),
    ).toEqual({
      patients: 'timestamp',
      practitioners: 'timestamp',
      offices: 'timestamp',
      appointments: 'window',
      encounters: 'timestamp',
      conditions: 'timestamp',
      procedures: 'snapshot',
      charges: 'snapshot',
      coverage: 'snapshot',
    });
    expect(openEmr.streams['appointments']!.cursor).toEqual({
      mode: 'window',
      dateColumn: 'pc_eventDate',
      pastDays: 30,
      futureDays: 90,
    });
  });

  it('takes no options and rejects unknown ones', () => {
    expect(openEmrOptionsSchema.parse({})).toEqual({});
    expect(openEmrOptionsSchema.safeParse({ brokenAppointmentStatus: 'noshow' }).success).toBe(false);
  });
});

describe('openemr vocabularies', () => {
  it('maps apptstat codes; an unknown site code stays booked', () => {
    const expected = {
      '-': 'booked',
      x: 'cancelled',
      '?': 'noshow',
      '@': 'arrived',
      '~': 'arrived',
      '<': 'checked-in',
      '>': 'fulfilled',
      '%': 'cancelled',
      '^': 'pending',
      SMS: 'booked',
    };
    for (const [code, status] of Object.entries(expected))
      expect([code, appointmentStatus(code)]).toEqual([code, status]);
    expect(appointmentStatus('ZZ')).toBe('booked');
    expect(appointmentStatus(null)).toBe('booked');
  });

  it('parses lists.diagnosis into codings, in order, without duplicates or junk', () => {
    expect(parseDiagnosis('ICD10:E11.9;SNOMED-CT:44054006; icd10:E11.9;:x;ICD10:;LOCAL:abc', ctx)).toEqual([
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9' },
      { system: 'http://snomed.info/sct', code: '44054006' },
      { system: 'urn:tendril:openemr:desert-family-medicine:code:local', code: 'abc' },
    ]);
    expect(parseDiagnosis('', ctx)).toEqual([]);
    expect(parseDiagnosis(null, ctx)).toEqual([]);
  });

  it('maps language option ids to BCP 47 and keeps others as vendor codes', () => {
    expect(languageCoding('english', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'en' });
    expect(languageCoding('Spanish', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'es' });
    expect(languageCoding('klingon', ctx)).toEqual({
      system: 'urn:tendril:openemr:language',
      code: 'klingon',
    });
    expect(languageCoding('decline_to_specify', ctx)).toBeUndefined();
  });
});
