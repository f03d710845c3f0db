import {
  defineWriteback,
  instantToLocal,
  matchText,
  phoneDigits,
  resourceId,
  sourceIdComponents,
  type WritebackContext,
  type WritebackInput,
  type WritebackOutcome,
  type WritebackSql,
  resolveSourceId,
  writebackFailure,
  type WritebackFailure,
} from '@tendril/core';
import { optionsOf } from './options.js';
import { APPT_STATUS, RSC_TYPE } from './vocabularies.js';
import { dentrixStatements, writeDialect, type Statement } from './writeback-statements.js';

/**
 * Dentrix Enterprise writeback — a FIXTURE PATH. writeback.md §9: production writes to Dentrix
 * Enterprise go through its REST API where the practice licenses it, and no SQL writes are
 * sanctioned. These handlers write by SQL to the MariaDB form of the Dentrix Enterprise 11 schema
 * (the public column list in `fixtures/dentrix-enterprise`) so the writeback flow can be shown on
 * its real column names, and the T-SQL each statement compiles to is snapshot-tested; nothing here
 * has run against SQL Server or a Dentrix office. The `sql` path is therefore behind
 * `allowUnsafeSqlWrites` (fixture databases only), like Open Dental's.
 *
 * Assumptions (A, to confirm on a live database before anything relies on them):
 * - IDs: the fixture has no identity columns, so `APPTID`/`PATID` are `MAX + 1` within their `…DB`
 *   under the same lock as the slot check; Dentrix allocates them its own way.
 * - `APPTDB` is the patient's `PATDB`; a new patient's `PATDB` is the office's / provider's `RSCDB`,
 *   else the lowest `PATDB` in use (single-database sites).
 * - A new appointment's `STATUS` is 0 (a scheduled, unconfirmed appointment; site statuses are
 *   `DDB_DEF_TEXT` rows); confirm writes `writeback.confirmStatus` (the site's confirmed code),
 *   cancel writes 100 (Broken, E) with `BROKENDATE` and `BROKENREASON`.
 * - `APPTLEN` is minutes; `APPTDATE` holds the office date at midnight with the time in
 *   `TIME_HOUR`/`TIME_MINUTE` (as the read mapping assumes); the UTC columns are filled too.
 * - Patient gender is not written (`GENDER` code values are not public).
 */

type Failure = WritebackFailure;
const fail = writebackFailure;

/** Statuses that free the slot: Broken and Wait (E). */
const FREES_SLOT = new Set<number>([APPT_STATUS.broken, APPT_STATUS.wait]);
/** A new appointment's STATUS (A). */
const NEW_APPOINTMENT_STATUS = 0;

function sqlOf(ctx: WritebackContext): { sql: WritebackSql; st: ReturnType<typeof dentrixStatements> } {
  if (!ctx.sql) throw new Error('Dentrix Enterprise writeback runs on the sql path only');
  return { sql: ctx.sql, st: dentrixStatements(writeDialect(ctx.sql.dialect)) };
}
const run = (sql: WritebackSql, statement: Statement) => sql.query(statement.sql, statement.bindings);

/** `ID:DB` → [ID, DB]. */
function pair(sourceId: string): [string, string] | undefined {
  const parts = sourceIdComponents(sourceId);
  return parts.length === 2 ? [parts[0]!, parts[1]!] : undefined;
}

async function resolvePair(
  ctx: WritebackContext,
  type: 'Patient' | 'Practitioner' | 'Location' | 'Appointment',
  id: string,
  field: string,
): Promise<[string, string] | Failure> {
  const sourceId = await resolveSourceId(ctx, type, id, field);
  return typeof sourceId === 'string'
    ? (pair(sourceId) ??
        fail('not_found', `${field} is not a known ${type} of this connection (not yet polled, or deleted)`, {
          field,
        }))
    : sourceId;
}

/** A DDB_RSC_BASE row of the expected type that is not flagged inactive. */
async function checkResource(
  ctx: WritebackContext,
  key: [string, string],
  type: number,
  field: string,
  what: string,
): Promise<Failure | undefined> {
  const { sql, st } = sqlOf(ctx);
  const [row] = (await run(sql, st.resource(...key))).rows;
  if (!row || Number(row['RSCTYPE']) !== type)
    return fail('not_found', `${field}: not ${what} in Dentrix Enterprise`, { field });
  if (String(row['ActiveFlag'] ?? '').trim() === '0')
    return fail('inactive', `${field}: the ${what} is inactive`, { field });
  return undefined;
}

async function checkPatient(ctx: WritebackContext, key: [string, string]): Promise<Failure | undefined> {
  const { sql, st } = sqlOf(ctx);
  const [row] = (await run(sql, st.patient(...key))).rows;
  if (!row)
    return fail('not_found', 'patientId: the patient no longer exists in Dentrix Enterprise', {
      field: 'patientId',
    });
  if (
    row['PatientDeathDate'] !== null &&
    row['PatientDeathDate'] !== undefined &&
    !String(row['PatientDeathDate']).startsWith('1753')
  ) {
    return fail('inactive', 'patientId: the patient is marked deceased', { field: 'patientId' });
  }
  return undefined;
}

/** Office wall time `YYYY-MM-DD HH:MM:SS.mmm` (Dentrix's datetime columns are office local). */
function wallNow(ctx: WritebackContext): string {
  const now = ctx.now();
  const local = instantToLocal(now.toISOString().replace(/\.\d{3}Z$/, 'Z'), ctx.timezone);
  return `${local.date} ${local.time}.${String(now.getUTCMilliseconds()).padStart(3, '0')}`;
}
const utcText = (instant: string) => instant.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
const nextDay = (date: string) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

interface Slot {
  readonly date: string;
  readonly hour: number;
  readonly minute: number;
  readonly length: number;
  readonly utcStart: string;
  readonly utcEnd: string;
}

function slotOf(ctx: WritebackContext, start: string, end: string): Slot | Failure {
  if (Date.parse(start) <= ctx.now().getTime())
    return fail('validation_failed', 'start must be in the future', { field: 'start' });
  const minutes = (Date.parse(end) - Date.parse(start)) / 60_000;
  if (!Number.isInteger(minutes) || minutes <= 0)
    return fail('validation_failed', 'the length must be a whole number of minutes', { field: 'end' });
  const from = instantToLocal(start, ctx.timezone);
  const to = instantToLocal(end, ctx.timezone);
  if (from.date !== to.date)
    return fail('validation_failed', 'an appointment must start and end on the same office day', {
      field: 'end',
    });
  if (!from.time.endsWith(':00'))
    return fail('validation_failed', 'start must be on a whole minute', { field: 'start' });
  const [h, m] = from.time.split(':').map(Number) as [number, number];
  return {
    date: from.date,
    hour: h,
    minute: m,
    length: minutes,
    utcStart: utcText(start),
    utcEnd: utcText(end),
  };
}

/** Overlap with the day's (locked) appointments: same operatory always, same provider unless double booking is allowed. */
async function slotConflict(
  ctx: WritebackContext,
  slot: Slot,
  op: [string, string],
  providers: readonly [string, string][],
  exclude?: [string, string],
): Promise<Failure | undefined> {
  const { sql, st } = sqlOf(ctx);
  const rows = (await run(sql, st.dayAppointments(`${slot.date} 00:00:00`, `${nextDay(slot.date)} 00:00:00`)))
    .rows;
  const start = slot.hour * 60 + slot.minute;
  const end = start + slot.length;
  const same = (a: unknown, b: unknown, key: readonly [string, string]) =>
    String(a) === key[0] && String(b) === key[1];
  for (const row of rows) {
    if (exclude && same(row['APPTID'], row['APPTDB'], exclude)) continue;
    if (FREES_SLOT.has(Number(row['STATUS']))) continue;
    const otherStart = Number(row['TIME_HOUR']) * 60 + Number(row['TIME_MINUTE']);
    const otherEnd = otherStart + Number(row['APPTLEN'] ?? 0);
    if (!(otherStart < end && otherEnd > start)) continue;
    if (same(row['OPID'], row['OPDB'], op))
      return fail('slot_conflict', 'the operatory already has an appointment overlapping this time', {
        field: 'start',
      });
    const theirs = [
      [row['PRPROVID'], row['PRPROVDB']],
      [row['SCPROVID'], row['SCPROVDB']],
    ];
    if (
      !ctx.settings.providerDoubleBooking &&
      providers.some((p) => theirs.some(([i, d]) => same(i, d, p)))
    ) {
      return fail('slot_conflict', 'the practitioner already has an appointment overlapping this time', {
        field: 'start',
      });
    }
  }
  return undefined;
}

async function resolveProviders(
  ctx: WritebackContext,
  ids: readonly string[],
): Promise<[string, string][] | Failure> {
  if (ids.length > 2)
    return fail(
      'validation_failed',
      'practitionerIds: Dentrix Enterprise books a primary and at most one secondary provider',
      { field: 'practitionerIds' },
    );
  const keys: [string, string][] = [];
  for (const id of ids) {
    const key = await resolvePair(ctx, 'Practitioner', id, 'practitionerIds');
    if (!Array.isArray(key)) return key;
    const problem = await checkResource(ctx, key, RSC_TYPE.provider, 'practitionerIds', 'a provider');
    if (problem) return problem;
    keys.push(key);
  }
  return keys;
}

async function resolveOperatory(ctx: WritebackContext, id: string): Promise<[string, string] | Failure> {
  const key = await resolvePair(ctx, 'Location', id, 'operatoryId');
  if (!Array.isArray(key)) return key;
  const problem = await checkResource(ctx, key, RSC_TYPE.operatory, 'operatoryId', 'an operatory');
  return problem ?? key;
}

async function book(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.book'>,
): Promise<WritebackOutcome> {
  const { sql, st } = sqlOf(ctx);
  if (input.end === undefined)
    return fail('validation_failed', 'end is required for Dentrix Enterprise (APPTLEN is written from it)', {
      field: 'end',
    });
  if (input.operatoryId === undefined)
    return fail('validation_failed', 'operatoryId is required: Dentrix Enterprise books by operatory', {
      field: 'operatoryId',
    });
  if (input.appointmentTypeId !== undefined)
    return fail(
      'validation_failed',
      'appointmentTypeId: not available for Dentrix Enterprise in this version',
      { field: 'appointmentTypeId' },
    );
  const patient = await resolvePair(ctx, 'Patient', input.patientId, 'patientId');
  if (!Array.isArray(patient)) return patient;
  const providers = await resolveProviders(ctx, input.practitionerIds);
  if (!Array.isArray(providers)) return providers;
  const op = await resolveOperatory(ctx, input.operatoryId);
  if (!Array.isArray(op)) return op;
  const slot = slotOf(ctx, input.start, input.end);
  if ('ok' in slot) return slot;
  const problem = (await checkPatient(ctx, patient)) ?? (await slotConflict(ctx, slot, op, providers));
  if (problem) return problem;
  const apptDb = patient[1];
  const [next] = (await run(sql, st.nextAppointmentId(apptDb))).rows;
  const apptId = String(next?.['NEXTID'] ?? '1');
  const now = wallNow(ctx);
  await run(
    sql,
    st.insertAppointment({
      APPTID: apptId,
      APPTDB: apptDb,
      PATID: patient[0],
      PATDB: patient[1],
      OPID: op[0],
      OPDB: op[1],
      PRPROVID: providers[0]![0],
      PRPROVDB: providers[0]![1],
      SCPROVID: providers[1]?.[0] ?? null,
      SCPROVDB: providers[1]?.[1] ?? null,
      APPTDATE: `${slot.date} 00:00:00`,
      TIME_HOUR: slot.hour,
      TIME_MINUTE: slot.minute,
      APPTLEN: slot.length,
      APPTREASON: input.note ?? null,
      STATUS: NEW_APPOINTMENT_STATUS,
      CREATEDATE: now,
      DDB_LAST_MOD: now,
      ApptStartUTCDateTime: slot.utcStart,
      ApptEndUTCDateTime: slot.utcEnd,
      EntrySystem: 'Tendril',
      LastUpdateSystem: 'Tendril',
      WasScheduled: 1,
      WasEnabledForEventsStatus: 0,
      EStatus: 0,
    }),
  );
  return {
    ok: true,
    sourceId: `${apptId}:${apptDb}`,
    asserted: {
      status: 'booked',
      start: input.start,
      end: input.end,
      patientId: input.patientId,
      practitionerIds: input.practitionerIds,
      operatoryId: input.operatoryId,
    },
  };
}

async function lockAppointment(
  ctx: WritebackContext,
  appointmentId: string,
): Promise<{ key: [string, string]; row: Record<string, unknown> } | Failure> {
  const { sql, st } = sqlOf(ctx);
  const key = await resolvePair(ctx, 'Appointment', appointmentId, 'appointmentId');
  if (!Array.isArray(key)) return key;
  const [row] = (await run(sql, st.lockAppointment(...key))).rows;
  if (!row)
    return fail('not_found', 'appointmentId: the appointment no longer exists in Dentrix Enterprise', {
      field: 'appointmentId',
    });
  return { key, row };
}

const statusOf = (row: Record<string, unknown>): number | null =>
  row['STATUS'] === null || row['STATUS'] === undefined ? null : Number(row['STATUS']);

/** One compare-and-set UPDATE: anything but one affected row means the row changed under us. */
async function casUpdate(ctx: WritebackContext, statement: Statement): Promise<Failure | undefined> {
  const result = await run(sqlOf(ctx).sql, statement);
  return result.affectedRows === 1
    ? undefined
    : fail('conflict', 'the appointment changed while it was being written; read it again and retry');
}

async function cancel(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.cancel'>,
): Promise<WritebackOutcome> {
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  const current = statusOf(locked.row);
  if (current !== null && (FREES_SLOT.has(current) || current === APPT_STATUS.complete)) {
    return fail(
      'validation_failed',
      'only a scheduled appointment can be cancelled (it is broken, on the wait list or complete)',
      { field: 'appointmentId' },
    );
  }
  const now = wallNow(ctx);
  const problem = await casUpdate(
    ctx,
    sqlOf(ctx).st.breakAppointment(
      ...locked.key,
      current,
      APPT_STATUS.broken,
      now,
      input.reason ?? null,
      now,
    ),
  );
  if (problem) return problem;
  return {
    ok: true,
    sourceId: locked.key.join(':'),
    asserted: { status: optionsOf({ options: ctx.options }).brokenAppointmentStatus },
  };
}

async function confirm(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.confirm'>,
): Promise<WritebackOutcome> {
  const code = ctx.settings.confirmStatus;
  if (
    code === undefined ||
    !/^[0-9]{1,9}$/.test(code) ||
    [APPT_STATUS.broken, APPT_STATUS.wait, APPT_STATUS.complete].includes(Number(code) as 100)
  ) {
    return fail(
      'validation_failed',
      "set writeback.confirmStatus to the site's confirmed appointment status (a DDB_DEF_TEXT type 7 value)",
    );
  }
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  const current = statusOf(locked.row);
  if (current !== null && (FREES_SLOT.has(current) || current === APPT_STATUS.complete)) {
    return fail('validation_failed', 'only a scheduled appointment can be confirmed', {
      field: 'appointmentId',
    });
  }
  const problem = await casUpdate(
    ctx,
    sqlOf(ctx).st.setAppointmentStatus(...locked.key, current, Number(code), wallNow(ctx)),
  );
  if (problem) return problem;
  return { ok: true, sourceId: locked.key.join(':'), asserted: { status: 'booked' } };
}

async function reschedule(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.reschedule'>,
): Promise<WritebackOutcome> {
  const locked = await lockAppointment(ctx, input.appointmentId);
  if ('ok' in locked) return locked;
  const current = statusOf(locked.row);
  if (current !== null && (FREES_SLOT.has(current) || current === APPT_STATUS.complete)) {
    return fail('validation_failed', 'only a scheduled appointment can be rescheduled; book a new one', {
      field: 'appointmentId',
    });
  }
  let op: [string, string] = [String(locked.row['OPID']), String(locked.row['OPDB'])];
  if (input.operatoryId !== undefined) {
    const resolved = await resolveOperatory(ctx, input.operatoryId);
    if (!Array.isArray(resolved)) return resolved;
    op = resolved;
  }
  const present = (id: unknown, db: unknown): [string, string] | undefined =>
    id === null || id === undefined || Number(id) === 0 ? undefined : [String(id), String(db)];
  let providers = [
    present(locked.row['PRPROVID'], locked.row['PRPROVDB']),
    present(locked.row['SCPROVID'], locked.row['SCPROVDB']),
  ].filter((p): p is [string, string] => p !== undefined);
  if (input.practitionerIds) {
    const resolved = await resolveProviders(ctx, input.practitionerIds);
    if (!Array.isArray(resolved)) return resolved;
    providers = resolved;
  }
  const slot = slotOf(ctx, input.start, input.end);
  if ('ok' in slot) return slot;
  const conflict = await slotConflict(ctx, slot, op, providers, locked.key);
  if (conflict) return conflict;
  await run(
    sqlOf(ctx).sql,
    sqlOf(ctx).st.moveAppointment(
      ...locked.key,
      {
        apptDate: `${slot.date} 00:00:00`,
        hour: slot.hour,
        minute: slot.minute,
        length: slot.length,
        utcStart: slot.utcStart,
        utcEnd: slot.utcEnd,
      },
      { id: op[0], db: op[1] },
      {
        prId: providers[0]?.[0] ?? '0',
        prDb: providers[0]?.[1] ?? '0',
        scId: providers[1]?.[0] ?? null,
        scDb: providers[1]?.[1] ?? null,
      },
      wallNow(ctx),
    ),
  );
  return {
    ok: true,
    sourceId: locked.key.join(':'),
    asserted: {
      start: input.start,
      end: input.end,
      ...(input.operatoryId ? { operatoryId: input.operatoryId } : {}),
      ...(input.practitionerIds ? { practitionerIds: input.practitionerIds } : {}),
    },
  };
}

async function createPatient(
  ctx: WritebackContext,
  input: WritebackInput<'Patient.create'>,
): Promise<WritebackOutcome> {
  const { sql, st } = sqlOf(ctx);
  const family = input.name.family.trim();
  const given = input.name.given[0]!.trim();
  const candidates = (
    await run(
      sql,
      st.patientCandidates(
        family,
        given,
        `${input.birthDate} 00:00:00`,
        `${nextDay(input.birthDate)} 00:00:00`,
      ),
    )
  ).rows.filter(
    (row) =>
      matchText(row['LASTNAME']) === matchText(family) && matchText(row['FIRSTNAME']) === matchText(given),
  );
  const phones = new Set(
    input.telecom
      .filter((c) => c.system !== 'email')
      .map((c) => phoneDigits(c.value))
      .filter((d) => d.length >= 7),
  );
  const emails = new Set(input.telecom.filter((c) => c.system === 'email').map((c) => matchText(c.value)));
  const matches = candidates.filter(
    (row) =>
      ['HOMEPHONE', 'WKPHONE', 'OTHERPHONE'].some((c) => phones.has(phoneDigits(row[c]))) ||
      (row['EMAILADDRESS'] !== null && emails.has(matchText(row['EMAILADDRESS']))),
  );
  const keyOf = (row: Record<string, unknown>) => `${String(row['PATID'])}:${String(row['PATDB'])}`;
  if (matches.length > 1) {
    return fail(
      'patient_match_ambiguous',
      'more than one patient matches name, birth date and phone or e-mail',
      {
        candidateIds: matches.map((m) => resourceId(ctx.connectionId, 'Patient', keyOf(m))),
      },
    );
  }
  if (matches.length === 1) {
    if (input.matchPolicy === 'fail-if-exists')
      return fail('patient_exists', 'a patient with this name, birth date and phone or e-mail exists');
    return { ok: true, sourceId: keyOf(matches[0]!), matched: true };
  }
  let provider: [string, string] | undefined;
  if (input.primaryPractitionerId !== undefined) {
    const resolved = await resolveProviders(ctx, [input.primaryPractitionerId]);
    if (!Array.isArray(resolved)) return { ...resolved, details: { field: 'primaryPractitionerId' } };
    provider = resolved[0];
  }
  let patDb: string | undefined;
  if (input.primaryLocationId !== undefined) {
    const office = await resolvePair(ctx, 'Location', input.primaryLocationId, 'primaryLocationId');
    if (!Array.isArray(office)) return office;
    const problem = await checkResource(ctx, office, RSC_TYPE.clinic, 'primaryLocationId', 'a clinic');
    if (problem) return problem;
    patDb = office[1];
  }
  patDb ??= provider?.[1] ?? String((await run(sql, st.defaultPatientDb())).rows[0]?.['PATDB'] ?? '1');
  const [next] = (await run(sql, st.nextPatientId(patDb))).rows;
  const patId = String(next?.['NEXTID'] ?? '1');
  const phone = (use: 'home' | 'work' | 'other') =>
    input.telecom.find(
      (c) =>
        c.system !== 'email' && (use === 'other' ? c.use === undefined || c.use === 'mobile' : c.use === use),
    )?.value ?? null;
  await run(
    sql,
    st.insertPatient({
      PATID: patId,
      PATDB: patDb,
      FAMILYID: patId,
      GUARID: patId,
      GUARDB: patDb,
      PRPROVID: provider?.[0] ?? null,
      PRPROVDB: provider?.[1] ?? null,
      LASTNAME: family,
      FIRSTNAME: given,
      MiddleName: input.name.given.slice(1).join(' ') || null,
      TITLE: input.name.prefix?.join(' ') ?? null,
      Suffix: input.name.suffix?.join(' ') ?? null,
      BIRTHDATE: `${input.birthDate} 00:00:00`,
      HOMEPHONE: phone('home'),
      WKPHONE: phone('work'),
      OTHERPHONE: phone('other'),
      EMAILADDRESS: input.telecom.find((c) => c.system === 'email')?.value ?? null,
      DDB_LAST_MOD: wallNow(ctx),
      PATIMAGEID: 0,
      CommunicationPref: 0,
      CONFIDENTIAL_STATE: 0,
      VipCode: 0,
      SensitivityFlag: 0,
      DNACode: 0,
      DoDUpdateAuth: 0,
    }),
  );
  return {
    ok: true,
    sourceId: `${patId}:${patDb}`,
    matched: false,
    asserted: { birthDate: input.birthDate },
  };
}

const APPOINTMENT_TABLE = 'DDB_APPT_BASE';

export const dentrixEnterpriseWriteback = defineWriteback({
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  verification:
    'FIXTURE PATH: direct SQL on the MariaDB form of the Dentrix Enterprise 11 schema (public column list) + T-SQL snapshots; production writes go through the Dentrix Enterprise API where licensed, which is not implemented',
  // writeback.md §9: Dentrix sanctions no SQL writes; this path runs only on fixture databases.
  sqlNeedsUnsafeOptIn: true,
  commands: {
    'Appointment.book': { paths: { sql: book }, tables: { [APPOINTMENT_TABLE]: ['INSERT'] } },
    'Appointment.cancel': { paths: { sql: cancel }, tables: { [APPOINTMENT_TABLE]: ['UPDATE'] } },
    'Appointment.confirm': { paths: { sql: confirm }, tables: { [APPOINTMENT_TABLE]: ['UPDATE'] } },
    'Appointment.reschedule': { paths: { sql: reschedule }, tables: { [APPOINTMENT_TABLE]: ['UPDATE'] } },
    'Patient.create': { paths: { sql: createPatient }, tables: { DDB_PAT_BASE: ['INSERT'] } },
  },
});
