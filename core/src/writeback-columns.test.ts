import { describe, expect, it } from 'vitest';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';
import {
  addressColumns,
  blankColumns,
  columnOf,
  contactColumns,
  nameColumns,
  primaryAddress,
} from './writeback-columns.js';

/** A patient table declared the way connectors declare theirs: the write columns come from here. */
const patients = defineTable({
  resourceType: 'Patient',
  table: 'patient',
  key: ['PatNum'],
  columns: {
    PatNum: 'bigint(20)',
    LName: 'varchar(100)',
    FName: 'varchar(100)',
    MiddleI: 'varchar(100)',
    Title: 'varchar(15)',
    Birthdate: 'date',
    Address: 'varchar(100)',
    Address2: 'varchar(100)',
    City: 'varchar(100)',
    Zip: 'varchar(100)',
    HmPhone: 'varchar(30)',
    WkPhone: 'varchar(30)',
    WirelessPhone: 'varchar(30)',
    OtherPhone: 'varchar(30)',
    Email: 'varchar(100)',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.humanName({ family: 'LName', given: ['FName', 'MiddleI'], prefix: 'Title' }),
    birthDate: t.col('Birthdate', t.date()),
    telecom: t.contactPoints([
      { column: 'WirelessPhone', system: 'phone', use: 'mobile' },
      { column: 'HmPhone', system: 'phone', use: 'home' },
      { column: 'WkPhone', system: 'phone', use: 'work' },
      { column: 'Email', system: 'email' },
    ]),
    addresses: t.address(
      { use: 'home', line: ['Address', 'Address2'], city: 'City', postalCode: 'Zip' },
      { asList: true },
    ),
  },
});

describe('writeback columns derived from the read declaration', () => {
  it('lays contact points out in vendor columns, first of each kind winning', () => {
    expect(
      contactColumns(patients, 'telecom', [
        { system: 'phone', value: '+15555550101', use: 'mobile' },
        { system: 'phone', value: '+15555550102', use: 'home' },
        { system: 'phone', value: '+15555550103' },
        { system: 'email', value: 'a@example.com' },
        { system: 'email', value: 'b@example.com' },
        { system: 'phone', value: '+15555550104', use: 'work' },
      ]),
    ).toEqual({
      WirelessPhone: '+15555550101',
      HmPhone: '+15555550102',
      Email: 'a@example.com',
      WkPhone: '+15555550104',
    });
  });

  it('puts a phone without a use in the phone column without one when there is no mobile column', () => {
    const other = defineTable({
      ...patients,
      fields: {
        telecom: t.contactPoints([
          { column: 'HmPhone', system: 'phone', use: 'home' },
          { column: 'OtherPhone', system: 'phone' },
          { column: 'Email', system: 'email' },
        ]),
      },
    });
    expect(
      contactColumns(other, 'telecom', [
        { system: 'sms', value: '+15555550101', use: 'mobile' },
        { system: 'phone', value: '+15555550102', use: 'home' },
        { system: 'email', value: 'a@example.com', use: 'work' },
      ]),
    ).toEqual({ OtherPhone: '+15555550101', HmPhone: '+15555550102', Email: 'a@example.com' });
  });

  it('keeps the home address, or one without a use, else the first', () => {
    const work = { use: 'work' as const, line: ['1 Work St'] };
    const home = { use: 'home' as const, line: ['2 Home St'] };
    expect(primaryAddress([work, home])).toBe(home);
    expect(primaryAddress([work])).toBe(work);
    expect(primaryAddress([])).toBeUndefined();
  });

  it('writes the address, name and single columns the read side maps, and blanks a whole field', () => {
    expect(addressColumns(patients, 'addresses', [{ line: ['2 Home St'], city: 'Mesa' }])).toEqual({
      Address: '2 Home St',
      Address2: undefined,
      City: 'Mesa',
      Zip: undefined,
    });
    expect(addressColumns(patients, 'addresses', [])).toEqual({});
    expect(nameColumns(patients, 'name', { family: ' Doe ', given: ['Jane', 'Ann', 'Lee'] })).toEqual({
      LName: 'Doe',
      FName: 'Jane',
      MiddleI: 'Ann Lee',
    });
    expect(nameColumns(patients, 'name', { family: 'Doe', given: ['Jane'], prefix: ['Dr'] })).toEqual({
      LName: 'Doe',
      FName: 'Jane',
      MiddleI: '',
      Title: 'Dr',
    });
    expect(columnOf(patients, 'birthDate')).toBe('Birthdate');
    expect(blankColumns(patients, 'telecom', '')).toEqual({
      WirelessPhone: '',
      HmPhone: '',
      WkPhone: '',
      Email: '',
    });
    expect(() => columnOf(patients, 'telecom')).toThrow(/not declared with the column helper/);
  });
});
