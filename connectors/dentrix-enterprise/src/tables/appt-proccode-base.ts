import { defineTable, t } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { procedureCodeJoin } from './proc-code-base.js';
import { procedureConcept } from './procedure-code.js';
import { DDB_LAST_MOD_CURSOR } from './pat-base.js';

/**
 * The procedures booked on an appointment: `DDB_APPT_PROCCODE_BASE` (replica, 11.0 only), keyed
 * `APPTPROCID`+`APPTPROCDB`, one row per code attached to an appointment. Each becomes a planned
 * Procedure (`preparation`) of the appointment's patient, with sourceId `appt:<ID>:<DB>` so it never
 * collides with a ledger procedure of `DDB_PROC_LOG_BASE`. The patient comes from the appointment
 * (`DDB_APPT_BASE`, alias `a`); a row whose appointment is gone or has no patient is not read
 * (Procedure needs a patient). `PROCCODETYPE` is not interpreted (A).
 */
export const appointmentProcedureTable = defineTable({
  resourceType: 'Procedure',
  table: 'DDB_APPT_PROCCODE_BASE',
  evidence: EVIDENCE.replica,
  key: ['APPTPROCID', 'APPTPROCDB'],
  sourceIdPrefix: 'appt',
  columns: {
    APPTPROCID: 'bigint',
    APPTPROCDB: 'int',
    APPTID: 'int',
    APPTDB: 'int',
    PROCCODEID: 'int',
    PROCCODEDB: 'int',
    DDB_LAST_MOD: 'datetime',
  },
  joins: [
    {
      table: 'DDB_APPT_BASE',
      alias: 'a',
      on: { APPTID: 'APPTID', APPTDB: 'APPTDB' },
      key: ['APPTID', 'APPTDB'],
      columns: { APPTID: 'int', APPTDB: 'int', PATID: 'int', PATDB: 'int', DDB_LAST_MOD: 'datetime' },
    },
    procedureCodeJoin('PROCCODEID', 'PROCCODEDB'),
  ],
  // `notIn` also excludes NULL: rows without an appointment (or whose appointment has no patient).
  where: { 'a.PATID': { notIn: [0] } },
  // Moving an appointment to another patient restamps the appointment, not this row.
  cursor: { ...DDB_LAST_MOD_CURSOR, also: ['a.DDB_LAST_MOD'] },
  constants: { status: 'preparation' },
  fields: {
    code: t.compute(['pc.ADACODE', 'pc.DESCRIPTION'], ([code, description], ctx) =>
      procedureConcept(code, description, ctx),
    ),
    patientId: t.ref('Patient', ['a.PATID', 'a.PATDB']),
    appointmentId: t.ref('Appointment', ['APPTID', 'APPTDB']),
  },
});
