import { describe, expect, it } from 'vitest';
import { resourceId } from './ids.js';
import { mapRow, mappingContext } from './mapping.js';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';

const ctx = mappingContext({
  connectionId: 'smile-dental-main',
  connectorId: 'open-dental',
  timezone: 'America/New_York',
});
const SYNCED_AT = '2025-03-10T00:00:00Z';

describe('t.siteCoding', () => {
  it('puts the connection id in the system of a site-configurable lookup', () => {
    expect(t.siteCoding('specialty')(' 301 ', ctx)).toEqual({
      system: 'urn:tendril:open-dental:smile-dental-main:specialty',
      code: '301',
    });
    expect(t.siteCoding('specialty')('', ctx)).toBeUndefined();
    expect(t.siteCoding('specialty')(null, ctx)).toBeUndefined();
  });
});

describe('t.ref / t.refs with zeroMeans', () => {
  const table = defineTable({
    resourceType: 'Location',
    table: 'operatory',
    key: ['OperatoryNum'],
    sourceIdPrefix: 'op',
    columns: { OperatoryNum: 'bigint(20)', ClinicNum: 'bigint(20)' },
    cursor: { mode: 'snapshot' },
    constants: { kind: 'operatory' },
    fields: { partOfId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }) },
  });
  const mapped = (row: Record<string, unknown>) => mapRow(table, row, ctx, SYNCED_AT);

  it('references the record a 0 stands for, and keeps its source id', () => {
    const result = mapped({ OperatoryNum: '3', ClinicNum: '0' });
    expect(result.kind === 'live' && result.resource['partOfId']).toBe(
      resourceId('smile-dental-main', 'Location', '0'),
    );
    expect(result.kind === 'live' && result.refs).toEqual({ partOfId: '0' });
  });

  it('still treats NULL and blank as no reference, and other keys as themselves', () => {
    for (const none of [null, '', undefined]) {
      const result = mapped({ OperatoryNum: '3', ClinicNum: none });
      expect(result.kind === 'live' && 'partOfId' in result.resource).toBe(false);
    }
    const result = mapped({ OperatoryNum: '3', ClinicNum: 7 });
    expect(result.kind === 'live' && result.resource['partOfId']).toBe(
      resourceId('smile-dental-main', 'Location', '7'),
    );
  });

  it('leaves 0 meaning "none" without zeroMeans, for single and list references', () => {
    const appointments = (practitionerIds: ReturnType<typeof t.refs>) =>
      defineTable({
        resourceType: 'Appointment',
        table: 'appointment',
        key: ['AptNum'],
        columns: { AptNum: 'bigint(20)', ProvNum: 'bigint(20)', ProvHyg: 'bigint(20)', Op: 'bigint(20)' },
        cursor: { mode: 'snapshot' },
        constants: { status: 'booked' },
        fields: { practitionerIds, operatoryId: t.ref('Location', 'Op', { prefix: 'op' }) },
      });
    const row = { AptNum: '1', ProvNum: '7', ProvHyg: '0', Op: '0' };
    const plain = mapRow(appointments(t.refs('Practitioner', ['ProvNum', 'ProvHyg'])), row, ctx, SYNCED_AT);
    expect(plain.kind === 'live' && plain.refs).toEqual({ practitionerIds: ['7'] });
    const zero = mapRow(
      appointments(t.refs('Practitioner', ['ProvNum', 'ProvHyg'], { zeroMeans: 'x' })),
      row,
      ctx,
      SYNCED_AT,
    );
    expect(zero.kind === 'live' && zero.refs).toEqual({ practitionerIds: ['7', 'x'] });
  });
});

describe('defineTable staticRows', () => {
  const base = {
    resourceType: 'Location' as const,
    table: 'clinic',
    key: ['ClinicNum'],
    columns: { ClinicNum: 'bigint(20)', Description: 'varchar(255)' },
    constants: { kind: 'office', timezone: 'America/New_York' },
    fields: { name: t.col('Description', t.str()) },
  };

  it('accepts rows of declared columns with a full key on a snapshot table', () => {
    expect(
      defineTable({
        ...base,
        cursor: { mode: 'snapshot' },
        staticRows: [{ ClinicNum: 0, Description: 'Main office' }],
      }).staticRows,
    ).toHaveLength(1);
  });

  it('rejects undeclared columns, a missing key and timestamp tables', () => {
    expect(() =>
      defineTable({ ...base, cursor: { mode: 'snapshot' }, staticRows: [{ ClinicNum: 0, Nope: 1 }] }),
    ).toThrow(/Nope/);
    expect(() =>
      defineTable({ ...base, cursor: { mode: 'snapshot' }, staticRows: [{ Description: 'x' }] }),
    ).toThrow(/ClinicNum/);
    expect(() =>
      defineTable({
        ...base,
        columns: { ...base.columns, DateTStamp: 'timestamp' },
        cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc' },
        staticRows: [{ ClinicNum: 0 }],
      }),
    ).toThrow(/snapshot/);
  });
});

describe('field-level tolerance (docs/quarantine.md, "Field-level tolerance")', () => {
  const appointments = defineTable({
    resourceType: 'Appointment',
    table: 'appointment',
    key: ['AptNum'],
    columns: { AptNum: 'bigint(20)', Status: 'varchar(20)', Minutes: 'int' },
    cursor: { mode: 'snapshot' },
    fields: {
      status: t.col('Status', t.str()),
      minutesDuration: t.col('Minutes', t.int()),
    },
  });
  const patients = defineTable({
    resourceType: 'Patient',
    table: 'patient',
    key: ['PatNum'],
    columns: { PatNum: 'bigint(20)', LName: 'varchar(100)', FName: 'varbinary(100)', HmPhone: 'varchar(30)' },
    cursor: { mode: 'snapshot' },
    fields: {
      name: t.humanName({ family: 'LName', given: ['FName'] }),
      telecom: t.contactPoints([{ column: 'HmPhone', system: 'phone', use: 'home' }]),
    },
  });

  it('drops an invalid optional value with TENDRIL_W_INVALID_VALUE and keeps the row', () => {
    const mapped = mapRow(appointments, { AptNum: 1, Status: 'booked', Minutes: -30 }, ctx, SYNCED_AT);
    expect(mapped.kind).toBe('live');
    if (mapped.kind !== 'live') return;
    expect('minutesDuration' in mapped.resource).toBe(false);
    expect(mapped.warnings).toEqual([{ code: 'TENDRIL_W_INVALID_VALUE', field: 'minutesDuration' }]);
  });

  it('fails a required field with the path and the zod issue code, never the value', () => {
    let failure: unknown;
    try {
      mapRow(appointments, { AptNum: 1, Status: 'Q99-unknown', Minutes: 30 }, ctx, SYNCED_AT);
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({
      code: 'TENDRIL_E_VALIDATION',
      details: { sourceId: '1', field: 'status', reason: 'invalid_value' },
    });
    expect(String((failure as Error).message)).not.toContain('Q99');
    expect(JSON.stringify((failure as { details: unknown }).details)).not.toContain('Q99');
  });

  it('is strict for tendril map: an invalid optional value fails the row', () => {
    expect(() =>
      mapRow(appointments, { AptNum: 1, Status: 'booked', Minutes: -30 }, ctx, SYNCED_AT, { strict: true }),
    ).toThrow(/minutesDuration: too_small/);
  });

  it('treats an empty binary first name as no value, and warns about a 7-digit phone number', () => {
    const mapped = mapRow(
      patients,
      { PatNum: 1, LName: 'Rivera', FName: Buffer.alloc(0), HmPhone: '555-1234' },
      ctx,
      SYNCED_AT,
    );
    expect(mapped.kind === 'live' && mapped.resource['name']).toEqual({ family: 'Rivera' });
    expect(mapped.kind === 'live' && 'telecom' in mapped.resource).toBe(false);
    expect(mapped.kind === 'live' && mapped.warnings).toEqual([
      { code: 'TENDRIL_W_PHONE_UNPARSEABLE', field: 'telecom' },
    ]);
    const named = mapRow(patients, { PatNum: 2, LName: 'Rivera', FName: Buffer.from('Ana') }, ctx, SYNCED_AT);
    expect(named.kind === 'live' && named.resource['name']).toEqual({ family: 'Rivera', given: ['Ana'] });
    const warned: unknown[] = [];
    t.phone()('555-1234', { ...ctx, warn: (code) => warned.push(code) });
    expect(warned).toEqual(['TENDRIL_W_PHONE_UNPARSEABLE']);
  });
});
