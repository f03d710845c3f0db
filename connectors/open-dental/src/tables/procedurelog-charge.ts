import { defineTable, t, type MappingContext } from '@tendril/core';
import { procedureCode } from '../procedure-code.js';
import { PROC_STATUS_CHARGED } from '../vocabularies.js';
import { PROCEDURECODE_JOIN, PROCEDURELOG_COLUMNS } from './procedure-columns.js';

/** Open Dental's quantity: "BaseUnits plus the UnitQty. Never … less than 1" (`Procedure.Quantity`). */
function quantity(unitQty: unknown, baseUnits: unknown): number {
  const units = (Number(unitQty) || 0) + (Number(baseUnits) || 0);
  return Math.max(1, units);
}

function dollars(value: number, ctx: MappingContext): unknown {
  return t.money.dollars()(value, ctx);
}

/**
 * The ledger charge of a completed procedure: the same `procedurelog` rows as `procedures`, read
 * only while `ProcStatus` is C. A procedure that leaves C (set back to treatment-planned, or
 * deleted) is simply no longer read by this stream; the snapshot comparison of reconciliation
 * (docs/sync-semantics.md, "Nightly reconciliation") then finds the charge absent and emits its delete.
 */
export const chargeTable = defineTable({
  resourceType: 'ChargeItem',
  table: 'procedurelog',
  key: ['ProcNum'],
  columns: PROCEDURELOG_COLUMNS,
  joins: [PROCEDURECODE_JOIN],
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  where: { ProcStatus: { in: PROC_STATUS_CHARGED } },
  constants: { status: 'billable' },
  fields: {
    code: t.compute(['pc.ProcCode', 'pc.Descript'], ([code, description], ctx) =>
      procedureCode(code, description, ctx),
    ),
    patientId: t.ref('Patient', 'PatNum'),
    procedureId: t.ref('Procedure', 'ProcNum'),
    practitionerId: t.ref('Practitioner', 'ProvNum'),
    locationId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }),
    occurrenceDate: t.col('ProcDate', t.date()),
    // "The date this procedure was entered or set complete."
    enteredDate: t.col('DateEntryC', t.date()),
    quantity: t.compute(['UnitQty', 'BaseUnits'], ([units, base]) => quantity(units, base)),
    unitPrice: t.col('ProcFee', t.money.dollars()),
    // Open Dental's ledger amount: ProcFee × (UnitQty + BaseUnits), at least one unit.
    totalPrice: t.compute(['ProcFee', 'UnitQty', 'BaseUnits'], ([fee, units, base], ctx) =>
      fee === null || fee === undefined || !Number.isFinite(Number(fee))
        ? undefined
        : dollars(Number(fee) * quantity(units, base), ctx),
    ),
  },
});
