import { defineTable, t } from '@tendril/core';

/** PLACEHOLDER names (provisional.ts): doctors and staff who see patients. Confirm with `tendril discover`. */
export const providersTable = defineTable({
  resourceType: 'Practitioner',
  table: 'Providers',
  key: ['ProviderId'],
  columns: {
    ProviderId: 'int',
    LastName: 'varchar(60)',
    FirstName: 'varchar(60)',
    Suffix: 'varchar(20)',
    NPI: 'varchar(10)',
    Inactive: 'tinyint',
    LastModified: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  fields: {
    name: t.humanName({ family: 'LastName', given: ['FirstName'], suffix: 'Suffix' }),
    identifiers: t.compute(['NPI'], ([npi], ctx) => {
      const value = t.str()(npi, ctx);
      return typeof value === 'string' && /^\d{10}$/.test(value)
        ? [{ system: 'http://hl7.org/fhir/sid/us-npi', value, type: 'NPI' }]
        : undefined;
    }),
    active: t.col('Inactive', t.bool(), t.not()),
  },
});
