import { defineTable, t, type ColumnDeclarations } from '@tendril/core';
import { LOOKUPS, SYSTEMS } from '../vocabularies.js';

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
 * Dentrix Enterprise `DDB_PAT_BASE`, keyed `PATID`+`PATDB` (sourceId `PATID:PATDB`). Not mapped,
 * each for a stated reason (docs/connectors/dentrix-enterprise.md): the address (`ADDRESSID` →
 * `DDB_ADDRESS_BASE`, absent from the fixture), `GENDER`, `Race`, `EthnicityID` and `ACTIVE`
 * (code values not public, A), `DefaultClinic` (no `…DB` column to form a clinic key), `SS` (never
 * read: SSNs leave only with `exportSsn`, which this connector does not offer yet).
 */
export const patientTable = defineTable({
  resourceType: 'Patient',
  table: 'DDB_PAT_BASE',
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
    HOMEPHONE: 'varchar(255)',
    WKPHONE: 'varchar(255)',
    OTHERPHONE: 'varchar(255)',
    Language: 'smallint',
    PatientDeathDate: 'datetime',
    DDB_LAST_MOD: 'datetime',
  },
  cursor: DDB_LAST_MOD_CURSOR,
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
      { column: 'HOMEPHONE', system: 'phone', use: 'home' },
      { column: 'WKPHONE', system: 'phone', use: 'work' },
      // A: OTHERPHONE is often the mobile number, but nothing says so; no `use` is claimed.
      { column: 'OTHERPHONE', system: 'phone' },
      { column: 'EMAILADDRESS', system: 'email' },
    ]),
    language: t.col('Language', t.vendorCoding(LOOKUPS.language)),
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
