import {
  cellText,
  blankColumns,
  defineWriteback,
  modelColumns,
  ref,
  refList,
  rule,
  sqlDb,
  writebackFailure,
  writeStamp,
  type Resolved,
} from '@tendril/core';
import { facilityTable } from './tables/facility.js';
import { patientDataTable, patientDataWriteOnly } from './tables/patient-data.js';
import {
  postcalendarEventsInsertDefaults as newEvent,
  postcalendarEventsTable,
  postcalendarEventsWriteOnly,
} from './tables/postcalendar-events.js';
import { usersTable } from './tables/users.js';
import { newUuid, registerUuid, uuidRegistryTable } from './uuid-registry.js';
import { APPT_STATUS } from './vocabularies.js';

/**
 * OpenEMR writeback (docs/writeback.md, "OpenEMR specifics"): SQL on its InnoDB tables in one
 * transaction, as OpenEMR's own `AppointmentService::insert` and `PatientService::insert` write:
 * a binary(16) `uuid` registered in `uuid_registry`, every NOT NULL column without a default (so a
 * strict `sql_mode` passes too). OpenEMR's sessions run in the office zone, so its DATETIME stamps
 * (`last_updated`, `date`, `regdate`, `pc_time`) are office wall time: `db-local`, as the streams
 * read them. Not yet: `patient_tracker`, OpenEMR's `log`, recurring series, `language` updates.
 */

/** `apptstat` codes read as `cancelled`: the codes cancel may write. */
const CANCEL_CODES = Object.keys(APPT_STATUS).filter((code) => APPT_STATUS[code] === 'cancelled');
const SEX_CODE = { male: 'Male', female: 'Female', other: 'UNK', unknown: 'UNK' } as const;
/** What the read side makes of the written `sex`: `other` is written UNK and read back `unknown`. */
const gender = (value: keyof typeof SEX_CODE) => (value === 'other' ? 'unknown' : value);
/** DATETIME columns OpenEMR stamps with its office-zone session clock. */
const OFFICE_NOW = writeStamp('db-local');

const ONE_PROVIDER = rule.maxItems('practitionerIds', 1, 'OpenEMR books one provider per appointment');
const NO_OPERATORY = rule.absent('operatoryId', 'OpenEMR has no operatories; leave it out');

/** Patient fields in `patient_data` columns: derived from the patients stream's declaration. */
const patientColumns = (input: Readonly<Record<string, unknown>>, refs: Resolved['refs']) =>
  modelColumns(patientDataTable, input, refs, { codes: { gender: SEX_CODE } });

export const openEmrWriteback = defineWriteback({
  path: 'sql',
  verification:
    'direct SQL on OpenEMR 8.2.0-dev sql/database.sql loaded into MariaDB 10.11 (InnoDB), as OpenEMR writes',
  streams: {
    patients: patientDataTable,
    practitioners: usersTable,
    offices: facilityTable,
    appointments: postcalendarEventsTable,
  },
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  // NOT NULL DEFAULT '' columns: "none" is the empty string, as OpenEMR writes it.
  tables: {
    appointments: {
      stream: 'appointments',
      emptyText: '',
      writeOnly: postcalendarEventsWriteOnly,
      insertDefaults: newEvent,
    },
    patients: {
      stream: 'patients',
      emptyText: '',
      nullable: ['suffix', 'street_line_2'],
      writeOnly: patientDataWriteOnly,
    },
    categories: {
      table: 'openemr_postcalendar_categories',
      columns: postcalendarEventsTable.joins![0]!.columns,
    },
    uuid_registry: uuidRegistryTable,
  },
  // The practitioner's events of the office day, read FOR UPDATE on the pc_eventDate index, so two
  // bookings of one slot serialise. Provider calendar entries (lunch, out of office) block too.
  slot: {
    stream: 'appointments',
    dayColumn: 'pc_eventDate',
    sameDay: true,
    operatory: false,
    practitioner: true,
    frees: ['cancelled'],
    excludedRowsBlock: true,
  },
  match: { stream: 'patients', family: 'lname', given: 'fname', birthDate: 'DOB' },
  commands: {
    'Appointment.book': {
      writes: { appointments: ['INSERT'], uuid_registry: ['INSERT'] },
      rules: [
        NO_OPERATORY,
        rule.absent('appointmentTypeId', 'not available for OpenEMR in this version; give end instead'),
        rule.required('locationId', 'OpenEMR books at a facility'),
        ONE_PROVIDER,
      ],
      refs: { patientId: 'patients', practitionerIds: 'practitioners', locationId: 'offices' },
      slot: true,
      async run(ctx, input, resolved) {
        const db = sqlDb(ctx);
        const slot = resolved.slot!;
        const facility = ref(resolved, 'locationId').key[0]!;
        const [category] = await db.select('categories', {
          columns: ['pc_catname'],
          where: { pc_catid: newEvent.pc_catid },
        });
        const uuid = newUuid();
        const { insertId } = await db.insert('appointments', {
          pc_aid: refList(resolved, 'practitionerIds')[0]!.key[0]!,
          pc_pid: ref(resolved, 'patientId').key[0]!,
          pc_title: cellText(category?.['pc_catname'] ?? 'Office Visit'),
          pc_time: OFFICE_NOW,
          pc_hometext: input.note,
          pc_informant: ctx.settings.informant,
          pc_eventDate: slot.start.date,
          pc_duration: slot.seconds,
          pc_startTime: slot.start.time,
          pc_endTime: slot.end.time,
          pc_facility: facility,
          pc_billing_location: facility,
          uuid,
        });
        if (!insertId) return writebackFailure('vendor_error', 'OpenEMR did not return the new pc_eid');
        await registerUuid(db, uuid, postcalendarEventsTable.table, 'pc_eid');
        return { ok: true, sourceId: insertId };
      },
    },
    'Appointment.cancel': {
      writes: { appointments: ['UPDATE'] },
      rules: [
        rule.setting(
          'cancelStatus',
          { oneOf: CANCEL_CODES },
          `writeback.cancelStatus is not a cancelled apptstat code (${CANCEL_CODES.join(', ')})`,
        ),
      ],
      target: { field: 'appointmentId', stream: 'appointments' },
      async run(ctx, _input, { target }) {
        const status = ctx.settings.cancelStatus ?? 'x';
        // One UPDATE of the row the engine locked.
        await sqlDb(ctx).update('appointments', { pc_apptstatus: status }, { pc_eid: target!.key[0]! });
        return { ok: true, sourceId: target!.sourceId, asserted: { status: 'cancelled' } };
      },
    },
    'Appointment.confirm': {
      writes: { appointments: ['UPDATE'] },
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: {
          in: ['booked'],
          message: 'only a booked appointment can be confirmed (it is cancelled, arrived or done)',
        },
      },
      async run(ctx, _input, { target }) {
        const status = ctx.settings.confirmStatus ?? 'AVM';
        await sqlDb(ctx).update('appointments', { pc_apptstatus: status }, { pc_eid: target!.key[0]! });
        return { ok: true, sourceId: target!.sourceId, asserted: { confirmed: true } };
      },
    },
    'Appointment.reschedule': {
      writes: { appointments: ['UPDATE'] },
      rules: [NO_OPERATORY, ONE_PROVIDER],
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: {
          notIn: ['cancelled'],
          message: 'a cancelled appointment cannot be rescheduled; book a new one',
        },
      },
      refs: { practitionerIds: 'practitioners' },
      slot: true,
      async run(ctx, _input, { target, slot, refs }) {
        const userId = refList({ refs }, 'practitionerIds')[0]?.key[0] ?? cellText(target!.row['pc_aid']);
        await sqlDb(ctx).update(
          'appointments',
          {
            pc_eventDate: slot!.start.date,
            pc_startTime: slot!.start.time,
            pc_endTime: slot!.end.time,
            pc_duration: slot!.seconds,
            pc_aid: userId,
          },
          { pc_eid: target!.key[0]! },
        );
        return { ok: true, sourceId: target!.sourceId };
      },
    },
    'Patient.create': {
      writes: { patients: ['INSERT'], uuid_registry: ['INSERT'] },
      match: true,
      refs: { primaryPractitionerId: 'practitioners' },
      async run(ctx, input, resolved) {
        const db = sqlDb(ctx);
        // OpenEMR allocates pid as MAX(pid) + 1 (patient_data has no auto-increment pid), under the lock.
        const pid = await db.nextId('patients', 'pid');
        const uuid = newUuid();
        await db.insert('patients', {
          ...blankColumns(patientDataTable, 'name'),
          ...patientColumns(input, resolved.refs),
          pid,
          pubpid: pid,
          uuid,
          date: OFFICE_NOW,
          regdate: OFFICE_NOW,
        });
        await registerUuid(db, uuid, patientDataTable.table, 'id');
        return {
          ok: true,
          sourceId: pid,
          matched: false,
          asserted: { birthDate: input.birthDate, gender: gender(input.gender) },
        };
      },
    },
    'Patient.update': {
      writes: { patients: ['UPDATE'] },
      rules: [rule.absent('language', 'not writable for OpenEMR in this version')],
      target: { field: 'patientId', stream: 'patients' },
      refs: { primaryPractitionerId: 'practitioners' },
      async run(ctx, input, resolved) {
        const set = patientColumns(input, resolved.refs);
        await sqlDb(ctx).update('patients', set, { pid: resolved.target!.key[0]! });
        return {
          ok: true,
          sourceId: resolved.target!.sourceId,
          asserted: {
            ...(input.gender ? { gender: gender(input.gender) } : {}),
            ...(input.birthDate ? { birthDate: input.birthDate } : {}),
            ...(input.primaryPractitionerId ? { primaryPractitionerId: input.primaryPractitionerId } : {}),
          },
        };
      },
    },
  },
});
