import { defineConnector } from '@tendril/core';
import { dentrixEnterpriseOptionsSchema } from './options.js';
import { appointmentTable } from './tables/appt-base.js';
import { appointmentProcedureTable } from './tables/appt-proccode-base.js';
import { primaryCoverageTable, secondaryCoverageTable } from './tables/coverage.js';
import { patientTable } from './tables/pat-base.js';
import { procedureCodeTable } from './tables/proc-code-base.js';
import { chargeTable } from './tables/proc-log-charge.js';
import { paymentTable } from './tables/proc-log-payment.js';
import { procedureTable } from './tables/proc-log-procedure.js';
import { officeTable } from './tables/rsc-office.js';
import { operatoryTable } from './tables/rsc-operatory.js';
import { practitionerTable } from './tables/rsc-practitioner.js';
import { dentrixEnterpriseWriteback } from './writeback.js';

/**
 * Dentrix Enterprise 11.0 (SQL Server, through tedious). Stream names key the cursors in the
 * store: never rename them. Two levels of evidence, stated per stream (`evidence`, printed by
 * `tendril connectors`): the replica of six 11.0 tables (exact column names, keys and
 * nullability) and, for `DDB_PROC_LOG_BASE`, `DDB_INSURED_BASE`, `DDB_INSURANCE_BASE` and
 * `DDB_DEF_TEXT`, public queries against live databases (names only; `tendril discover` confirms
 * them at the site). The schema, mapping and sync tests run both on MariaDB; the T-SQL is checked
 * by snapshot only: nothing here has run against SQL Server.
 */
export const dentrixEnterprise = defineConnector({
  id: 'dentrix-enterprise',
  displayName: 'Dentrix Enterprise',
  dialects: ['mssql'],
  versions: ['11.0'],
  verification: {
    level: 'real-columns',
    against:
      'Dentrix Enterprise 11 column names (public replica; further tables from public queries, per stream) on MariaDB + T-SQL snapshots; not run against SQL Server',
  },
  optionsSchema: dentrixEnterpriseOptionsSchema,
  streams: {
    patients: patientTable,
    practitioners: practitionerTable,
    offices: officeTable,
    operatories: operatoryTable,
    appointments: appointmentTable,
    'appointment-types': procedureCodeTable,
    'appointment-procedures': appointmentProcedureTable,
    procedures: procedureTable,
    charges: chargeTable,
    payments: paymentTable,
    'coverage-primary': primaryCoverageTable,
    'coverage-secondary': secondaryCoverageTable,
  },
  writeback: dentrixEnterpriseWriteback,
});

export default dentrixEnterprise;
export { dentrixEnterpriseOptionsSchema, type DentrixEnterpriseOptions } from './options.js';
export {
  APPT_STATUS,
  CHART_STATUS,
  DEF_TYPE,
  LEDGER_CLASS,
  RSC_TYPE,
  appointmentStatus,
} from './vocabularies.js';
export { EVIDENCE } from './evidence.js';
export { appointmentEnd, appointmentLocalText, appointmentStart } from './appointment-time.js';
export { dentrixEnterpriseWriteback } from './writeback.js';
