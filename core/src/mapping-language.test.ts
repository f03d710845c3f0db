import { afterEach, describe, expect, it } from 'vitest';
import { TendrilError } from './errors.js';
import { mapRow, mappingContext, sourceUpdatedAt } from './mapping.js';
import { subscribeMappingWarnings, type MappingWarningMessage } from './mapping-warnings.js';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';

/*
 * The mapping language's newer words, unit by unit: dates and times from parts (with the warning
 * for impossible ones), prefix and substring lookups, several address and contact-point groups,
 * constant join conditions and the fallback cursor's definition checks. The golden tests on real
 * schemas in MariaDB are in test/mapping-language.test.ts.
 */

const ctx = mappingContext({
  connectionId: 'ehr-main',
  connectorId: 'made-up',
  timezone: 'America/New_York',
});
const SYNCED_AT = '2025-03-10T00:00:00Z';

const visits = defineTable({
  resourceType: 'Patient',
  table: 'visit',
  key: ['Id'],
  columns: {
    Id: 'int',
    BirthYear: 'smallint',
    BirthMonth: 'smallint',
    BirthDay: 'smallint',
    Home: 'varchar(20)',
    HomeExt: 'varchar(8)',
    Work: 'varchar(20)',
    Street: 'varchar(60)',
    City: 'varchar(60)',
    BillStreet: 'varchar(60)',
    BillCity: 'varchar(60)',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    birthDate: t.dateFromParts({ year: 'BirthYear', month: 'BirthMonth', day: 'BirthDay' }),
    telecom: t.contactPoints([
      { column: 'Home', ext: 'HomeExt', system: 'phone', use: 'home' },
      { column: 'Work', system: 'phone', use: 'work' },
    ]),
    addresses: t.addresses([
      { use: 'home', line: ['Street'], city: 'City' },
      { use: 'billing', line: ['BillStreet'], city: 'BillCity' },
    ]),
  },
});

function live(row: Record<string, unknown>) {
  const mapped = mapRow(visits, { Id: 1, ...row }, ctx, SYNCED_AT);
  if (mapped.kind !== 'live') throw new Error('expected a live row');
  return mapped;
}

describe('t.dateFromParts', () => {
  it('assembles YYYY-MM-DD from number columns, text or numbers', () => {
    expect(live({ BirthYear: 1988, BirthMonth: 7, BirthDay: 4 }).resource['birthDate']).toBe('1988-07-04');
    expect(live({ BirthYear: '2024', BirthMonth: '02', BirthDay: '29' }).resource['birthDate']).toBe(
      '2024-02-29',
    );
  });

  it('treats all-zero, blank, partial and pre-1800 parts as no date, without a warning', () => {
    for (const parts of [
      { BirthYear: 0, BirthMonth: 0, BirthDay: 0 },
      { BirthYear: null, BirthMonth: null, BirthDay: null },
      { BirthYear: 1990, BirthMonth: null, BirthDay: 3 },
      { BirthYear: 1753, BirthMonth: 1, BirthDay: 1 },
    ]) {
      const mapped = live(parts);
      expect(mapped.resource['birthDate']).toBeUndefined();
      expect(mapped.warnings).toBeUndefined();
    }
  });

  it('omits an impossible date and reports TENDRIL_W_IMPOSSIBLE_DATE on the field, never the value', () => {
    for (const parts of [
      { BirthYear: 2023, BirthMonth: 2, BirthDay: 29 },
      { BirthYear: 1990, BirthMonth: 13, BirthDay: 1 },
      { BirthYear: 1990, BirthMonth: 4, BirthDay: 31 },
      { BirthYear: 1990, BirthMonth: 4, BirthDay: 0 },
      { BirthYear: 1990, BirthMonth: 'x', BirthDay: 1 },
    ]) {
      const mapped = live(parts);
      expect(mapped.resource['birthDate']).toBeUndefined();
      expect(mapped.warnings).toEqual([{ code: 'TENDRIL_W_IMPOSSIBLE_DATE', field: 'birthDate' }]);
    }
  });
});

describe('the warning channel', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('publishes each warning with connection, table, resource type and field, and no row value', () => {
    const heard: MappingWarningMessage[] = [];
    stop = subscribeMappingWarnings((m) => heard.push(m));
    live({ BirthYear: 1990, BirthMonth: 2, BirthDay: 31 });
    live({ BirthYear: 1990, BirthMonth: 2, BirthDay: 28 });
    expect(heard).toEqual([
      {
        code: 'TENDRIL_W_IMPOSSIBLE_DATE',
        field: 'birthDate',
        connectionId: 'ehr-main',
        connectorId: 'made-up',
        table: 'visit',
        resourceType: 'Patient',
      },
    ]);
    expect(JSON.stringify(heard)).not.toMatch(/1990|31/);
  });
});

describe('t.localInstantFromParts', () => {
  const table = defineTable({
    resourceType: 'Appointment',
    table: 'appt',
    key: ['Id'],
    columns: {
      Id: 'int',
      Day: 'datetime',
      Hour: 'smallint',
      Minute: 'smallint',
      Y: 'int',
      M: 'int',
      D: 'int',
    },
    cursor: { mode: 'snapshot' },
    constants: { status: 'booked' },
    fields: {
      start: t.localInstantFromParts({ date: 'Day', hour: 'Hour', minute: 'Minute' }),
      end: t.localInstantFromParts({ year: 'Y', month: 'M', day: 'D', hour: 'Hour' }),
    },
  });
  const map = (row: Record<string, unknown>) => {
    const mapped = mapRow(table, { Id: 1, ...row }, ctx, SYNCED_AT);
    if (mapped.kind !== 'live') throw new Error('expected live');
    return mapped;
  };

  it('converts a local day + hour + minute with the connection zone, DST included', () => {
    const mapped = map({ Day: '2025-06-02 00:00:00.000', Hour: 9, Minute: 5, Y: 2025, M: 6, D: 2 });
    expect(mapped.resource['start']).toBe('2025-06-02T13:05:00Z');
    expect(mapped.resource['end']).toBe('2025-06-02T13:00:00Z');
    // 02:30 on 2025-03-09 does not exist in New York: moved forward, like t.localInstant.
    expect(map({ Day: '2025-03-09', Hour: 2, Minute: 30 }).resource['start']).toBe('2025-03-09T07:30:00Z');
  });

  it('is unknown without a day or an hour; impossible hours and minutes warn', () => {
    expect(map({ Day: '1753-01-01 00:00:00.000', Hour: 9, Minute: 0 }).warnings).toBeUndefined();
    expect(map({ Day: '2025-06-02', Hour: null, Minute: 0 }).resource['start']).toBeUndefined();
    for (const [Hour, Minute] of [
      [24, 0],
      [9, 60],
      [-1, 0],
    ]) {
      const mapped = map({ Day: '2025-06-02', Hour, Minute });
      expect(mapped.resource['start']).toBeUndefined();
      expect(mapped.warnings).toEqual([{ code: 'TENDRIL_W_IMPOSSIBLE_DATE', field: 'start' }]);
    }
    expect(map({ Y: 2025, M: 2, D: 30, Hour: 9 }).warnings).toEqual([
      { code: 'TENDRIL_W_IMPOSSIBLE_DATE', field: 'end' },
    ]);
  });
});

describe('t.slice and t.lookupPrefix', () => {
  it('slices a code by character position', () => {
    expect(t.slice(0, 1)(' Active ', ctx)).toBe('A');
    expect(t.slice(6)('ICD10:E11.9', ctx)).toBe('E11.9');
    expect(t.slice(3, 5)('AB', ctx)).toBeUndefined();
    expect(t.slice(0, 1)(null, ctx)).toBeUndefined();
  });

  it('looks a code up by its longest matching beginning, else the fallback', () => {
    const category = t.lookupPrefix({ D: 'cdt', D9: 'adjunctive', D92: 'anesthesia' }, 'other');
    expect(category('D9230', ctx)).toBe('anesthesia');
    expect(category('D9110', ctx)).toBe('adjunctive');
    expect(category('D0120', ctx)).toBe('cdt');
    expect(category('99213', ctx)).toBe('other');
    expect(category('', ctx)).toBe('other');
    expect(t.lookupPrefix({ A: 'active' })('I', ctx)).toBeUndefined();
  });

  it('composes: a status held in the first character of a code', () => {
    const status = t.col('Code', t.slice(0, 1), t.lookup({ A: 'active', I: 'inactive' }));
    expect(status.apply(['A-2019'], ctx)).toBe('active');
    expect(status.apply(['I'], ctx)).toBe('inactive');
    expect(status.apply(['X9'], ctx)).toBeUndefined();
  });
});

describe('several contact-point and address groups', () => {
  it('keeps an extension column with its number, ranks in order, drops duplicates', () => {
    expect(
      live({ Home: '(512) 555-0150', HomeExt: ' 12 ', Work: '512.555.0150' }).resource['telecom'],
    ).toEqual([{ system: 'phone', value: '+15125550150', use: 'home', rank: 1, ext: '12' }]);
    expect(live({ Home: null, HomeExt: '12', Work: '5125550151' }).resource['telecom']).toEqual([
      { system: 'phone', value: '+15125550151', use: 'work', rank: 1 },
    ]);
  });

  it('builds one address per filled group, in order, without blank or repeated groups', () => {
    expect(
      live({ Street: '1 Main St', City: 'Austin', BillStreet: 'PO Box 9', BillCity: 'Austin' }).resource[
        'addresses'
      ],
    ).toEqual([
      { use: 'home', line: ['1 Main St'], city: 'Austin' },
      { use: 'billing', line: ['PO Box 9'], city: 'Austin' },
    ]);
    expect(
      live({ Street: '', City: null, BillStreet: 'PO Box 9', BillCity: '' }).resource['addresses'],
    ).toEqual([{ use: 'billing', line: ['PO Box 9'] }]);
    expect(live({}).resource['addresses']).toBeUndefined();
  });
});

describe('definitions: fallback cursor and constant join conditions', () => {
  const base = {
    resourceType: 'Patient' as const,
    table: 'pat',
    key: ['Id'],
    columns: { Id: 'int', Modified: 'datetime', Created: 'datetime', Other: 'date', Race: 'int' },
    fields: {},
  };

  it('accepts a fallback of the same type and reads sourceUpdatedAt from it when the stamp is NULL', () => {
    const table = defineTable({
      ...base,
      cursor: { mode: 'timestamp', column: 'Modified', fallback: 'Created', clock: 'db-utc' },
    });
    expect(sourceUpdatedAt(table, { Modified: null, Created: '2025-01-02 03:04:05' }, ctx)).toBe(
      '2025-01-02T03:04:05Z',
    );
    expect(sourceUpdatedAt(table, { Modified: '2025-02-02 00:00:00', Created: '2025-01-02' }, ctx)).toBe(
      '2025-02-02T00:00:00Z',
    );
  });

  it('refuses a fallback that is undeclared, the stamp itself, or of another type', () => {
    for (const fallback of ['Missing', 'Modified', 'Other']) {
      expect(() =>
        defineTable({
          ...base,
          cursor: { mode: 'timestamp', column: 'Modified', fallback, clock: 'db-utc' },
        }),
      ).toThrow(TendrilError);
    }
  });

  it('checks constant join conditions name declared joined columns and hold plain values', () => {
    const join = {
      table: 'defs',
      alias: 'race',
      on: { Id: 'Race' },
      key: ['Id', 'Type'],
      columns: { Id: 'int', Type: 'int', Text: 'varchar(40)' },
    };
    expect(() =>
      defineTable({ ...base, cursor: { mode: 'snapshot' }, joins: [{ ...join, onValues: { Type: 100 } }] }),
    ).not.toThrow();
    expect(() =>
      defineTable({ ...base, cursor: { mode: 'snapshot' }, joins: [{ ...join, onValues: { Kind: 100 } }] }),
    ).toThrow(/onValues/);
    expect(() =>
      defineTable({
        ...base,
        cursor: { mode: 'snapshot' },
        joins: [{ ...join, onValues: { Type: Number.NaN } }],
      }),
    ).toThrow(/finite/);
  });
});
