import { defineTable, t } from '@tendril/core';

/** PLACEHOLDER names (provisional.ts): the patient table. Confirm with `tendril discover`. */
export const patientsTable = defineTable({
  resourceType: 'Patient',
  table: 'Patients',
  key: ['PatientId'],
  columns: {
    PatientId: 'int',
    LastName: 'varchar(60)',
    FirstName: 'varchar(60)',
    MiddleName: 'varchar(60)',
    PreferredName: 'varchar(60)',
    BirthDate: 'date',
    Sex: 'varchar(1)',
    HomePhone: 'varchar(30)',
    MobilePhone: 'varchar(30)',
    Email: 'varchar(100)',
    Address1: 'varchar(100)',
    Address2: 'varchar(100)',
    City: 'varchar(60)',
    State: 'varchar(20)',
    Zip: 'varchar(20)',
    ChartNumber: 'varchar(30)',
    ProviderId: 'int',
    OfficeId: 'int',
    Inactive: 'tinyint',
    LastModified: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  fields: {
    name: t.humanName({ family: 'LastName', given: ['FirstName', 'MiddleName'] }),
    preferredName: t.col('PreferredName', t.str()),
    birthDate: t.col('BirthDate', t.date()),
    gender: t.col('Sex', t.upper(), t.lookup({ M: 'male', F: 'female' }, 'unknown')),
    telecom: t.contactPoints([
      { column: 'MobilePhone', system: 'phone', use: 'mobile' },
      { column: 'HomePhone', system: 'phone', use: 'home' },
      { column: 'Email', system: 'email' },
    ]),
    addresses: t.address(
      { use: 'home', line: ['Address1', 'Address2'], city: 'City', state: 'State', postalCode: 'Zip' },
      { asList: true },
    ),
    identifiers: t.compute(['ChartNumber'], ([chart], ctx) => {
      const value = t.str()(chart, ctx);
      return value === undefined
        ? undefined
        : [{ system: `urn:tendril:${ctx.connectorId}:${ctx.connectionId}:chart-number`, value, type: 'MR' }];
    }),
    primaryPractitionerId: t.ref('Practitioner', 'ProviderId'),
    primaryLocationId: t.ref('Location', 'OfficeId'),
    active: t.col('Inactive', t.bool(), t.not()),
  },
});
