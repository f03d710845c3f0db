import { defineConnector } from '@tendril/core';
import { openDentalOptionsSchema } from './options.js';
import { appointmentTable } from './tables/appointment.js';
import { appointmentTypeTable } from './tables/appointmenttype.js';
import { clinicTable } from './tables/clinic.js';
import { operatoryTable } from './tables/operatory.js';
import { patientTable } from './tables/patient.js';
import { patPlanTable } from './tables/patplan.js';
import { chargeTable } from './tables/procedurelog-charge.js';
import { procedureTable } from './tables/procedurelog.js';
import { providerTable } from './tables/provider.js';
import { openDentalWriteback } from './writeback.js';

/**
 * Open Dental (MySQL/MariaDB). Stream names key the cursors in the store: never rename them.
 * Verified against the official 24.3 schema documentation loaded into MariaDB
 * (the shared fixtures' `opendental` folder, see `schema.int.test.ts`).
 */
export const openDental = defineConnector({
  id: 'open-dental',
  displayName: 'Open Dental',
  dialects: ['mysql', 'odbc'],
  versions: ['24.3'],
  verification: {
    level: 'real-schema',
    against: 'Open Dental 24.3 schema (official documentation XML) on MariaDB 10.11',
  },
  optionsSchema: openDentalOptionsSchema,
  streams: {
    patients: patientTable,
    practitioners: providerTable,
    offices: clinicTable,
    operatories: operatoryTable,
    'appointment-types': appointmentTypeTable,
    appointments: appointmentTable,
    procedures: procedureTable,
    charges: chargeTable,
    coverage: patPlanTable,
  },
  writeback: openDentalWriteback,
});

export default openDental;
export { openDentalOptionsSchema, type OpenDentalOptions } from './options.js';
export { DEFAULT_OFFICE_ROW } from './tables/clinic.js';
export { openDentalWriteback } from './writeback.js';
