import { defineTable, t } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { CHART_STATUS } from '../vocabularies.js';
import { procedureConcept } from './procedure-code.js';
import { PROC_LOG_COLUMNS, PROC_LOG_CURSOR, PROC_LOG_JOINS } from './proc-log-columns.js';

/**
 * The ledger charge of each completed procedure: the same `DDB_PROC_LOG_BASE` rows as
 * `procedures` (`CHART_STATUS` 102), `AMOUNT` in cents as the charge's total. A row without a
 * procedure code is not read (a ChargeItem needs a code): `notIn` excludes NULL. Quantity and
 * unit price are not in any public query, so they are left out.
 */
export const chargeTable = defineTable({
  resourceType: 'ChargeItem',
  table: 'DDB_PROC_LOG_BASE',
  evidence: EVIDENCE.publicQueries,
  key: ['PROC_LOGID', 'PROC_LOGDB'],
  columns: PROC_LOG_COLUMNS,
  joins: PROC_LOG_JOINS,
  cursor: PROC_LOG_CURSOR,
  where: { CHART_STATUS: CHART_STATUS.completedProcedure, 'pc.ADACODE': { notIn: [''] } },
  constants: { status: 'billable' },
  fields: {
    code: t.compute(['pc.ADACODE', 'pc.DESCRIPTION'], ([code, description], ctx) =>
      procedureConcept(code, description, ctx),
    ),
    patientId: t.ref('Patient', ['PATID', 'PATDB']),
    procedureId: t.ref('Procedure', ['PROC_LOGID', 'PROC_LOGDB']),
    practitionerId: t.ref('Practitioner', ['PROVID', 'PROVDB']),
    locationId: t.ref('Location', ['clinic.URSCID', 'clinic.RSCDB']),
    guarantorId: t.ref('Patient', ['GUARID', 'GUARDB']),
    occurrenceDate: t.col('PLDATE', t.date()),
    enteredDate: t.col('CREATEDATE', t.date()),
    totalPrice: t.col('AMOUNT', t.money.cents()),
  },
});
