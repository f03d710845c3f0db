import { defineTable, t } from '@tendril/core';
import { SYSTEMS } from '../vocabularies.js';

/**
 * OpenEMR `users` with `authorized = 1`: the users who may see patients and sign notes
 * (physicians, nurse practitioners…). The table also holds front-desk logins and address-book
 * entries (`authorized` 0), which are not practitioners. `active = 0` is a practitioner who left:
 * `active: false`, not a delete.
 */
export const usersTable = defineTable({
  resourceType: 'Practitioner',
  table: 'users',
  key: ['id'],
  columns: {
    id: 'bigint(20)',
    authorized: 'tinyint(4)',
    title: 'varchar(30)',
    fname: 'varchar(255)',
    mname: 'varchar(255)',
    lname: 'varchar(255)',
    suffix: 'varchar(255)',
    federaltaxid: 'varchar(255)',
    facility_id: 'int(11)',
    active: 'tinyint(1)',
    npi: 'varchar(15)',
    specialty: 'varchar(255)',
    taxonomy: 'varchar(30)',
    email: 'varchar(255)',
    phone: 'varchar(30)',
    phonew1: 'varchar(30)',
    phonecell: 'varchar(30)',
    fax: 'varchar(30)',
    state_license_number: 'varchar(25)',
    last_updated: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'last_updated', clock: 'db-local', precision: 0 },
  where: { authorized: 1 },
  fields: {
    name: t.humanName({ family: 'lname', given: ['fname', 'mname'], prefix: 'title', suffix: 'suffix' }),
    telecom: t.contactPoints([
      { column: 'phonew1', system: 'phone', use: 'work' },
      { column: 'phone', system: 'phone', use: 'work' },
      { column: 'phonecell', system: 'phone', use: 'mobile' },
      { column: 'fax', system: 'fax', use: 'work' },
      { column: 'email', system: 'email' },
    ]),
    identifiers: t.compute(['npi', 'state_license_number', 'federaltaxid'], ([npi, license, tin], ctx) => {
      const out: { system: string; value: string; type?: 'NPI' | 'TAX' }[] = [];
      const npiText = t.str()(npi, ctx) as string | undefined;
      if (npiText) out.push({ system: SYSTEMS.npi, value: npiText, type: 'NPI' });
      const licenseText = t.str()(license, ctx) as string | undefined;
      if (licenseText) out.push({ system: SYSTEMS.stateLicense, value: licenseText });
      const tinText = t.str()(tin, ctx) as string | undefined;
      if (tinText) out.push({ system: SYSTEMS.federalTaxId, value: tinText, type: 'TAX' });
      return out.length ? out : undefined;
    }),
    active: t.col('active', t.bool()),
    // `taxonomy` is the NUCC code (default 207Q00000X, Family Medicine); `specialty` is free text.
    specialty: t.compute(['taxonomy', 'specialty'], ([taxonomy, specialty], ctx) => {
      const code = t.str()(taxonomy, ctx) as string | undefined;
      if (!code) return undefined;
      const display = t.str()(specialty, ctx) as string | undefined;
      return { system: SYSTEMS.nucc, code, ...(display ? { display } : {}) };
    }),
    locationIds: t.refs('Location', ['facility_id']),
  },
});
