import { defineTable, t, type ColumnDeclarations } from '@tendril/core';
import { languageCoding, SEX, SYSTEMS } from '../vocabularies.js';

/**
 * OpenEMR `patient_data`: one row per patient. `pid` is the id every other table uses (UNIQUE;
 * the table has no PRIMARY KEY). `last_updated` is a `DATETIME … ON UPDATE CURRENT_TIMESTAMP`,
 * stamped by the database in its own zone: `db-local`. OpenEMR has no patient status that means
 * deleted; removed patients are found by reconciliation.
 */
export const patientDataTable = defineTable({
  resourceType: 'Patient',
  table: 'patient_data',
  key: ['pid'],
  columns: {
    pid: 'bigint(20)',
    pubpid: 'varchar(255)',
    title: 'varchar(255)',
    fname: 'varchar(255)',
    mname: 'varchar(255)',
    lname: 'varchar(255)',
    suffix: 'tinytext',
    preferred_name: 'tinytext',
    DOB: 'date',
    sex: 'varchar(255)',
    language: 'varchar(255)',
    street: 'varchar(255)',
    street_line_2: 'tinytext',
    city: 'varchar(255)',
    state: 'varchar(255)',
    postal_code: 'varchar(255)',
    country_code: 'varchar(255)',
    phone_home: 'varchar(255)',
    phone_biz: 'varchar(255)',
    phone_cell: 'varchar(255)',
    email: 'varchar(255)',
    providerID: 'int(11)',
    deceased_date: 'datetime',
    last_updated: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'last_updated', clock: 'db-local', precision: 0 },
  fields: {
    name: t.humanName({ family: 'lname', given: ['fname', 'mname'], prefix: 'title', suffix: 'suffix' }),
    preferredName: t.col('preferred_name', t.str()),
    birthDate: t.col('DOB', t.date()),
    gender: t.compute(['sex'], ([sex]) => {
      const key = typeof sex === 'string' ? sex.trim().toLowerCase() : '';
      return key === '' ? undefined : (SEX[key] ?? 'other');
    }),
    language: t.compute(['language'], ([language], ctx) => languageCoding(language, ctx)),
    // Mobile first: the number that takes texts and reaches the patient.
    telecom: t.contactPoints([
      { column: 'phone_cell', system: 'phone', use: 'mobile' },
      { column: 'phone_home', system: 'phone', use: 'home' },
      { column: 'phone_biz', system: 'phone', use: 'work' },
      { column: 'email', system: 'email' },
    ]),
    addresses: t.address(
      {
        use: 'home',
        line: ['street', 'street_line_2'],
        city: 'city',
        state: 'state',
        postalCode: 'postal_code',
        country: 'country_code',
      },
      { asList: true },
    ),
    deceased: t.compute(['deceased_date'], ([when], ctx) =>
      t.date()(when, ctx) === undefined ? undefined : true,
    ),
    deceasedDate: t.col('deceased_date', t.date()),
    primaryPractitionerId: t.ref('Practitioner', 'providerID'),
    identifiers: t.compute(['pubpid'], ([pubpid], ctx) => {
      const value = t.str()(pubpid, ctx);
      return value === undefined ? undefined : [{ system: SYSTEMS.pubpid, value, type: 'MR' }];
    }),
  },
});

/** The `patient_data` columns writeback sends that polling does not read (types as in database.sql). */
export const patientDataWriteOnly = {
  uuid: 'binary(16)',
  date: 'datetime',
  regdate: 'datetime',
} as const satisfies ColumnDeclarations;
