import { defineTable, t } from '@tendril/core';
import { BILLING_COLUMNS, BILLING_WHERE, billingCode, ENCOUNTER_JOIN } from './billing-columns.js';

/**
 * OpenEMR `billing` service lines as ChargeItems. `fee` is the line total (OpenEMR stores price ×
 * units), `billed = 1` once the claim went out. `activity = 0` is a deleted line.
 */
export const billingChargeTable = defineTable({
  resourceType: 'ChargeItem',
  table: 'billing',
  key: ['id'],
  columns: BILLING_COLUMNS,
  joins: [ENCOUNTER_JOIN],
  cursor: { mode: 'snapshot' },
  where: BILLING_WHERE,
  deletedWhen: { activity: 0 },
  fields: {
    status: t.col('billed', t.bool(), t.lookup({ true: 'billed', false: 'billable' })),
    code: billingCode,
    patientId: t.ref('Patient', 'pid'),
    encounterId: t.ref('Encounter', 'fe.id'),
    procedureId: t.ref('Procedure', 'id'),
    practitionerId: t.ref('Practitioner', 'provider_id'),
    locationId: t.ref('Location', 'fe.facility_id'),
    occurrenceDate: t.col('fe.date', t.date()),
    enteredDate: t.col('date', t.date()),
    quantity: t.col('units', t.int()),
    totalPrice: t.col('fee', t.money.dollars()),
    unitPrice: t.compute(['fee', 'units'], ([fee, units], ctx) => {
      const total = Number(fee);
      const count = Number(units);
      if (
        fee === null ||
        fee === undefined ||
        !Number.isFinite(total) ||
        !Number.isInteger(count) ||
        count < 1
      )
        return undefined;
      return t.money.dollars()(total / count, ctx);
    }),
  },
});
