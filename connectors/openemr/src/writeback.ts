import { randomBytes } from 'node:crypto';
import {
  defineWriteback,
  instantToLocal,
  matchText,
  phoneDigits,
  resourceId,
  type WritebackContext,
  type WritebackInput,
  type WritebackOutcome,
  type WritebackSql,
  contactColumns,
  primaryAddress,
  resolveSourceId,
  writebackFailure,
  type WritebackFailure,
} from '@tendril/core';
import { APPT_STATUS } from './vocabularies.js';

/**
 * OpenEMR writeback (writeback.md §9): direct SQL on its InnoDB tables, in one transaction, the
 * way OpenEMR's own `AppointmentService::insert` and `PatientService::insert` write — a binary(16)
 * `uuid` also registered in `uuid_registry`, `pc_time = NOW()`, `pc_eventstatus = 1`,
 * `pc_sharing = 1`, `pc_duration` in seconds, `pc_informant`. Every NOT NULL column without a
 * default is sent (`pc_multiple = 0`), so the statements also succeed under a strict `sql_mode`
 * (OpenEMR itself runs with `sql_mode = ''`; a strict server would otherwise reject the insert
 * with ERROR 1364).
 *
 * The slot check reads the practitioner's appointments of that day with `SELECT … FOR UPDATE`
 * (the `pc_eventDate` index) inside the write transaction, so two concurrent bookings of one slot
 * serialise: the second sees the first and fails with `slot_conflict`.
 *
 * Not yet: `patient_tracker` rows for check-in (check-in is not a command yet), OpenEMR's `log`
 * table, recurring series, `Patient.update` of `language`.
 */

const EVENTS = 'openemr_postcalendar_events';
/** Category 5 "Office Visit" of database.sql: OpenEMR's default `pc_catid`. */
const DEFAULT_CATEGORY = 5;
/** `pc_recurrspec` of a non-recurring event, exactly as OpenEMR serialises it. */
const NO_RECURRENCE =
  'a:5:{s:17:"event_repeat_freq";s:1:"0";s:22:"event_repeat_freq_type";s:1:"0";s:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";s:20:"event_repeat_on_freq";s:1:"0";}';
/** `apptstat` codes that free the slot (Appointment.status `cancelled`). */
const FREES_SLOT = new Set(
  Object.entries(APPT_STATUS)
    .filter(([, s]) => s === 'cancelled')
    .map(([code]) => code),
);
const SEX_CODE = { male: 'Male', female: 'Female', other: 'UNK', unknown: 'UNK' } as const;

type Failure = WritebackFailure;
const fail = writebackFailure;

function sqlOf(ctx: WritebackContext): WritebackSql {
  if (!ctx.sql) throw new Error('OpenEMR writeback runs on the sql path only');
  return ctx.sql;
}

/** A fresh binary(16) uuid, time-ordered like OpenEMR's registry (timestamp first). */
function newUuid(): Buffer {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

async function registerUuid(sql: WritebackSql, uuid: Buffer, table: string, idColumn: string): Promise<void> {
  await sql.query('INSERT INTO uuid_registry (uuid, table_name, table_id, created) VALUES (?, ?, ?, NOW())', [
    uuid,
    table,
    idColumn,
  ]);
}

const resolve = resolveSourceId;

/** Patient must exist and be alive; practitioner must be an active, authorized user; facility active. */
async function checkReferences(
  ctx: WritebackContext,
  refs: { pid?: string; userId?: string; facilityId?: string },
): Promise<Failure | undefined> {
  const sql = sqlOf(ctx);
  if (refs.pid !== undefined) {
    const [patient] = (
      await sql.query('SELECT pid, deceased_date FROM patient_data WHERE pid = ?', [refs.pid])
    ).rows;
    if (!patient)
      return fail('not_found', 'patientId: the patient no longer exists in OpenEMR', { field: 'patientId' });
    const deceased = patient['deceased_date'];
    if (typeof deceased === 'string' && deceased !== '' && !deceased.startsWith('0000')) {
      return fail('inactive', 'patientId: the patient is marked deceased', { field: 'patientId' });
    }
  }
  if (refs.userId !== undefined) {
    const [user] = (await sql.query('SELECT id, active, authorized FROM users WHERE id = ?', [refs.userId]))
      .rows;
    if (!user || Number(user['authorized']) !== 1)
      return fail('not_found', 'practitionerIds: not a practitioner in OpenEMR', {
        field: 'practitionerIds',
      });
    if (Number(user['active']) !== 1)
      return fail('inactive', 'practitionerIds: the practitioner is inactive', { field: 'practitionerIds' });
  }
  if (refs.facilityId !== undefined) {
    const [facility] = (await sql.query('SELECT id, inactive FROM facility WHERE id = ?', [refs.facilityId]))
      .rows;
    if (!facility) return fail('not_found', 'locationId: not a facility in OpenEMR', { field: 'locationId' });
    if (Number(facility['inactive']) === 1)
      return fail('inactive', 'locationId: the facility is inactive', { field: 'locationId' });
  }
  return undefined;
}

interface Slot {
  readonly date: string;
  readonly startTime: string;
  readonly endTime: string;
  readonly seconds: number;
}

function slotOf(ctx: WritebackContext, start: string, end: string): Slot | Failure {
  if (Date.parse(start) <= ctx.now().getTime())
    return fail('validation_failed', 'start must be in the future', { field: 'start' });
  const seconds = Math.round((Date.parse(end) - Date.parse(start)) / 1000);
  if (seconds <= 0) return fail('validation_failed', 'end must be after start', { field: 'end' });
  const from = instantToLocal(start, ctx.timezone);
  const to = instantToLocal(end, ctx.timezone);
  if (from.date !== to.date)
    return fail('validation_failed', 'an OpenEMR appointment must start and end on the same office day', {
      field: 'end',
    });
  return { date: from.date, startTime: from.time, endTime: to.time, seconds };
}

const seconds = (time: unknown): number => {
  const [h, m, s] = String(time ?? '')
    .split(':')
    .map(Number);
  return (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
};

/**
 * The practitioner's events of that day, locked (`FOR UPDATE`) until the transaction ends, checked
 * for overlap with [start, end). Cancelled ones and `excludeEid` (the one being moved) are ignored;
 * provider calendar entries without a patient (lunch, out of office) do block the slot.
 */
async function slotConflict(
  ctx: WritebackContext,
  userId: string,
  slot: Slot,
  excludeEid?: string,
): Promise<Failure | undefined> {
  const rows = (
    await sqlOf(ctx).query(
      `SELECT pc_eid, pc_startTime, pc_endTime, pc_duration, pc_apptstatus FROM ${EVENTS} WHERE pc_eventDate = ? AND pc_aid = ? FOR UPDATE`,
      [slot.date, userId],
    )
  ).rows;
  if (ctx.settings.providerDoubleBooking) return undefined;
  const newStart = seconds(slot.startTime);
  const newEnd = newStart + slot.seconds;
  for (const row of rows) {
    if (excludeEid !== undefined && String(row['pc_eid']) === excludeEid) continue;
    if (FREES_SLOT.has(String(row['pc_apptstatus'] ?? '').trim())) continue;
    const start = seconds(row['pc_startTime']);
    const end =
      row['pc_endTime'] && seconds(row['pc_endTime']) > start
        ? seconds(row['pc_endTime'])
        : start + Number(row['pc_duration'] ?? 0);
    if (start < newEnd && end > newStart) {
      return fail('slot_conflict', 'the practitioner already has an appointment overlapping this time', {
        field: 'start',
      });
    }
  }
  return undefined;
}

async function book(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.book'>,
): Promise<WritebackOutcome> {
  const sql = sqlOf(ctx);
  if (input.operatoryId !== undefined)
    return fail('validation_failed', 'operatoryId: OpenEMR has no operatories; leave it out', {
      field: 'operatoryId',
    });
  if (input.appointmentTypeId !== undefined) {
    return fail(
      'validation_failed',
      'appointmentTypeId: not available for OpenEMR in this version; give end instead',
      { field: 'appointmentTypeId' },
    );
  }
  if (input.locationId === undefined)
    return fail('validation_failed', 'locationId is required for OpenEMR (the facility)', {
      field: 'locationId',
    });
  if (input.practitionerIds.length !== 1)
    return fail('validation_failed', 'practitionerIds: OpenEMR books one provider per appointment', {
      field: 'practitionerIds',
    });
  const pid = await resolve(ctx, 'Patient', input.patientId, 'patientId');
  if (typeof pid !== 'string') return pid;
  const userId = await resolve(ctx, 'Practitioner', input.practitionerIds[0]!, 'practitionerIds');
  if (typeof userId !== 'string') return userId;
  const facilityId = await resolve(ctx, 'Location', input.locationId, 'locationId');
  if (typeof facilityId !== 'string') return facilityId;
  const slot = slotOf(ctx, input.start, input.end!);
  if ('ok' in slot) return slot;
  const problem =
    (await checkReferences(ctx, { pid, userId, facilityId })) ?? (await slotConflict(ctx, userId, slot));
  if (problem) return problem;
  const [category] = (
    await sql.query('SELECT pc_catname FROM openemr_postcalendar_categories WHERE pc_catid = ?', [
      DEFAULT_CATEGORY,
    ])
  ).rows;
  const uuid = newUuid();
  const inserted = await sql.query(
    `INSERT INTO ${EVENTS} (pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_time, pc_hometext, pc_informant,
       pc_eventDate, pc_duration, pc_recurrtype, pc_recurrspec, pc_recurrfreq, pc_startTime, pc_endTime, pc_alldayevent,
       pc_apptstatus, pc_prefcatid, pc_eventstatus, pc_sharing, pc_facility, pc_billing_location, pc_room, uuid)
     VALUES (?, 0, ?, ?, ?, NOW(), ?, ?, ?, ?, 0, ?, 0, ?, ?, 0, '-', 0, 1, 1, ?, ?, '', ?)`,
    [
      DEFAULT_CATEGORY,
      userId,
      pid,
      String(category?.['pc_catname'] ?? 'Office Visit'),
      input.note ?? '',
      ctx.settings.informant,
      slot.date,
      slot.seconds,
      NO_RECURRENCE,
      slot.startTime,
      slot.endTime,
      facilityId,
      facilityId,
      uuid,
    ],
  );
  if (!inserted.insertId) return fail('vendor_error', 'OpenEMR did not return the new pc_eid');
  await registerUuid(sql, uuid, EVENTS, 'pc_eid');
  return {
    ok: true,
    sourceId: inserted.insertId,
    asserted: {
      status: 'booked',
      start: input.start,
      end: input.end,
      patientId: input.patientId,
      practitionerIds: input.practitionerIds,
    },
  };
}

/** Locks one appointment row for a status or time change; not found / already cancelled are failures. */
async function lockAppointment(
  ctx: WritebackContext,
  appointmentId: string,
): Promise<{ eid: string; row: Record<string, unknown> } | Failure> {
  const eid = await resolve(ctx, 'Appointment', appointmentId, 'appointmentId');
  if (typeof eid !== 'string') return eid;
  const [row] = (
    await sqlOf(ctx).query(
      `SELECT pc_eid, pc_aid, pc_pid, pc_apptstatus, pc_eventDate FROM ${EVENTS} WHERE pc_eid = ? FOR UPDATE`,
      [eid],
    )
  ).rows;
  if (!row)
    return fail('not_found', 'appointmentId: the appointment no longer exists in OpenEMR', {
      field: 'appointmentId',
    });
  return { eid, row };
}

async function cancel(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.cancel'>,
): Promise<WritebackOutcome> {
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  const status = ctx.settings.cancelStatus ?? 'x';
  if (APPT_STATUS[status] !== 'cancelled')
    return fail('validation_failed', 'writeback.cancelStatus is not a cancelled apptstat code (x, %, !)');
  // Compare-and-set on the locked row: one UPDATE.
  await sqlOf(ctx).query(`UPDATE ${EVENTS} SET pc_apptstatus = ? WHERE pc_eid = ?`, [status, locked.eid]);
  return { ok: true, sourceId: locked.eid, asserted: { status: 'cancelled' } };
}

async function confirm(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.confirm'>,
): Promise<WritebackOutcome> {
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  const current = String(locked.row['pc_apptstatus'] ?? '-').trim();
  if (APPT_STATUS[current] !== undefined && APPT_STATUS[current] !== 'booked') {
    return fail(
      'validation_failed',
      'only a booked appointment can be confirmed (it is cancelled, arrived or done)',
      { field: 'appointmentId' },
    );
  }
  const status = ctx.settings.confirmStatus ?? 'AVM';
  await sqlOf(ctx).query(`UPDATE ${EVENTS} SET pc_apptstatus = ? WHERE pc_eid = ?`, [status, locked.eid]);
  return { ok: true, sourceId: locked.eid, asserted: { confirmed: true } };
}

async function reschedule(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.reschedule'>,
): Promise<WritebackOutcome> {
  if (input.operatoryId !== undefined)
    return fail('validation_failed', 'operatoryId: OpenEMR has no operatories; leave it out', {
      field: 'operatoryId',
    });
  if (input.practitionerIds && input.practitionerIds.length !== 1) {
    return fail('validation_failed', 'practitionerIds: OpenEMR books one provider per appointment', {
      field: 'practitionerIds',
    });
  }
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  if (FREES_SLOT.has(String(locked.row['pc_apptstatus'] ?? '').trim())) {
    return fail('validation_failed', 'a cancelled appointment cannot be rescheduled; book a new one', {
      field: 'appointmentId',
    });
  }
  let userId = String(locked.row['pc_aid'] ?? '');
  if (input.practitionerIds) {
    const resolved = await resolve(ctx, 'Practitioner', input.practitionerIds[0]!, 'practitionerIds');
    if (typeof resolved !== 'string') return resolved;
    userId = resolved;
    const problem = await checkReferences(ctx, { userId });
    if (problem) return problem;
  }
  const slot = slotOf(ctx, input.start, input.end);
  if ('ok' in slot) return slot;
  const conflict = await slotConflict(ctx, userId, slot, locked.eid);
  if (conflict) return conflict;
  await sqlOf(ctx).query(
    `UPDATE ${EVENTS} SET pc_eventDate = ?, pc_startTime = ?, pc_endTime = ?, pc_duration = ?, pc_aid = ? WHERE pc_eid = ?`,
    [slot.date, slot.startTime, slot.endTime, slot.seconds, userId, locked.eid],
  );
  return {
    ok: true,
    sourceId: locked.eid,
    asserted: {
      start: input.start,
      end: input.end,
      ...(input.practitionerIds ? { practitionerIds: input.practitionerIds } : {}),
    },
  };
}

/** OpenEMR's four contact columns (mobile, home, work phone; e-mail). */
const CONTACT_COLUMNS = {
  email: 'email',
  home: 'phone_home',
  work: 'phone_biz',
  mobile: 'phone_cell',
} as const;

function addressColumns(
  addresses: WritebackInput<'Patient.create'>['addresses'],
): Record<string, string | null> {
  const home = primaryAddress(addresses);
  if (!home) return {};
  return {
    // NOT NULL DEFAULT '' in patient_data: "none" is the empty string, as OpenEMR writes it.
    street: home.line[0] ?? '',
    street_line_2: home.line[1] ?? null,
    city: home.city ?? '',
    state: home.state ?? '',
    postal_code: home.postalCode ?? '',
    country_code: home.country ?? '',
  };
}

async function createPatient(
  ctx: WritebackContext,
  input: WritebackInput<'Patient.create'>,
): Promise<WritebackOutcome> {
  const sql = sqlOf(ctx);
  // Match before create (writeback.md §2): family + first given + birth date, and a phone or e-mail.
  const family = matchText(input.name.family);
  const given = matchText(input.name.given[0]);
  const candidates = (
    await sql.query(
      'SELECT pid, fname, lname, phone_home, phone_cell, phone_biz, email FROM patient_data WHERE lname = ? AND fname = ? AND DOB = ? FOR UPDATE',
      [input.name.family.trim(), input.name.given[0]!.trim(), input.birthDate],
    )
  ).rows.filter((row) => matchText(row['lname']) === family && matchText(row['fname']) === given);
  const phones = new Set(
    input.telecom
      .filter((c) => c.system !== 'email')
      .map((c) => phoneDigits(c.value))
      .filter((d) => d.length >= 7),
  );
  const emails = new Set(input.telecom.filter((c) => c.system === 'email').map((c) => matchText(c.value)));
  const matches = candidates.filter(
    (row) =>
      ['phone_home', 'phone_cell', 'phone_biz'].some((c) => phones.has(phoneDigits(row[c]))) ||
      (row['email'] !== null && emails.has(matchText(row['email']))),
  );
  if (matches.length > 1) {
    return fail(
      'patient_match_ambiguous',
      'more than one patient matches name, birth date and phone or e-mail',
      {
        candidateIds: matches.map((m) => resourceId(ctx.connectionId, 'Patient', String(m['pid']))),
      },
    );
  }
  if (matches.length === 1) {
    if (input.matchPolicy === 'fail-if-exists')
      return fail('patient_exists', 'a patient with this name, birth date and phone or e-mail exists');
    return { ok: true, sourceId: String(matches[0]!['pid']), matched: true };
  }
  let providerId: string | null = null;
  if (input.primaryPractitionerId !== undefined) {
    const resolved = await resolve(ctx, 'Practitioner', input.primaryPractitionerId, 'primaryPractitionerId');
    if (typeof resolved !== 'string') return resolved;
    const problem = await checkReferences(ctx, { userId: resolved });
    if (problem) return problem;
    providerId = resolved;
  }
  // OpenEMR allocates pid as MAX(pid) + 1 (patient_data has no auto-increment pid); the lock keeps two writers apart.
  const [next] = (await sql.query('SELECT COALESCE(MAX(pid), 0) + 1 AS pid FROM patient_data FOR UPDATE'))
    .rows;
  const pid = String(next?.['pid'] ?? '1');
  const uuid = newUuid();
  const columns: Record<string, unknown> = {
    pid,
    pubpid: pid,
    uuid,
    fname: input.name.given[0]!.trim(),
    mname: input.name.given.slice(1).join(' '),
    lname: input.name.family.trim(),
    title: input.name.prefix?.join(' ') ?? '',
    suffix: input.name.suffix?.join(' ') ?? null,
    DOB: input.birthDate,
    sex: SEX_CODE[input.gender],
    providerID: providerId,
    ...contactColumns(input.telecom, CONTACT_COLUMNS),
    ...addressColumns(input.addresses),
  };
  const names = Object.keys(columns);
  await sql.query(
    `INSERT INTO patient_data (${names.join(', ')}, date, regdate) VALUES (${names.map(() => '?').join(', ')}, NOW(), NOW())`,
    names.map((n) => columns[n]),
  );
  await registerUuid(sql, uuid, 'patient_data', 'id');
  return {
    ok: true,
    sourceId: pid,
    matched: false,
    asserted: { birthDate: input.birthDate, gender: input.gender === 'other' ? 'unknown' : input.gender },
  };
}

async function updatePatient(
  ctx: WritebackContext,
  input: WritebackInput<'Patient.update'>,
): Promise<WritebackOutcome> {
  const sql = sqlOf(ctx);
  if (input.language !== undefined)
    return fail('validation_failed', 'language: not writable for OpenEMR in this version', {
      field: 'language',
    });
  const pid = await resolve(ctx, 'Patient', input.patientId, 'patientId');
  if (typeof pid !== 'string') return pid;
  const [row] = (await sql.query('SELECT pid FROM patient_data WHERE pid = ? FOR UPDATE', [pid])).rows;
  if (!row)
    return fail('not_found', 'patientId: the patient no longer exists in OpenEMR', { field: 'patientId' });
  const set: Record<string, unknown> = {};
  const asserted: Record<string, unknown> = {};
  if (input.name) {
    Object.assign(set, {
      fname: input.name.given[0]!.trim(),
      mname: input.name.given.slice(1).join(' '),
      lname: input.name.family.trim(),
      ...(input.name.prefix ? { title: input.name.prefix.join(' ') } : {}),
      ...(input.name.suffix ? { suffix: input.name.suffix.join(' ') } : {}),
    });
  }
  if (input.preferredName !== undefined) set['preferred_name'] = input.preferredName;
  if (input.telecom)
    Object.assign(set, {
      phone_cell: '',
      phone_home: '',
      phone_biz: '',
      email: '',
      ...contactColumns(input.telecom, CONTACT_COLUMNS),
    });
  if (input.addresses) {
    Object.assign(set, {
      street: '',
      street_line_2: null,
      city: '',
      state: '',
      postal_code: '',
      country_code: '',
      ...addressColumns(input.addresses),
    });
  }
  if (input.gender) {
    set['sex'] = SEX_CODE[input.gender];
    asserted['gender'] = input.gender === 'other' ? 'unknown' : input.gender;
  }
  if (input.birthDate) {
    set['DOB'] = input.birthDate;
    asserted['birthDate'] = input.birthDate;
  }
  if (input.primaryPractitionerId !== undefined) {
    if (input.primaryPractitionerId === null) set['providerID'] = null;
    else {
      const resolved = await resolve(
        ctx,
        'Practitioner',
        input.primaryPractitionerId,
        'primaryPractitionerId',
      );
      if (typeof resolved !== 'string') return resolved;
      const problem = await checkReferences(ctx, { userId: resolved });
      if (problem) return problem;
      set['providerID'] = resolved;
      asserted['primaryPractitionerId'] = input.primaryPractitionerId;
    }
  }
  const names = Object.keys(set);
  await sql.query(`UPDATE patient_data SET ${names.map((n) => `${n} = ?`).join(', ')} WHERE pid = ?`, [
    ...names.map((n) => set[n]),
    pid,
  ]);
  return { ok: true, sourceId: pid, asserted };
}

export const openEmrWriteback = defineWriteback({
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  verification:
    'direct SQL on OpenEMR 8.2.0-dev sql/database.sql loaded into MariaDB 10.11 (InnoDB), as OpenEMR writes',
  commands: {
    'Appointment.book': {
      paths: { sql: book },
      tables: { [EVENTS]: ['INSERT'], uuid_registry: ['INSERT'] },
    },
    'Appointment.cancel': { paths: { sql: cancel }, tables: { [EVENTS]: ['UPDATE'] } },
    'Appointment.confirm': { paths: { sql: confirm }, tables: { [EVENTS]: ['UPDATE'] } },
    'Appointment.reschedule': { paths: { sql: reschedule }, tables: { [EVENTS]: ['UPDATE'] } },
    'Patient.create': {
      paths: { sql: createPatient },
      tables: { patient_data: ['INSERT'], uuid_registry: ['INSERT'] },
    },
    'Patient.update': { paths: { sql: updatePatient }, tables: { patient_data: ['UPDATE'] } },
  },
});
