import { defineConnector } from '@tendril/core';
import { openEmrOptionsSchema } from './options.js';
import { billingChargeTable } from './tables/billing-charge.js';
import { billingProcedureTable } from './tables/billing-procedure.js';
import { facilityTable } from './tables/facility.js';
import { formEncounterTable } from './tables/form-encounter.js';
import { insuranceDataTable } from './tables/insurance-data.js';
import { medicalProblemTable } from './tables/lists-medical-problem.js';
import { patientDataTable } from './tables/patient-data.js';
import { postcalendarEventsTable } from './tables/postcalendar-events.js';
import { usersTable } from './tables/users.js';
import { openEmrWriteback } from './writeback.js';

/**
 * OpenEMR (MySQL/MariaDB, InnoDB). Stream names key the cursors in the store: never rename them.
 * Verified against OpenEMR's own `sql/database.sql` (8.2.0-dev) loaded into MariaDB
 * (the shared fixtures' `openemr` folder, see `schema.int.test.ts`).
 */
export const openEmr = defineConnector({
  id: 'openemr',
  displayName: 'OpenEMR',
  dialects: ['mysql'],
  versions: ['8.2.0-dev'],
  verification: {
    level: 'real-schema',
    against: 'OpenEMR 8.2.0-dev sql/database.sql (v_database 541) on MariaDB 10.11',
  },
  optionsSchema: openEmrOptionsSchema,
  streams: {
    patients: patientDataTable,
    practitioners: usersTable,
    offices: facilityTable,
    appointments: postcalendarEventsTable,
    encounters: formEncounterTable,
    conditions: medicalProblemTable,
    procedures: billingProcedureTable,
    charges: billingChargeTable,
    coverage: insuranceDataTable,
  },
  writeback: openEmrWriteback,
});

export default openEmr;
export { openEmrOptionsSchema, type OpenEmrOptions } from './options.js';
export { APPT_STATUS, appointmentStatus, parseDiagnosis } from './vocabularies.js';
