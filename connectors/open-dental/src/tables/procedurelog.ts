import { defineTable, t } from '@tendril/core';
import { procedureCode } from '../procedure-code.js';
import {
  PROC_STATUS_CONDITION,
  PROC_STATUS_DELETED,
  PROC_STATUS_PERFORMED,
  PROCEDURE_STATUS,
  SURFACES,
  TREAT_AREA_SURFACE,
} from '../vocabularies.js';
import { PROCEDURECODE_JOIN, PROCEDURELOG_COLUMNS } from './procedure-columns.js';

/**
 * Open Dental `procedurelog` joined to `procedurecode`. "A procedure can NEVER be deleted. Status
 * can just be changed to deleted" (ProcStatus 6), and the procedurecode join only names the code.
 */
export const procedureTable = defineTable({
  resourceType: 'Procedure',
  table: 'procedurelog',
  key: ['ProcNum'],
  columns: PROCEDURELOG_COLUMNS,
  joins: [PROCEDURECODE_JOIN],
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  deletedWhen: { ProcStatus: PROC_STATUS_DELETED },
  // Conditions (caries, a missing tooth) are findings charted in the same table.
  excludeWhen: { ProcStatus: PROC_STATUS_CONDITION },
  fields: {
    status: t.col('ProcStatus', t.lookup(PROCEDURE_STATUS)),
    code: t.compute(['pc.ProcCode', 'pc.Descript'], ([code, description], ctx) =>
      procedureCode(code, description, ctx),
    ),
    patientId: t.ref('Patient', 'PatNum'),
    appointmentId: t.ref('Appointment', 'AptNum'),
    practitionerId: t.ref('Practitioner', 'ProvNum'),
    locationId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }),
    // ProcDate is "the date performed" only once the work is done (for a plan it may be the date
    // planned); DateComplete is the fallback for old rows without ProcDate.
    performedDate: t.compute(
      ['ProcStatus', 'ProcDate', 'DateComplete'],
      ([status, procDate, complete], ctx) =>
        (PROC_STATUS_PERFORMED as readonly number[]).includes(Number(status))
          ? (t.date()(procDate, ctx) ?? t.date()(complete, ctx))
          : undefined,
    ),
    tooth: t.col('ToothNum', t.str()),
    // Surf holds surfaces only when the code's treatment area is Surf; otherwise it is a quadrant
    // ("UL"), sextant ("2") or arch ("U", "L"), and "L" would be misread as lingual.
    surfaces: t.compute(['pc.TreatArea', 'Surf'], ([area, surf]) => {
      if (Number(area) !== TREAT_AREA_SURFACE || typeof surf !== 'string') return undefined;
      const letters = [...surf.trim().toUpperCase()].filter((c): c is (typeof SURFACES)[number] =>
        (SURFACES as readonly string[]).includes(c),
      );
      return [...new Set(letters)];
    }),
    // The fee of one unit, as entered; the ledger amount is on the charge.
    fee: t.col('ProcFee', t.money.dollars()),
  },
});
