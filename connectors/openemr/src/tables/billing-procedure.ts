import { defineTable, t } from '@tendril/core';
import { BILLING_COLUMNS, BILLING_WHERE, billingCode, ENCOUNTER_JOIN } from './billing-columns.js';

/**
 * OpenEMR `billing` service lines as Procedures: a line is written when the service is coded for a
 * visit, so it was performed (`completed`) on the visit's date. `activity = 0` is a deleted line.
 */
export const billingProcedureTable = defineTable({
  resourceType: 'Procedure',
  table: 'billing',
  key: ['id'],
  columns: BILLING_COLUMNS,
  joins: [ENCOUNTER_JOIN],
  cursor: { mode: 'snapshot' },
  where: BILLING_WHERE,
  deletedWhen: { activity: 0 },
  constants: { status: 'completed' },
  fields: {
    code: billingCode,
    patientId: t.ref('Patient', 'pid'),
    encounterId: t.ref('Encounter', 'fe.id'),
    practitionerId: t.ref('Practitioner', 'provider_id'),
    locationId: t.ref('Location', 'fe.facility_id'),
    performedDate: t.col('fe.date', t.date()),
    fee: t.col('fee', t.money.dollars()),
  },
});
