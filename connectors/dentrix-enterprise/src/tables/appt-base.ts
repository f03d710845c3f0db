import { cellText, defineTable, sourceIdOf, t, type ColumnDeclarations } from '@tendril/core';
import { appointmentEnd, appointmentMinutes, appointmentStart } from '../appointment-time.js';
import { optionsOf } from '../options.js';
import { APPT_STATUS, appointmentStatus, LOOKUPS } from '../vocabularies.js';
import { EVIDENCE } from '../evidence.js';
import { DDB_LAST_MOD_CURSOR } from './pat-base.js';

function providerKey(id: unknown, db: unknown): string | undefined {
  const parts = [id, db].map((v) => cellText(v).trim());
  // An ID of 0 or blank is "no provider" (docs/standard-model.md, "Conventions").
  if (parts[0] === '' || parts[0] === '0' || parts[1] === '') return undefined;
  return sourceIdOf(parts);
}

/**
 * Dentrix Enterprise `DDB_APPT_BASE`, keyed `APPTID`+`APPTDB`. The slot is office-local:
 * `APPTDATE` (date part) + `TIME_HOUR`/`TIME_MINUTE`, `APPTLEN` minutes (A). Hard deletes are
 * logged in `AUDIT_DDB_APPT_BASE` (docs/connectors/dentrix-enterprise.md, "Mapping rules and assumptions": E), which is not in the fixture, so no delete log
 * is declared: deletes are found by a `sync --full` (reconciliation) only.
 */
export const appointmentTable = defineTable({
  resourceType: 'Appointment',
  table: 'DDB_APPT_BASE',
  evidence: EVIDENCE.replica,
  key: ['APPTID', 'APPTDB'],
  columns: {
    APPTID: 'int',
    APPTDB: 'int',
    PATID: 'int',
    PATDB: 'int',
    OPID: 'int',
    OPDB: 'int',
    PRPROVID: 'int',
    PRPROVDB: 'int',
    SCPROVID: 'int',
    SCPROVDB: 'int',
    APPTDATE: 'datetime',
    TIME_HOUR: 'smallint',
    TIME_MINUTE: 'smallint',
    APPTLEN: 'int',
    APPTREASON: 'varchar(255)',
    STATUS: 'int',
    APPTTYPE: 'int',
    BROKENREASON: 'varchar(255)',
    CREATEDATE: 'datetime',
    DDB_LAST_MOD: 'datetime',
    ApptStartUTCDateTime: 'datetime',
    ApptEndUTCDateTime: 'datetime',
  },
  // A row never stamped (DDB_LAST_MOD is nullable) is read by its creation time (A: CREATEDATE is
  // filled on creation).
  cursor: { ...DDB_LAST_MOD_CURSOR, fallback: 'CREATEDATE' },
  fields: {
    status: t.compute(['STATUS'], ([status], ctx) =>
      appointmentStatus(t.int()(status, ctx) as number | undefined, optionsOf(ctx).brokenAppointmentStatus),
    ),
    sourceStatus: t.col('STATUS', t.siteCoding(LOOKUPS.apptStatus)),
    start: t.compute(['APPTDATE', 'TIME_HOUR', 'TIME_MINUTE', 'ApptStartUTCDateTime'], appointmentStart),
    end: t.compute(
      ['APPTDATE', 'TIME_HOUR', 'TIME_MINUTE', 'ApptStartUTCDateTime', 'APPTLEN', 'ApptEndUTCDateTime'],
      appointmentEnd,
    ),
    minutesDuration: t.compute(['APPTLEN'], ([length]) => appointmentMinutes(length)),
    patientId: t.ref('Patient', ['PATID', 'PATDB']),
    // Primary provider first, then the secondary (hygienist) one. Computed because a list of
    // composite-key references is not expressible with t.refs (single-column keys only), so the
    // `flat` format gets no practitioner_id for this connector yet.
    practitionerIds: t.compute(
      ['PRPROVID', 'PRPROVDB', 'SCPROVID', 'SCPROVDB'],
      ([pid, pdb, sid, sdb], ctx) => {
        const keys = [providerKey(pid, pdb), providerKey(sid, sdb)].filter(
          (k): k is string => k !== undefined,
        );
        return [...new Set(keys)].map((key) => ctx.refId('Practitioner', key));
      },
    ),
    operatoryId: t.ref('Location', ['OPID', 'OPDB']),
    appointmentType: t.col('APPTTYPE', t.siteCoding(LOOKUPS.apptType)),
    // APPTREASON is the appointment's description line in the schedule ("Crown prep #3").
    note: t.col('APPTREASON', t.str()),
    cancellationReason: t.compute(['STATUS', 'BROKENREASON'], ([status, reason], ctx) =>
      Number(status) === APPT_STATUS.broken ? t.str()(reason, ctx) : undefined,
    ),
    createdAt: t.col('CREATEDATE', t.localInstant()),
  },
});

/**
 * `DDB_APPT_BASE` columns writeback sends that polling does not read, with their T-SQL types from
 * the fixture (`schema.int.test.ts` checks them): the systems that made and last changed a row,
 * and the NOT NULL flags a new row needs (A: scheduled, not sent to the events service).
 */
export const appointmentWriteOnly = {
  BROKENDATE: 'datetime',
  EntrySystem: 'varchar(255)',
  LastUpdateSystem: 'varchar(255)',
  WasScheduled: 'smallint',
  WasEnabledForEventsStatus: 'smallint',
  EStatus: 'int',
} as const satisfies ColumnDeclarations;
export const appointmentInsertDefaults = {
  STATUS: 0,
  EntrySystem: 'Tendril',
  LastUpdateSystem: 'Tendril',
  WasScheduled: 1,
  WasEnabledForEventsStatus: 0,
  EStatus: 0,
} as const;
