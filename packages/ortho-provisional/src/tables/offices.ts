import { defineTable, t } from '@tendril/core';

/** PLACEHOLDER names (provisional.ts): practice locations. Small: read as snapshots. Confirm with `tendril discover`. */
export const officesTable = defineTable({
  resourceType: 'Location',
  table: 'Offices',
  key: ['OfficeId'],
  columns: {
    OfficeId: 'int',
    OfficeName: 'varchar(100)',
    Address1: 'varchar(100)',
    City: 'varchar(60)',
    State: 'varchar(20)',
    Zip: 'varchar(20)',
    Phone: 'varchar(30)',
    Inactive: 'tinyint',
  },
  cursor: { mode: 'snapshot' },
  constants: { kind: 'office' },
  fields: {
    name: t.col('OfficeName', t.str()),
    address: t.address({ line: ['Address1'], city: 'City', state: 'State', postalCode: 'Zip' }),
    telecom: t.contactPoints([{ column: 'Phone', system: 'phone', use: 'work' }]),
    // The office's own zone is unknown in the provisional map: the connection's zone.
    timezone: t.compute([], (_values, ctx) => ctx.timezone),
    status: t.col('Inactive', t.bool(), t.lookup({ true: 'inactive', false: 'active' })),
  },
});
