import { defineTable, t, type Identifier } from '@tendril/core';
import { LOOKUPS, SYSTEMS } from '../vocabularies.js';

/** A US NPI: ten digits. `NationalProvID` also holds Canadian CDA provider numbers. */
const NPI = /^\d{10}$/;

/** Open Dental `provider`: dentists, hygienists, students and billing "dummy" providers. */
export const providerTable = defineTable({
  resourceType: 'Practitioner',
  table: 'provider',
  key: ['ProvNum'],
  columns: {
    ProvNum: 'bigint(20)',
    LName: 'varchar(100)',
    FName: 'varchar(100)',
    MI: 'varchar(100)',
    Suffix: 'varchar(100)',
    Specialty: 'bigint(20)',
    StateLicense: 'varchar(15)',
    IsSecondary: 'tinyint',
    IsHidden: 'tinyint',
    NationalProvID: 'varchar(255)',
    ProvStatus: 'tinyint(4)',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  // enum ProviderStatus: 0 Active, 1 Deleted.
  deletedWhen: { ProvStatus: 1 },
  fields: {
    name: t.humanName({ family: 'LName', given: ['FName', 'MI'], suffix: 'Suffix' }),
    identifiers: t.compute(['NationalProvID', 'StateLicense'], ([npi, license], ctx) => {
      const out: Identifier[] = [];
      const national = t.str()(npi, ctx) as string | undefined;
      if (national) {
        out.push(
          NPI.test(national)
            ? { system: SYSTEMS.npi, value: national, type: 'NPI' }
            : { system: SYSTEMS.nationalProviderId, value: national },
        );
      }
      // StateLicense is "DEPRECATED" in 24.3 (licences moved on) but still filled on most sites.
      const stateLicense = t.str()(license, ctx) as string | undefined;
      if (stateLicense) out.push({ system: SYSTEMS.stateLicense, value: stateLicense });
      return out;
    }),
    // "If true, provider will not show on any lists."
    active: t.col('IsHidden', t.bool(), t.not()),
    // "True if hygienist."
    isHygienist: t.col('IsSecondary', t.bool()),
    // FK to definition.DefNum (DefCat 35 ProviderSpecialties): numbers differ per database.
    specialty: t.col('Specialty', t.nullIf(0), t.siteCoding(LOOKUPS.specialty)),
  },
});
