import { defineTable, t, type ColumnDeclarations } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { DEF_TYPE, LOOKUPS, SYSTEMS } from '../vocabularies.js';
import { definitionField, definitionJoin, definitionListField } from './def-text.js';

/** `DDB_LAST_MOD`: 1/300 s `datetime` on SQL Server, stored as 3 fraction digits (`.000/.003/.007`). */
export const DDB_LAST_MOD_CURSOR = {
  mode: 'timestamp',
  column: 'DDB_LAST_MOD',
  // `client`: nobody has shown whether Dentrix or the server stamps DDB_LAST_MOD, or in which zone
  // (A). `client` reads the same window as `db-local` (the DB clock converted to the connection's
  // zone) and also warns when stamps run ahead of the DB clock: the evidence that settles it.
  clock: 'client',
  precision: 3,
} as const;

/**
 * The patient stamp, falling back to `EntryDateTime` for rows whose `DDB_LAST_MOD` is NULL (the
 * column is nullable): such a row is at least read when it is created (A: that Dentrix fills
 * `EntryDateTime` on creation).
 */
export const PATIENT_CURSOR = { ...DDB_LAST_MOD_CURSOR, fallback: 'EntryDateTime' } as const;

/**
 * Dentrix Enterprise `DDB_PAT_BASE`, keyed `PATID`+`PATDB` (sourceId `PATID:PATDB`). Race,
 * language and ethnicity are codes into the definitions table `DDB_DEF_TEXT` (types 100, 101, 115;
 * public queries), read through three constant-type joins. Not mapped, each for a stated reason
 * (docs/connectors/dentrix-enterprise.md): the address (`ADDRESSID` → `DDB_ADDRESS_BASE`, whose
 * street columns no public query names), `GENDER` and `ACTIVE` (code values not public, A),
 * `DefaultClinic` (no `…DB` column to form a clinic key), `SS` (never read: SSNs leave only with
 * `exportSsn`, which this connector does not offer yet).
 */
export const patientTable = defineTable({
  resourceType: 'Patient',
  table: 'DDB_PAT_BASE',
  evidence: EVIDENCE.replicaAndPublicQueries,
  key: ['PATID', 'PATDB'],
  columns: {
    PATID: 'int',
    PATDB: 'int',
    GUARID: 'int',
    GUARDB: 'int',
    PRPROVID: 'int',
    PRPROVDB: 'int',
    LASTNAME: 'varchar(255)',
    FIRSTNAME: 'varchar(255)',
    MiddleName: 'varchar(255)',
    MI: 'varchar(255)',
    PREFNAME: 'varchar(255)',
    TITLE: 'varchar(255)',
    Suffix: 'varchar(255)',
    CHART: 'varchar(255)',
    STATUS: 'smallint',
    BIRTHDATE: 'datetime',
    EMAILADDRESS: 'varchar(255)',
    WORKEMAIL: 'varchar(255)',
    HOMEPHONE: 'varchar(255)',
    HOMEPHONEEXT: 'varchar(255)',
    WKPHONE: 'varchar(255)',
    WKEXT: 'varchar(255)',
    OTHERPHONE: 'varchar(255)',
    Language: 'smallint',
    Race: 'smallint',
    EthnicityID: 'int',
    PatientDeathDate: 'datetime',
    EntryDateTime: 'datetime',
    DDB_LAST_MOD: 'datetime',
  },
  joins: [
    definitionJoin('race', 'Race', DEF_TYPE.race),
    definitionJoin('lang', 'Language', DEF_TYPE.language),
    definitionJoin('eth', 'EthnicityID', DEF_TYPE.ethnicity),
  ],
  cursor: PATIENT_CURSOR,
  fields: {
    name: t.compute(
      ['LASTNAME', 'FIRSTNAME', 'MiddleName', 'MI', 'TITLE', 'Suffix'],
      ([last, first, middle, mi, title, suffix], ctx) => {
        const text = (v: unknown) => t.str()(v, ctx) as string | undefined;
        const family = text(last);
        // 11.0 has both MiddleName and the older MI; the full middle name wins.
        const given = [text(first), text(middle) ?? text(mi)].filter((g): g is string => g !== undefined);
        const name: Record<string, unknown> = {};
        if (family) name['family'] = family;
        if (given.length) name['given'] = given;
        const prefix = text(title);
        if (prefix) name['prefix'] = [prefix];
        const suffixText = text(suffix);
        if (suffixText) name['suffix'] = [suffixText];
        return Object.keys(name).length ? name : undefined;
      },
    ),
    preferredName: t.col('PREFNAME', t.str()),
    // `1753-01-01` (SQL Server's smallest datetime) is Dentrix's "no date": core treats < 1800 as none.
    birthDate: t.col('BIRTHDATE', t.date()),
    telecom: t.contactPoints([
      { column: 'HOMEPHONE', ext: 'HOMEPHONEEXT', system: 'phone', use: 'home' },
      { column: 'WKPHONE', ext: 'WKEXT', system: 'phone', use: 'work' },
      // A: OTHERPHONE is often the mobile number, but nothing says so; no `use` is claimed.
      { column: 'OTHERPHONE', system: 'phone' },
      { column: 'EMAILADDRESS', system: 'email' },
      { column: 'WORKEMAIL', system: 'email', use: 'work' },
    ]),
    // Definitions are per database, so the codes are site codings, with the description as display.
    language: definitionField(LOOKUPS.language, 'Language', 'lang'),
    race: definitionListField(LOOKUPS.race, 'Race', 'race'),
    ethnicity: definitionListField(LOOKUPS.ethnicity, 'EthnicityID', 'eth'),
    deceased: t.compute(['PatientDeathDate'], ([when], ctx) =>
      t.date()(when, ctx) === undefined ? undefined : true,
    ),
    deceasedDate: t.col('PatientDeathDate', t.date()),
    primaryPractitionerId: t.ref('Practitioner', ['PRPROVID', 'PRPROVDB']),
    guarantorId: t.ref('Patient', ['GUARID', 'GUARDB']),
    identifiers: t.compute(['CHART'], ([chart], ctx) => {
      const value = t.str()(chart, ctx);
      return value === undefined ? undefined : [{ system: SYSTEMS.chartNumber, value, type: 'MR' }];
    }),
    sourceStatus: t.col('STATUS', t.vendorCoding(LOOKUPS.patStatus)),
  },
});

/**
 * `DDB_PAT_BASE` columns writeback sends that polling does not read (T-SQL types from the
 * fixture), and what a new row gets: these flags are NOT NULL without a default (A: 0 is "off").
 */
export const patientWriteOnly = {
  FAMILYID: 'int',
  PATIMAGEID: 'int',
  CommunicationPref: 'smallint',
  CONFIDENTIAL_STATE: 'bit',
  VipCode: 'bit',
  SensitivityFlag: 'bit',
  DNACode: 'bit',
  DoDUpdateAuth: 'bit',
} as const satisfies ColumnDeclarations;
export const patientInsertDefaults = {
  PATIMAGEID: 0,
  CommunicationPref: 0,
  CONFIDENTIAL_STATE: 0,
  VipCode: 0,
  SensitivityFlag: 0,
  DNACode: 0,
  DoDUpdateAuth: 0,
} as const;
