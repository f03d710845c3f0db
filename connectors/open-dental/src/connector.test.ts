import {
  mapRow,
  mappingContext,
  resourceId,
  type ColumnDeclarations,
  type TableDefinition,
} from '@tendril/core';
import { describe, expect, it } from 'vitest';
import { languageCoding } from './language.js';
import { openDental, openDentalOptionsSchema } from './index.js';
import { patternMinutes } from './pattern.js';
import { procedureCode } from './procedure-code.js';
import { appointmentStatus } from './vocabularies.js';

const ctx = mappingContext({
  connectionId: 'smile-dental-main',
  connectorId: 'open-dental',
  timezone: 'America/New_York',
  options: openDentalOptionsSchema.parse({}),
});
const SYNCED_AT = '2025-03-10T00:00:00Z';

/** Open Dental's column defaults by type, with every bigint (keys and FKs) set to 1. */
function defaults(columns: ColumnDeclarations, prefix = ''): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [column, type] of Object.entries(columns)) {
    const name = `${prefix}${column}`;
    if (type.startsWith('bigint')) row[name] = '1';
    else if (/^(tiny|small|medium)?int|^double|^float/.test(type)) row[name] = 0;
    else if (type === 'date') row[name] = '0001-01-01';
    else if (type === 'datetime') row[name] = '0001-01-01 00:00:00';
    else if (type === 'timestamp') row[name] = '2025-01-01 00:00:00';
    else if (type === 'text') row[name] = null;
    else row[name] = '';
  }
  return row;
}

/** The least a row needs to be the stream's resource: a status that is one, and a charge's code. */
const REQUIRED: Readonly<Record<string, Record<string, unknown>>> = {
  appointments: { AptStatus: 1 },
  procedures: { ProcStatus: 2 },
  charges: { ProcStatus: 2, 'pc.ProcCode': 'D0120' },
};

function minimalRow(stream: string, table: TableDefinition): Record<string, unknown> {
  const row = defaults(table.columns);
  for (const join of table.joins ?? []) Object.assign(row, defaults(join.columns, `${join.alias}.`));
  return { ...row, ...REQUIRED[stream] };
}

function withRow(stream: string, changes: Record<string, unknown>) {
  const table = openDental.streams[stream]!;
  const mapped = mapRow(table, { ...minimalRow(stream, table), ...changes }, ctx, SYNCED_AT);
  if (mapped.kind !== 'live') throw new Error(`expected a live ${stream} row`);
  return mapped.resource as Record<string, unknown>;
}

describe('open-dental connector definition', () => {
  it('loads with its identity and stable stream names', () => {
    expect(openDental.id).toBe('open-dental');
    expect(openDental.displayName).toBe('Open Dental');
    expect(openDental.dialects).toEqual(['mysql', 'odbc']);
    expect(openDental.versions).toEqual(['24.3']);
    expect(openDental.verification.level).toBe('real-schema');
    expect(Object.keys(openDental.streams)).toEqual([
      'patients',
      'practitioners',
      'offices',
      'operatories',
      'appointment-types',
      'appointments',
      'procedures',
      'charges',
      'coverage',
    ]);
  });

  it.each(Object.entries(openDental.streams))(
    '%s maps a minimal row to a valid resource',
    (stream, table) => {
      const mapped = mapRow(table, minimalRow(stream, table), ctx, SYNCED_AT);
      expect(mapped.kind).toBe('live');
      if (mapped.kind === 'live') expect(mapped.resource.resourceType).toBe(table.resourceType);
    },
  );

  it('parses option defaults and rejects unknown or invalid options', () => {
    expect(openDentalOptionsSchema.parse({})).toEqual({ brokenAppointmentStatus: 'cancelled' });
    expect(openDentalOptionsSchema.parse({ brokenAppointmentStatus: 'noshow' })).toEqual({
      brokenAppointmentStatus: 'noshow',
    });
    expect(openDentalOptionsSchema.safeParse({ brokenAppointmentStatus: 'broken' }).success).toBe(false);
    expect(openDentalOptionsSchema.safeParse({ brokenAppointmentStaus: 'noshow' }).success).toBe(false);
  });

  it('applies option defaults even when the caller passes the raw options', () => {
    const table = openDental.streams['appointments']!;
    const row = { ...minimalRow('appointments', table), AptStatus: 5 };
    const raw = (options?: Record<string, unknown>) =>
      mappingContext({
        connectionId: 'smile-dental-main',
        connectorId: 'open-dental',
        timezone: 'America/New_York',
        options,
      });
    const statusWith = (options?: Record<string, unknown>) => {
      const mapped = mapRow(table, row, raw(options), SYNCED_AT);
      return mapped.kind === 'live' ? mapped.resource['status'] : mapped.kind;
    };
    expect(statusWith()).toBe('cancelled');
    expect(statusWith({ brokenAppointmentStatus: 'noshow' })).toBe('noshow');
    expect(() => statusWith({ brokenAppointmentStatus: 'gone' })).toThrow(
      expect.objectContaining({
        code: 'TENDRIL_E_MAPPING',
        cause: expect.objectContaining({ code: 'TENDRIL_E_CONFIG_INVALID' }),
      }),
    );
  });

  it('logs appointment deletes from deletedobject with ObjectType 0 (DeletedObjectType.Appointment)', () => {
    expect(openDental.streams['appointments']!.deleteLog).toMatchObject({
      table: 'deletedobject',
      deletedKeyColumn: 'ObjectNum',
      where: { ObjectType: 0 },
    });
  });

  it('appends the default office to office snapshots', () => {
    const offices = openDental.streams['offices']!;
    expect(offices.cursor.mode).toBe('snapshot');
    expect(offices.staticRows?.map((r) => r['ClinicNum'])).toEqual([0]);
  });
});

describe('open-dental vocabularies and field rules', () => {
  it('maps every appointment AptStatus', () => {
    expect(appointmentStatus(1, false, 'cancelled')).toBe('booked');
    expect(appointmentStatus(1, true, 'cancelled')).toBe('arrived');
    expect(appointmentStatus(2, true, 'cancelled')).toBe('fulfilled');
    expect(appointmentStatus(3, false, 'cancelled')).toBe('waitlist');
    expect(appointmentStatus(4, false, 'cancelled')).toBe('booked');
    expect(appointmentStatus(5, false, 'cancelled')).toBe('cancelled');
    expect(appointmentStatus(5, false, 'noshow')).toBe('noshow');
  });

  it('excludes appointments with AptStatus 0, 6, 7 and 8', () => {
    const table = openDental.streams['appointments']!;
    for (const status of [0, 6, 7, 8]) {
      expect(
        mapRow(table, { ...minimalRow('appointments', table), AptStatus: status }, ctx, SYNCED_AT).kind,
      ).toBe('absent');
    }
  });

  it('reads pattern length in 5-minute units and treats a blank pattern as unknown', () => {
    expect(patternMinutes('XX//XX')).toBe(30);
    expect(patternMinutes('/')).toBe(5);
    expect(patternMinutes('')).toBeUndefined();
    expect(patternMinutes(null)).toBeUndefined();
  });

  it('maps ISO 639-2 codes (T and B) to BCP 47 and keeps anything else as vendor text', () => {
    expect(languageCoding('eng', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'en' });
    expect(languageCoding('ger', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'de' });
    expect(languageCoding('deu', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'de' });
    expect(languageCoding(' VIE ', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'vi' });
    expect(languageCoding('es', ctx)).toEqual({ system: 'urn:ietf:bcp:47', code: 'es' });
    expect(languageCoding('Klingon', ctx)).toEqual({
      system: 'urn:tendril:open-dental:language',
      code: 'Klingon',
    });
    expect(languageCoding('xyz', ctx)).toEqual({ system: 'urn:tendril:open-dental:language', code: 'xyz' });
    expect(languageCoding('  ', ctx)).toBeUndefined();
  });

  it('gives only CDT-shaped codes the CDT system', () => {
    expect(procedureCode('D0120', '', ctx)).toEqual({
      coding: [{ system: 'http://www.ada.org/cdt', code: 'D0120' }],
    });
    expect(procedureCode('N4101', 'Custom', ctx)).toEqual({
      coding: [{ system: 'urn:tendril:open-dental:smile-dental-main:procedure-code', code: 'N4101' }],
      text: 'Custom',
    });
    expect(procedureCode('', 'x', ctx)).toBeUndefined();
  });

  it('keeps surface letters only for surface procedures and drops V', () => {
    expect(withRow('procedures', { 'pc.TreatArea': 1, Surf: 'MODV' })['surfaces']).toEqual(['M', 'O', 'D']);
    expect(withRow('procedures', { 'pc.TreatArea': 1, Surf: 'BL' })['surfaces']).toEqual(['B', 'L']);
    expect(withRow('procedures', { 'pc.TreatArea': 6, Surf: 'L' })['surfaces']).toBeUndefined();
    expect(withRow('procedures', { 'pc.TreatArea': 4, Surf: 'UL' })['surfaces']).toBeUndefined();
  });

  it('maps every ProcStatus that is a procedure', () => {
    const expected: Record<number, string> = {
      1: 'preparation',
      2: 'completed',
      3: 'completed',
      4: 'completed',
      5: 'not-done',
      8: 'preparation',
    };
    for (const [status, mapped] of Object.entries(expected)) {
      expect(withRow('procedures', { ProcStatus: Number(status) })['status']).toBe(mapped);
    }
  });

  it('charges ProcFee × (UnitQty + BaseUnits), at least one unit', () => {
    expect(withRow('charges', { ProcFee: 40.1, UnitQty: 3, BaseUnits: 0 })).toMatchObject({
      quantity: 3,
      unitPrice: { value: 40.1, currency: 'USD' },
      totalPrice: { value: 120.3, currency: 'USD' },
    });
    expect(withRow('charges', { ProcFee: 75, UnitQty: 0, BaseUnits: 0 })).toMatchObject({
      quantity: 1,
      totalPrice: { value: 75, currency: 'USD' },
    });
  });

  it('takes an office zone from IANA or Windows names, else the connection zone', () => {
    expect(withRow('offices', { TimeZone: 'America/Chicago' })['timezone']).toBe('America/Chicago');
    expect(withRow('offices', { TimeZone: 'Mountain Standard Time' })['timezone']).toBe('America/Denver');
    expect(withRow('offices', { TimeZone: 'Mars/Olympus_Mons' })['timezone']).toBe('America/New_York');
    expect(withRow('offices', { TimeZone: 'EST' })['timezone']).toBe('America/New_York');
    expect(withRow('offices', { TimeZone: '' })['timezone']).toBe('America/New_York');
  });

  it('keeps a NationalProvID that is not an NPI under the vendor system', () => {
    expect(withRow('practitioners', { NationalProvID: '123456', StateLicense: '' })['identifiers']).toEqual([
      { system: 'urn:tendril:open-dental:national-prov-id', value: '123456' },
    ]);
  });

  it('maps every patplan Relationship', () => {
    const expected = ['self', 'spouse', 'child', 'other', 'other', 'other', 'other', 'other', 'other'];
    expected.forEach((relationship, code) => {
      expect(withRow('coverage', { Relationship: code })['relationship']).toBe(relationship);
    });
  });

  it('maps PatStatus to active and gender codes', () => {
    const active = { 0: true, 1: false, 2: false, 3: false, 5: false, 6: true };
    for (const [status, value] of Object.entries(active)) {
      expect(withRow('patients', { PatStatus: Number(status) })['active']).toBe(value);
    }
    const gender = ['male', 'female', 'unknown', 'other'];
    gender.forEach((value, code) => expect(withRow('patients', { Gender: code })['gender']).toBe(value));
  });

  it('points ClinicNum 0 at the default office and other clinics at themselves', () => {
    expect(withRow('operatories', { ClinicNum: '0' })['partOfId']).toBe(
      resourceId('smile-dental-main', 'Location', '0'),
    );
    expect(withRow('operatories', { ClinicNum: '5' })['partOfId']).toBe(
      resourceId('smile-dental-main', 'Location', '5'),
    );
  });
});
