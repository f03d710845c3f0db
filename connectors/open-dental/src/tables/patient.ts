import { defineTable, t } from '@tendril/core';
import { languageCoding } from '../language.js';
import {
  GENDER,
  LOOKUPS,
  PAT_STATUS,
  PAT_STATUS_DECEASED,
  PAT_STATUS_DELETED,
  PATIENT_ACTIVE,
  SYSTEMS,
} from '../vocabularies.js';

/** Open Dental `patient`: one row per patient, "includes deleted patients" (PatStatus 4). */
export const patientTable = defineTable({
  resourceType: 'Patient',
  table: 'patient',
  key: ['PatNum'],
  columns: {
    PatNum: 'bigint(20)',
    LName: 'varchar(100)',
    FName: 'varchar(100)',
    MiddleI: 'varchar(100)',
    Preferred: 'varchar(100)',
    Title: 'varchar(15)',
    PatStatus: 'tinyint',
    Gender: 'tinyint',
    Birthdate: 'date',
    Address: 'varchar(100)',
    Address2: 'varchar(100)',
    City: 'varchar(100)',
    State: 'varchar(100)',
    Zip: 'varchar(100)',
    Country: 'varchar(255)',
    HmPhone: 'varchar(30)',
    WkPhone: 'varchar(30)',
    WirelessPhone: 'varchar(30)',
    Email: 'varchar(100)',
    Guarantor: 'bigint(20)',
    PriProv: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    ChartNumber: 'varchar(100)',
    Language: 'varchar(100)',
    DateTimeDeceased: 'datetime',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  deletedWhen: { PatStatus: PAT_STATUS_DELETED },
  fields: {
    name: t.humanName({ family: 'LName', given: ['FName', 'MiddleI'], prefix: 'Title' }),
    preferredName: t.col('Preferred', t.str()),
    birthDate: t.col('Birthdate', t.date()),
    gender: t.col('Gender', t.lookup(GENDER)),
    language: t.compute(['Language'], ([language], ctx) => languageCoding(language, ctx)),
    // Mobile first: it is the number that takes texts and reaches the patient. Open Dental's
    // PreferContactMethod is a per-purpose preference, not a ranking of numbers, so it is not used.
    telecom: t.contactPoints([
      { column: 'WirelessPhone', system: 'phone', use: 'mobile' },
      { column: 'HmPhone', system: 'phone', use: 'home' },
      { column: 'WkPhone', system: 'phone', use: 'work' },
      { column: 'Email', system: 'email' },
    ]),
    addresses: t.address(
      {
        use: 'home',
        line: ['Address', 'Address2'],
        city: 'City',
        state: 'State',
        postalCode: 'Zip',
        country: 'Country',
      },
      { asList: true },
    ),
    // Open Dental's statement of death is the status; the date only counts with it.
    deceased: t.compute(['PatStatus'], ([status]) => Number(status) === PAT_STATUS_DECEASED),
    deceasedDate: t.compute(['PatStatus', 'DateTimeDeceased'], ([status, when], ctx) =>
      Number(status) === PAT_STATUS_DECEASED ? t.date()(when, ctx) : undefined,
    ),
    primaryPractitionerId: t.ref('Practitioner', 'PriProv'),
    // ClinicNum 0 is the default office (clinics disabled, or a patient not assigned to a clinic).
    primaryLocationId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }),
    guarantorId: t.ref('Patient', 'Guarantor'),
    identifiers: t.compute(['ChartNumber'], ([chart], ctx) => {
      const value = t.str()(chart, ctx);
      return value === undefined ? undefined : [{ system: SYSTEMS.chartNumber, value, type: 'MR' }];
    }),
    active: t.col('PatStatus', t.lookup(PATIENT_ACTIVE)),
    sourceStatus: t.col('PatStatus', t.vendorCoding(LOOKUPS.patStatus, PAT_STATUS)),
  },
});
