import { defineTable, t } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { CHART_STATUS, LEDGER_CLASS, LOOKUPS } from '../vocabularies.js';
import { PROC_LOG_COLUMNS, PROC_LOG_CURSOR, PROC_LOG_JOINS } from './proc-log-columns.js';

/**
 * Payments: ledger transactions (`CHART_STATUS` 90) of `CLASS` 1 (patient payment, A) and 3
 * (insurance payment, E) in `DDB_PROC_LOG_BASE`. `AMOUNT` in cents, with the sign Dentrix stores
 * (A: whether payments are kept negative is not public). Adjustments (`CLASS` 2) are not read.
 * The check and bank numbers are never read.
 */
export const paymentTable = defineTable({
  resourceType: 'Payment',
  table: 'DDB_PROC_LOG_BASE',
  evidence: EVIDENCE.publicQueries,
  key: ['PROC_LOGID', 'PROC_LOGDB'],
  columns: PROC_LOG_COLUMNS,
  joins: PROC_LOG_JOINS,
  cursor: PROC_LOG_CURSOR,
  where: {
    CHART_STATUS: CHART_STATUS.ledgerTransaction,
    CLASS: { in: [LEDGER_CLASS.patientPayment, LEDGER_CLASS.insurancePayment] },
  },
  constants: { status: 'active' },
  fields: {
    payerType: t.col(
      'CLASS',
      t.lookup({ [LEDGER_CLASS.patientPayment]: 'patient', [LEDGER_CLASS.insurancePayment]: 'insurance' }),
    ),
    patientId: t.ref('Patient', ['PATID', 'PATDB']),
    guarantorId: t.ref('Patient', ['GUARID', 'GUARDB']),
    practitionerId: t.ref('Practitioner', ['PROVID', 'PROVDB']),
    locationId: t.ref('Location', ['clinic.URSCID', 'clinic.RSCDB']),
    date: t.col('PLDATE', t.date()),
    enteredDate: t.col('CREATEDATE', t.date()),
    amount: t.col('AMOUNT', t.money.cents()),
    sourceType: t.col('CLASS', t.vendorCoding(LOOKUPS.ledgerClass)),
  },
});
