import {
  cellText,
  defineWriteback,
  modelColumns,
  optionalRef,
  ref,
  refList,
  rule,
  sqlDb,
  writebackFailure,
  writeStamp,
  type ResolvedRecord,
  type ResolvedRef,
  type WritebackContext,
  type WritebackOutcome,
  type WriteValue,
} from '@tendril/core';
import { optionsOf } from './options.js';
import { appointmentInsertDefaults, appointmentTable, appointmentWriteOnly } from './tables/appt-base.js';
import { patientInsertDefaults, patientTable, patientWriteOnly } from './tables/pat-base.js';
import { officeTable } from './tables/rsc-office.js';
import { operatoryTable } from './tables/rsc-operatory.js';
import { practitionerTable } from './tables/rsc-practitioner.js';
import { APPT_STATUS } from './vocabularies.js';

/**
 * Dentrix Enterprise writeback — a FIXTURE PATH (docs/writeback.md, "Dentrix Enterprise
 * specifics (fixture path)", which lists the assumptions marked A here): production writes go through Dentrix's
 * REST API where the practice licenses it, and no SQL writes are sanctioned. These commands write
 * by SQL to the MariaDB form of the Dentrix Enterprise 11 schema, so the flow runs on its real
 * column names, and the T-SQL of each statement is snapshot-tested; nothing has run against SQL
 * Server. Stamps (`DDB_LAST_MOD`, `CREATEDATE`, `BROKENDATE`) are the writer's clock in the office
 * zone: the `client` domain the streams read `DDB_LAST_MOD` in.
 */

const NOW = writeStamp('client', 3);
const TWO_PROVIDERS = rule.maxItems(
  'practitionerIds',
  2,
  'Dentrix Enterprise books a primary and at most one secondary provider',
);
/** Only a scheduled appointment changes: not broken (cancelled/no-show), on the wait list or complete. */
const scheduled = (what: string) => ({
  in: ['booked' as const],
  message: `only a scheduled appointment can be ${what}`,
});
const utcText = (instant: string) => instant.replace('T', ' ').replace(/(\.\d+)?Z$/, '');

/** A `…ID`/`…DB` column pair from a resolved reference (`ID:DB`), or NULLs. */
const pair = (key: readonly string[] | undefined, id: string, db: string) => ({
  [id]: key?.[0] ?? null,
  [db]: key?.[1] ?? null,
});

/** The provider columns of an appointment: primary, then secondary (hygienist). */
const providerColumns = (providers: readonly ResolvedRef[]) => ({
  ...pair(providers[0]?.key, 'PRPROVID', 'PRPROVDB'),
  ...pair(providers[1]?.key, 'SCPROVID', 'SCPROVDB'),
});

/** The office slot columns of an appointment (A: office-local date, hour, minute; length in minutes). */
function slotColumns(resolved: { slot?: { start: { date: string; time: string }; minutes: number } }) {
  const { start, minutes } = resolved.slot!;
  const [hour, minute] = start.time.split(':').map(Number) as [number, number];
  return { APPTDATE: `${start.date} 00:00:00`, TIME_HOUR: hour, TIME_MINUTE: minute, APPTLEN: minutes };
}

/** A compare-and-set UPDATE on the status read under lock: anything but one affected row is a conflict. */
async function setStatus(
  ctx: WritebackContext,
  target: ResolvedRecord,
  set: Readonly<Record<string, WriteValue | undefined>>,
): Promise<WritebackOutcome> {
  const current = target.row['STATUS'];
  const { affectedRows } = await sqlDb(ctx).update(
    'appointments',
    { ...set, LastUpdateSystem: 'Tendril' },
    {
      APPTID: target.key[0]!,
      APPTDB: target.key[1]!,
      STATUS: current === null || current === undefined ? null : Number(current),
    },
  );
  return affectedRows === 1
    ? { ok: true, sourceId: target.sourceId }
    : writebackFailure(
        'conflict',
        'the appointment changed while it was being written; read it again and retry',
      );
}

export const dentrixEnterpriseWriteback = defineWriteback({
  path: 'sql',
  verification:
    'FIXTURE PATH: direct SQL on the MariaDB form of the Dentrix Enterprise 11 schema (public column list) + T-SQL snapshots; production writes go through the Dentrix Enterprise API where licensed, which is not implemented',
  // Dentrix sanctions no SQL writes: this path runs only on fixture databases.
  sqlNeedsUnsafeOptIn: true,
  streams: {
    patients: patientTable,
    practitioners: practitionerTable,
    offices: officeTable,
    operatories: operatoryTable,
    appointments: appointmentTable,
  },
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  tables: {
    appointments: {
      stream: 'appointments',
      writeOnly: appointmentWriteOnly,
      insertDefaults: appointmentInsertDefaults,
    },
    patients: { stream: 'patients', writeOnly: patientWriteOnly, insertDefaults: patientInsertDefaults },
  },
  // The office day's appointments, read WITH (UPDLOCK, HOLDLOCK) on SQL Server (FOR UPDATE on MariaDB).
  slot: {
    stream: 'appointments',
    dayColumn: 'APPTDATE',
    gridMinutes: 1,
    sameDay: true,
    operatory: true,
    practitioner: true,
    frees: ['cancelled', 'noshow', 'waitlist'],
  },
  match: { stream: 'patients', family: 'LASTNAME', given: 'FIRSTNAME', birthDate: 'BIRTHDATE' },
  commands: {
    'Appointment.book': {
      writes: { appointments: ['INSERT'] },
      rules: [
        rule.required('end', 'APPTLEN is written from it'),
        rule.required('operatoryId', 'Dentrix Enterprise books by operatory'),
        rule.absent('appointmentTypeId', 'not available for Dentrix Enterprise in this version'),
        TWO_PROVIDERS,
      ],
      refs: { patientId: 'patients', practitionerIds: 'practitioners', operatoryId: 'operatories' },
      slot: true,
      async run(ctx, input, resolved) {
        const db = sqlDb(ctx);
        const apptDb = ref(resolved, 'patientId').key[1]!;
        const apptId = await db.nextId('appointments', 'APPTID', { APPTDB: apptDb });
        await db.insert('appointments', {
          // PATID/PATDB, OPID/OPDB and APPTREASON, as the appointments stream maps them.
          ...modelColumns(appointmentTable, input, resolved.refs),
          ...providerColumns(refList(resolved, 'practitionerIds')),
          ...slotColumns(resolved),
          APPTID: apptId,
          APPTDB: apptDb,
          CREATEDATE: NOW,
          ApptStartUTCDateTime: utcText(input.start),
          ApptEndUTCDateTime: utcText(input.end!),
        });
        return { ok: true, sourceId: `${apptId}:${apptDb}` };
      },
    },
    'Appointment.cancel': {
      writes: { appointments: ['UPDATE'] },
      target: { field: 'appointmentId', stream: 'appointments', status: scheduled('cancelled') },
      async run(ctx, input, { target }) {
        const set = { STATUS: APPT_STATUS.broken, BROKENDATE: NOW, BROKENREASON: input.reason ?? null };
        const outcome = await setStatus(ctx, target!, set);
        const status = optionsOf({ options: ctx.options }).brokenAppointmentStatus;
        return outcome.ok ? { ...outcome, asserted: { status } } : outcome;
      },
    },
    'Appointment.confirm': {
      writes: { appointments: ['UPDATE'] },
      rules: [
        rule.setting(
          'confirmStatus',
          { required: true, pattern: /0|[1-9][0-9]{0,8}/, notIn: Object.values(APPT_STATUS).map(String) },
          "set writeback.confirmStatus to the site's confirmed appointment status (a DDB_DEF_TEXT type 7 value)",
        ),
      ],
      target: { field: 'appointmentId', stream: 'appointments', status: scheduled('confirmed') },
      async run(ctx, _input, { target }) {
        const outcome = await setStatus(ctx, target!, { STATUS: Number(ctx.settings.confirmStatus) });
        return outcome.ok ? { ...outcome, asserted: { status: 'booked' } } : outcome;
      },
    },
    'Appointment.reschedule': {
      writes: { appointments: ['UPDATE'] },
      rules: [TWO_PROVIDERS],
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: scheduled('rescheduled; book a new one'),
      },
      refs: { operatoryId: 'operatories', practitionerIds: 'practitioners' },
      slot: true,
      async run(ctx, input, resolved) {
        const target = resolved.target!;
        // The operatory and providers change only when the command names new ones.
        await sqlDb(ctx).update(
          'appointments',
          {
            ...slotColumns(resolved),
            ...modelColumns(appointmentTable, { operatoryId: input.operatoryId }, resolved.refs),
            ...(input.practitionerIds ? providerColumns(refList(resolved, 'practitionerIds')) : {}),
            ApptStartUTCDateTime: utcText(input.start),
            ApptEndUTCDateTime: utcText(input.end),
            LastUpdateSystem: 'Tendril',
          },
          { APPTID: target.key[0]!, APPTDB: target.key[1]! },
        );
        return { ok: true, sourceId: target.sourceId };
      },
    },
    'Patient.create': {
      writes: { patients: ['INSERT'] },
      match: true,
      refs: { primaryPractitionerId: 'practitioners', primaryLocationId: 'offices' },
      async run(ctx, input, resolved) {
        const db = sqlDb(ctx);
        const lowest = async () =>
          (await db.select('patients', { aggregate: { fn: 'min', column: 'PATDB', as: 'PATDB' } }))[0]?.[
            'PATDB'
          ];
        const patDb = cellText(
          optionalRef(resolved, 'primaryLocationId')?.key[1] ??
            optionalRef(resolved, 'primaryPractitionerId')?.key[1] ??
            (await lowest()) ??
            '1',
        );
        const patId = await db.nextId('patients', 'PATID', { PATDB: patDb });
        const { name } = input;
        await db.insert('patients', {
          // Telecom, birth date and primary provider, as the patients stream maps them.
          ...modelColumns(patientTable, input, resolved.refs),
          LASTNAME: name.family.trim(),
          FIRSTNAME: name.given[0]!.trim(),
          MiddleName: name.given.slice(1).join(' ') || null,
          TITLE: name.prefix?.join(' ') ?? null,
          Suffix: name.suffix?.join(' ') ?? null,
          PATID: patId,
          PATDB: patDb,
          FAMILYID: patId,
          GUARID: patId,
          GUARDB: patDb,
        });
        return {
          ok: true,
          sourceId: `${patId}:${patDb}`,
          matched: false,
          asserted: { birthDate: input.birthDate },
        };
      },
    },
  },
});
