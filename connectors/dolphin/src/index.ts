import { defineConnector } from '@tendril/core';
import { z } from 'zod';
import { PROVISIONAL_NOTE } from './provisional.js';
import { appointmentTypesTable } from './tables/appointment-types.js';
import { appointmentsTable } from './tables/appointments.js';
import { coverageTable } from './tables/coverage.js';
import { officesTable } from './tables/offices.js';
import { patientsTable } from './tables/patients.js';
import { providersTable } from './tables/providers.js';

/**
 * Dolphin Management (SQL Server, database `Main_OMS`). PROVISIONAL: no public schema exists, so
 * every table and column name is a placeholder (provisional.ts) to be confirmed at install with
 * `tendril discover` and adapted with `connections[].tableMap`. Reads need SELECT only
 * (`tendril grants --connector dolphin --dialect mssql`), not the db_owner other vendors request.
 * Stream names key the cursors in the store: never rename them.
 */
export const dolphin = defineConnector({
  id: 'dolphin',
  displayName: 'Dolphin Management',
  dialects: ['mssql'],
  versions: ['unknown'],
  verification: { level: 'provisional', against: PROVISIONAL_NOTE },
  optionsSchema: z.object({}).strict(),
  streams: {
    patients: patientsTable,
    practitioners: providersTable,
    offices: officesTable,
    'appointment-types': appointmentTypesTable,
    appointments: appointmentsTable,
    coverage: coverageTable,
  },
});

export default dolphin;
export { PROVISIONAL_NOTE } from './provisional.js';
