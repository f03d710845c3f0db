import { defineConnector } from '@tendril/core';
import { dentrixEnterpriseOptionsSchema } from './options.js';
import { appointmentTable } from './tables/appt-base.js';
import { patientTable } from './tables/pat-base.js';
import { officeTable } from './tables/rsc-office.js';
import { operatoryTable } from './tables/rsc-operatory.js';
import { practitionerTable } from './tables/rsc-practitioner.js';
import { dentrixEnterpriseWriteback } from './writeback.js';

/**
 * Dentrix Enterprise 11.0 (SQL Server, through tedious). Stream names key the cursors in the
 * store: never rename them. Column names, keys and nullability come from a public replica of the
 * 11.0 tables (`fixtures/dentrix-enterprise`); the schema and mapping tests run that schema on
 * MariaDB, and the T-SQL is checked by snapshot only: nothing here has run against SQL Server.
 * Procedures, charges and coverage are not offered: their tables (`DDB_PROC_LOG_BASE`,
 * `DDB_INSURED_BASE`, …) are not in the fixture, so no column of theirs could be verified.
 */
export const dentrixEnterprise = defineConnector({
  id: 'dentrix-enterprise',
  displayName: 'Dentrix Enterprise',
  dialects: ['mssql'],
  versions: ['11.0'],
  verification: {
    level: 'real-columns',
    against:
      'Dentrix Enterprise 11 column names (public replica) on MariaDB + T-SQL snapshots; not run against SQL Server',
  },
  optionsSchema: dentrixEnterpriseOptionsSchema,
  streams: {
    patients: patientTable,
    practitioners: practitionerTable,
    offices: officeTable,
    operatories: operatoryTable,
    appointments: appointmentTable,
  },
  writeback: dentrixEnterpriseWriteback,
});

export default dentrixEnterprise;
export { dentrixEnterpriseOptionsSchema, type DentrixEnterpriseOptions } from './options.js';
export { APPT_STATUS, RSC_TYPE, appointmentStatus } from './vocabularies.js';
export { appointmentEnd, appointmentLocalText, appointmentStart } from './appointment-time.js';
export { dentrixEnterpriseWriteback } from './writeback.js';
