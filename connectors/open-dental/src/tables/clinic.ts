import { defineTable, isValidTimeZone, t } from '@tendril/core';
import { WINDOWS_TIME_ZONES } from '../vocabularies.js';

/**
 * The office every `ClinicNum` 0 points at. With clinics disabled (most single-office sites) the
 * `clinic` table is empty and every row says 0; with clinics on, 0 still means "not attached to a
 * clinic". Either way it is one real office with no row, so it is emitted from here with `sourceId`
 * "0" and the connection's time zone. Values are Open Dental's column defaults.
 */
export const DEFAULT_OFFICE_ROW = {
  ClinicNum: 0,
  Description: 'Main office',
  Address: '',
  Address2: '',
  City: '',
  State: '',
  Zip: '',
  Phone: '',
  Fax: '',
  IsHidden: 0,
  TimeZone: '',
} as const;

/**
 * The office's IANA zone: `clinic.TimeZone` if it is an IANA `Area/Location` name (fixed-offset abbreviations such as `EST` know no DST, so they are not taken), or a Windows zone name mapped to
 * one (Open Dental fills the column from .NET `TimeZoneInfo`), else the connection's zone. Offices
 * always have a zone (docs/standard-model.md, "Resource fields").
 */
function officeTimeZone(value: unknown, fallback: string): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') return fallback;
  if (Object.hasOwn(WINDOWS_TIME_ZONES, text)) return WINDOWS_TIME_ZONES[text]!;
  return text.includes('/') && isValidTimeZone(text) ? text : fallback;
}

/** Open Dental `clinic`: one row per office when clinics are enabled. Small and unstamped: snapshot. */
export const clinicTable = defineTable({
  resourceType: 'Location',
  table: 'clinic',
  key: ['ClinicNum'],
  columns: {
    ClinicNum: 'bigint(20)',
    Description: 'varchar(255)',
    Address: 'varchar(255)',
    Address2: 'varchar(255)',
    City: 'varchar(255)',
    State: 'varchar(255)',
    Zip: 'varchar(255)',
    Phone: 'varchar(255)',
    Fax: 'varchar(50)',
    IsHidden: 'tinyint(4)',
    TimeZone: 'varchar(75)',
  },
  cursor: { mode: 'snapshot' },
  staticRows: [DEFAULT_OFFICE_ROW],
  constants: { kind: 'office' },
  fields: {
    name: t.col('Description', t.str()),
    address: t.address({ line: ['Address', 'Address2'], city: 'City', state: 'State', postalCode: 'Zip' }),
    telecom: t.contactPoints([
      { column: 'Phone', system: 'phone', use: 'work' },
      { column: 'Fax', system: 'fax', use: 'work' },
    ]),
    timezone: t.compute(['TimeZone'], ([zone], ctx) => officeTimeZone(zone, ctx.timezone)),
    status: t.col('IsHidden', t.bool(), t.lookup({ true: 'inactive', false: 'active' })),
  },
});
