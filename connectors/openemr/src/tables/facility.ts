import { defineTable, t } from '@tendril/core';
import { SYSTEMS } from '../vocabularies.js';

/**
 * OpenEMR `facility`: one row per office (service and/or billing location). OpenEMR stores no
 * zone per facility, so every office takes the connection's zone. `inactive` hides a facility:
 * `status: inactive`, not a delete.
 */
export const facilityTable = defineTable({
  resourceType: 'Location',
  table: 'facility',
  key: ['id'],
  columns: {
    id: 'int(11)',
    name: 'varchar(255)',
    phone: 'varchar(30)',
    fax: 'varchar(30)',
    street: 'varchar(255)',
    city: 'varchar(255)',
    state: 'varchar(50)',
    postal_code: 'varchar(11)',
    country_code: 'varchar(30)',
    email: 'varchar(255)',
    service_location: 'tinyint(1)',
    facility_npi: 'varchar(15)',
    inactive: 'tinyint(1)',
    last_updated: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'last_updated', clock: 'db-local', precision: 0 },
  constants: { kind: 'office' },
  fields: {
    name: t.col('name', t.str()),
    address: t.address({
      line: ['street'],
      city: 'city',
      state: 'state',
      postalCode: 'postal_code',
      country: 'country_code',
    }),
    telecom: t.contactPoints([
      { column: 'phone', system: 'phone', use: 'work' },
      { column: 'fax', system: 'fax', use: 'work' },
      { column: 'email', system: 'email' },
    ]),
    timezone: t.compute([], (_values, ctx) => ctx.timezone),
    status: t.col('inactive', t.bool(), t.lookup({ true: 'inactive', false: 'active' })),
    bookable: t.col('service_location', t.bool()),
    identifiers: t.compute(['facility_npi'], ([npi], ctx) => {
      const value = t.str()(npi, ctx);
      return value === undefined ? undefined : [{ system: SYSTEMS.npi, value, type: 'NPI' }];
    }),
  },
});
