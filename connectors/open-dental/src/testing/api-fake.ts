/**
 * A FAKE of the Open Dental API — not Open Dental, and not affiliated with it.
 *
 * Built from Open Dental's public API documentation (opendental.com/site/apispecification.html,
 * apiappointments.html, apipatients.html, apisetup.html; the pages docs/writeback.md cites), so
 * Tendril's `vendor-api` writeback path can be tested end to end without an Open Dental office:
 * a real HTTP server on loopback that checks the `Authorization: ODFHIR <DeveloperKey>/<CustomerKey>`
 * header and the documented request shapes (400 "with explanation" otherwise), and writes the rows
 * into a real Open Dental database — the official 24.3 schema on MariaDB, or the demo's SQLite
 * tables built from the connector's declarations — so the next poll reads the result.
 *
 * What it does NOT do, because only Open Dental can:
 * - `SecurityHash` (Database Integrity): Open Dental salts and computes it; the fake leaves the
 *   column at its default `''`. A real office's API writes get a valid hash from Open Dental itself.
 * - Broken-appointment automation (D9986/D9987 procedures, adjustments, commlogs), the
 *   `securitylog` audit trail, eConnector round trips, per-key permissions, rate limits.
 * - Fields the documentation describes but Tendril does not send are refused (400), not ignored:
 *   the fake is stricter than the real API so a mistyped field fails a test instead of vanishing.
 * Behaviour the documentation left open is marked "unconfirmed" where it is implemented.
 */
import { cellText } from '@tendril/core';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';

export interface OpenDentalApiFakeOptions {
  /** The Open Dental database (mysql: the real 24.3 schema; sqlite: tables from the connector's declarations). */
  readonly knex: Knex;
  readonly dialect: 'mysql' | 'sqlite';
  readonly developerKey: string;
  readonly customerKey: string;
  /** The office's IANA zone: `SecDateTEntry`/`SecDateEntry` are office wall time, as Open Dental writes them. Default UTC. */
  readonly timezone?: string;
  readonly host?: string;
  readonly port?: number;
}

/** One request the fake answered (method, path without query, status): tests assert what reached "Open Dental". */
export interface OpenDentalApiFakeRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface OpenDentalApiFake {
  /** e.g. `http://127.0.0.1:43121/api/v1` (the path prefix of Open Dental's API service). */
  readonly url: string;
  readonly requests: readonly OpenDentalApiFakeRequest[];
  close(): Promise<void>;
}

/** `appointment.AptStatus` as the API spells it (enum ApptStatus). */
const APT_STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'None',
  1: 'Scheduled',
  2: 'Complete',
  3: 'UnschedList',
  4: 'ASAP',
  5: 'Broken',
  6: 'Planned',
  7: 'PtNote',
  8: 'PtNoteCompleted',
};
/** `patient.PatStatus` (enum PatientStatus). */
const PAT_STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'Patient',
  1: 'NonPatient',
  2: 'Inactive',
  3: 'Archived',
  4: 'Deleted',
  5: 'Deceased',
  6: 'Prospective',
};
/** `patient.Gender` (enum PatientGender). */
const GENDERS: Readonly<Record<string, number>> = { Male: 0, Female: 1, Unknown: 2, Other: 3 };
/** DefCat 2: ApptConfirmed. */
const DEF_CAT_APPT_CONFIRMED = 2;
/** `confirmVal` → the preference naming its definition (Open Dental forum answer on Appointments PUT Confirm). */
const CONFIRM_PREFERENCES: Readonly<Record<string, string>> = {
  Sent: 'ApptEConfirmStatusSent',
  Confirmed: 'ApptEConfirmStatusAccepted',
  'Not Accepted': 'ApptEConfirmStatusDeclined',
  Failed: 'ApptEConfirmStatusSendFailed',
};
const PAGE = 100;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const BODY_LIMIT = 64 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
const bad = (message: string) => new ApiError(400, message);

function validDateTime(value: unknown): value is string {
  const m = typeof value === 'string' ? DATE_TIME.exec(value) : null;
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return (
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    h < 24 &&
    mi < 60 &&
    s < 60
  );
}
function validDate(value: unknown): value is string {
  return typeof value === 'string' && DATE.test(value) && validDateTime(`${value} 00:00:00`);
}
function wholeNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw bad(`${field} must be a whole number.`);
  return value;
}
function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw bad(`${field} must be a string.`);
  if (value.length > max) throw bad(`${field} is too long (${max} characters at most).`);
  return value;
}
function boolString(value: unknown, field: string): boolean {
  if (value !== 'true' && value !== 'false') throw bad(`${field} must be either "true" or "false".`);
  return value === 'true';
}
function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw bad(`Unknown or unsupported field(s): ${unknown.join(', ')}.`);
}

/** Wall time of `zone` now, `yyyy-MM-dd HH:mm:ss`. */
function wallNow(zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  return `${parts['year']}-${parts['month']}-${parts['day']} ${parts['hour']}:${parts['minute']}:${parts['second']}`;
}

/** Starts the fake on loopback. Every request must carry the configured keys. */
export async function startOpenDentalApiFake(options: OpenDentalApiFakeOptions): Promise<OpenDentalApiFake> {
  const { knex, dialect } = options;
  const zone = options.timezone ?? 'UTC';
  const expectedAuth = `ODFHIR ${options.developerKey}/${options.customerKey}`;
  const requests: OpenDentalApiFakeRequest[] = [];
  const columnCache = new Map<string, Set<string>>();

  /** The columns a table has here (the demo's SQLite tables have only the connector's declared columns). */
  async function columnsOf(table: string): Promise<Set<string>> {
    let set = columnCache.get(table);
    if (!set) {
      set = (await knex.schema.hasTable(table))
        ? new Set(Object.keys(await knex(table).columnInfo()))
        : new Set();
      columnCache.set(table, set);
    }
    return set;
  }
  /** Keeps the columns this database has. */
  async function present(table: string, row: Record<string, unknown>): Promise<Record<string, unknown>> {
    const columns = await columnsOf(table);
    return Object.fromEntries(Object.entries(row).filter(([k]) => columns.has(k)));
  }
  /** DateTStamp changes on every write (MariaDB's ON UPDATE does it; SQLite needs it said). */
  const stamp = () => ({ DateTStamp: knex.raw('CURRENT_TIMESTAMP') });

  async function exists(
    table: string,
    key: string,
    value: number,
    extra?: (q: Knex.QueryBuilder) => unknown,
  ): Promise<boolean> {
    if (!(await knex.schema.hasTable(table))) return false;
    const q = knex(table).where(key, value).first(key);
    extra?.(q);
    return (await q) !== undefined;
  }

  function appointmentJson(row: Record<string, unknown>): Record<string, unknown> {
    return {
      AptNum: Number(row['AptNum']),
      PatNum: Number(row['PatNum']),
      AptStatus: APT_STATUS_NAMES[Number(row['AptStatus'])] ?? 'None',
      Pattern: cellText(row['Pattern']),
      Confirmed: Number(row['Confirmed'] ?? 0),
      Op: Number(row['Op']),
      Note: cellText(row['Note']),
      ProvNum: Number(row['ProvNum'] ?? 0),
      ProvHyg: Number(row['ProvHyg'] ?? 0),
      AptDateTime: String(row['AptDateTime']),
      IsNewPatient: Number(row['IsNewPatient'] ?? 0) === 1 ? 'true' : 'false',
      ClinicNum: Number(row['ClinicNum'] ?? 0),
      DateTStamp: cellText(row['DateTStamp']),
      AppointmentTypeNum: Number(row['AppointmentTypeNum'] ?? 0),
      DateTimeArrived: cellText(row['DateTimeArrived'] ?? '0001-01-01 00:00:00'),
    };
  }

  function patientJson(row: Record<string, unknown>): Record<string, unknown> {
    const gender = Object.entries(GENDERS).find(([, n]) => n === Number(row['Gender']))?.[0] ?? 'Unknown';
    return {
      PatNum: Number(row['PatNum']),
      LName: cellText(row['LName']),
      FName: cellText(row['FName']),
      MiddleI: cellText(row['MiddleI']),
      Preferred: cellText(row['Preferred']),
      PatStatus: PAT_STATUS_NAMES[Number(row['PatStatus'])] ?? 'Patient',
      Gender: gender,
      Birthdate: cellText(row['Birthdate'] ?? '0001-01-01'),
      Address: cellText(row['Address']),
      Address2: cellText(row['Address2']),
      City: cellText(row['City']),
      State: cellText(row['State']),
      Zip: cellText(row['Zip']),
      HmPhone: cellText(row['HmPhone']),
      WkPhone: cellText(row['WkPhone']),
      WirelessPhone: cellText(row['WirelessPhone']),
      Email: cellText(row['Email']),
      Guarantor: Number(row['Guarantor'] ?? 0),
      PriProv: Number(row['PriProv'] ?? 0),
      ClinicNum: Number(row['ClinicNum'] ?? 0),
    };
  }

  async function appointmentRow(aptNum: number): Promise<Record<string, unknown>> {
    const row = (await knex('appointment').where('AptNum', aptNum).first()) as
      Record<string, unknown> | undefined;
    if (!row) throw new ApiError(404, `Appointment not found.`);
    return row;
  }
  async function patientRow(patNum: number): Promise<Record<string, unknown>> {
    const row = (await knex('patient').where('PatNum', patNum).first()) as
      Record<string, unknown> | undefined;
    if (!row) throw new ApiError(404, 'Patient not found.');
    if (Number(row['PatStatus']) === 4) throw bad('Deleted patients cannot be modified.');
    return row;
  }

  /** The appointment fields shared by POST and PUT, validated as documented; returns column values. */
  async function appointmentFields(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const row: Record<string, unknown> = {};
    if ('AptDateTime' in body) {
      if (!validDateTime(body['AptDateTime']))
        throw bad('AptDateTime is not in a valid format. Expected "yyyy-MM-dd HH:mm:ss".');
      row['AptDateTime'] = body['AptDateTime'];
    }
    if ('Pattern' in body) {
      const pattern = text(body['Pattern'], 'Pattern', 255);
      if (!/^[X/]+$/.test(pattern))
        throw bad('Pattern must contain only "X" and "/", one character per 5 minutes.');
      row['Pattern'] = pattern;
    }
    if ('Op' in body) {
      const op = wholeNumber(body['Op'], 'Op');
      if (!(await exists('operatory', 'OperatoryNum', op, (q) => q.where('IsHidden', 0))))
        throw bad('Op is invalid.');
      row['Op'] = op;
    }
    for (const field of ['ProvNum', 'ProvHyg'] as const) {
      if (!(field in body)) continue;
      const prov = wholeNumber(body[field], field);
      if (!(field === 'ProvHyg' && prov === 0) && !(await exists('provider', 'ProvNum', prov)))
        throw bad(`${field} is invalid.`);
      row[field] = prov;
    }
    if ('ClinicNum' in body) {
      const clinic = wholeNumber(body['ClinicNum'], 'ClinicNum');
      if (clinic !== 0 && !(await exists('clinic', 'ClinicNum', clinic))) throw bad('ClinicNum is invalid.');
      row['ClinicNum'] = clinic;
    }
    if ('AppointmentTypeNum' in body) {
      const type = wholeNumber(body['AppointmentTypeNum'], 'AppointmentTypeNum');
      if (type !== 0 && !(await exists('appointmenttype', 'AppointmentTypeNum', type)))
        throw bad('AppointmentTypeNum is invalid.');
      row['AppointmentTypeNum'] = type;
    }
    if ('Note' in body) row['Note'] = text(body['Note'], 'Note', 65_535);
    if ('IsNewPatient' in body)
      row['IsNewPatient'] = boolString(body['IsNewPatient'], 'IsNewPatient') ? 1 : 0;
    return row;
  }

  const APPOINTMENT_FIELDS = [
    'AptDateTime',
    'Pattern',
    'Op',
    'ProvNum',
    'ProvHyg',
    'ClinicNum',
    'AppointmentTypeNum',
    'Note',
    'IsNewPatient',
  ];

  async function postAppointment(body: Record<string, unknown>) {
    onlyFields(body, ['PatNum', 'AptStatus', ...APPOINTMENT_FIELDS]);
    for (const required of ['PatNum', 'Op', 'AptDateTime'])
      if (!(required in body)) throw bad(`${required} is required.`);
    const patNum = wholeNumber(body['PatNum'], 'PatNum');
    const patient = await knex('patient')
      .where('PatNum', patNum)
      .first<Record<string, unknown> | undefined>('PatNum', 'PatStatus', 'PriProv');
    if (!patient || Number(patient['PatStatus']) === 4) throw bad('PatNum is invalid.');
    if ('AptStatus' in body && body['AptStatus'] !== 'Scheduled')
      throw bad('AptStatus must be "Scheduled" for a new appointment through this API.');
    const fields = await appointmentFields(body);
    const op = (await knex('operatory').where('OperatoryNum', Number(fields['Op'])).first()) as Record<
      string,
      unknown
    >;
    // Unconfirmed defaults: provider from the operatory's dentist, else the patient's primary; clinic from the operatory.
    const provNum = fields['ProvNum'] ?? (Number(op['ProvDentist'] ?? 0) || Number(patient['PriProv'] ?? 0));
    const [firstConfirm] = (await knex.schema.hasTable('definition'))
      ? await knex('definition')
          .where({ Category: DEF_CAT_APPT_CONFIRMED, IsHidden: 0 })
          .orderBy('ItemOrder')
          .limit(1)
          .select<{ DefNum: unknown }[]>('DefNum')
      : [];
    const now = wallNow(zone);
    const row = await present('appointment', {
      PatNum: patNum,
      AptStatus: 1,
      Pattern: '//XX//', // unconfirmed default when Pattern is omitted
      Confirmed: firstConfirm ? Number(firstConfirm.DefNum) : 0,
      ClinicNum: Number(op['ClinicNum'] ?? 0),
      ProvHyg: 0,
      Note: '',
      IsNewPatient: 0,
      AppointmentTypeNum: 0,
      SecDateTEntry: now,
      DateTimeArrived: '0001-01-01 00:00:00',
      DateTimeDismissed: '0001-01-01 00:00:00',
      ...fields,
      ProvNum: provNum,
      ...(dialect === 'sqlite' ? stamp() : {}),
    });
    const [id] = await knex('appointment').insert(row);
    const aptNum = Number(typeof id === 'object' && id !== null ? Object.values(id)[0] : id);
    return {
      status: 201,
      location: `/appointments/${aptNum}`,
      body: appointmentJson(await appointmentRow(aptNum)),
    };
  }

  async function putAppointment(aptNum: number, body: Record<string, unknown>) {
    onlyFields(body, APPOINTMENT_FIELDS);
    if (Object.keys(body).length === 0) throw bad('No fields were given to update.');
    await appointmentRow(aptNum);
    const fields = await appointmentFields(body);
    await knex('appointment')
      .where('AptNum', aptNum)
      .update({ ...fields, ...stamp() });
    return { status: 200, body: appointmentJson(await appointmentRow(aptNum)) };
  }

  async function breakAppointment(aptNum: number, body: Record<string, unknown>) {
    onlyFields(body, ['sendToUnscheduledList', 'breakType']);
    if (!('sendToUnscheduledList' in body)) throw bad('sendToUnscheduledList is required.');
    const unschedule = boolString(body['sendToUnscheduledList'], 'sendToUnscheduledList');
    if ('breakType' in body && body['breakType'] !== 'Missed' && body['breakType'] !== 'Cancelled')
      throw bad('breakType must be either "Missed" or "Cancelled".');
    const row = await appointmentRow(aptNum);
    if (Number(row['AptStatus']) !== 1)
      throw bad('Only appointments with a status of Scheduled can be broken.');
    await knex('appointment')
      .where('AptNum', aptNum)
      .update({ AptStatus: unschedule ? 3 : 5, ...stamp() });
    return { status: 200, body: appointmentJson(await appointmentRow(aptNum)) };
  }

  async function confirmAppointment(aptNum: number, body: Record<string, unknown>) {
    onlyFields(body, ['confirmVal', 'defNum']);
    if (Object.keys(body).length !== 1) throw bad('Only one field is allowed: either confirmVal or defNum.');
    await appointmentRow(aptNum);
    if (!(await columnsOf('appointment')).has('Confirmed'))
      throw bad('This database has no appointment.Confirmed column.');
    let defNum: number;
    if ('defNum' in body) {
      defNum = wholeNumber(body['defNum'], 'defNum');
      if (!(await exists('definition', 'DefNum', defNum, (q) => q.where('Category', DEF_CAT_APPT_CONFIRMED))))
        throw bad('defNum is not an ApptConfirmed definition.');
    } else if (body['confirmVal'] === 'None') {
      const [first] = await knex('definition')
        .where({ Category: DEF_CAT_APPT_CONFIRMED, IsHidden: 0 })
        .orderBy('ItemOrder')
        .limit(1)
        .select<{ DefNum: unknown }[]>('DefNum');
      if (!first) throw bad('No ApptConfirmed definitions exist.');
      defNum = Number(first.DefNum);
    } else {
      const pref = CONFIRM_PREFERENCES[String(body['confirmVal'])];
      if (!pref)
        throw bad('confirmVal must be either "None", "Sent", "Confirmed", "Not Accepted", or "Failed".');
      const row = (await knex.schema.hasTable('preference'))
        ? await knex('preference')
            .where('PrefName', pref)
            .first<{ ValueString?: unknown } | undefined>('ValueString')
        : undefined;
      defNum = Number(row?.ValueString ?? 0);
      if (!defNum) throw bad(`The office has not set ${pref} (eServices Setup, Automated Messaging).`);
    }
    await knex('appointment')
      .where('AptNum', aptNum)
      .update({ Confirmed: defNum, ...stamp() });
    return { status: 200, body: appointmentJson(await appointmentRow(aptNum)) };
  }

  async function listAppointments(query: URLSearchParams) {
    const q = knex('appointment').orderBy('AptNum');
    const date = query.get('date');
    if (date !== null) {
      if (!validDate(date)) throw bad('date is not in a valid format. Expected "yyyy-MM-dd".');
      q.where('AptDateTime', '>=', `${date} 00:00:00`).where('AptDateTime', '<=', `${date} 23:59:59`);
    }
    const start = query.get('dateStart');
    const end = query.get('dateEnd');
    if (start !== null || end !== null) {
      if (!validDate(start) || !validDate(end))
        throw bad('dateStart and dateEnd must both be given in "yyyy-MM-dd" format.');
      q.where('AptDateTime', '>=', `${start} 00:00:00`).where('AptDateTime', '<=', `${end} 23:59:59`);
    }
    for (const field of ['PatNum', 'Op', 'ClinicNum'] as const) {
      const value = query.get(field);
      if (value !== null) q.where(field, wholeNumber(Number(value), field));
    }
    const status = query.get('AptStatus');
    if (status !== null) {
      const code = Object.entries(APT_STATUS_NAMES).find(([, n]) => n === status)?.[0];
      if (code === undefined) throw bad('AptStatus is invalid.');
      q.where('AptStatus', Number(code));
    }
    const offset = wholeNumber(Number(query.get('Offset') ?? 0), 'Offset');
    const rows = (await q.offset(offset).limit(PAGE)) as Record<string, unknown>[];
    return { status: 200, body: rows.map(appointmentJson) };
  }

  const PATIENT_FIELDS = [
    'LName',
    'FName',
    'MiddleI',
    'Preferred',
    'Gender',
    'Birthdate',
    'Address',
    'Address2',
    'City',
    'State',
    'Zip',
    'HmPhone',
    'WkPhone',
    'WirelessPhone',
    'Email',
    'PriProv',
    'ClinicNum',
  ];

  async function patientFields(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    onlyFields(body, PATIENT_FIELDS);
    const row: Record<string, unknown> = {};
    for (const field of [
      'LName',
      'FName',
      'MiddleI',
      'Preferred',
      'Address',
      'Address2',
      'City',
      'State',
      'Zip',
      'Email',
    ] as const) {
      if (field in body) row[field] = text(body[field], field, 100);
    }
    for (const field of ['HmPhone', 'WkPhone', 'WirelessPhone'] as const)
      if (field in body) row[field] = text(body[field], field, 30);
    if ('LName' in row && String(row['LName']).trim() === '') throw bad('LName cannot be blank.');
    if ('FName' in row && String(row['FName']).trim() === '') throw bad('FName cannot be blank.');
    if ('Gender' in body) {
      const gender = GENDERS[String(body['Gender'])];
      if (gender === undefined) throw bad('Gender must be either "Male", "Female", "Unknown", or "Other".');
      row['Gender'] = gender;
    }
    if ('Birthdate' in body) {
      if (!validDate(body['Birthdate']))
        throw bad('Birthdate is not in a valid format. Expected "yyyy-MM-dd".');
      row['Birthdate'] = body['Birthdate'];
    }
    if ('PriProv' in body) {
      const prov = wholeNumber(body['PriProv'], 'PriProv');
      if (!(await exists('provider', 'ProvNum', prov))) throw bad('PriProv is invalid.');
      row['PriProv'] = prov;
    }
    if ('ClinicNum' in body) {
      const clinic = wholeNumber(body['ClinicNum'], 'ClinicNum');
      if (clinic !== 0 && !(await exists('clinic', 'ClinicNum', clinic))) throw bad('ClinicNum is invalid.');
      row['ClinicNum'] = clinic;
    }
    return row;
  }

  async function postPatient(body: Record<string, unknown>) {
    for (const required of ['LName', 'FName']) if (!(required in body)) throw bad(`${required} is required.`);
    const fields = await patientFields(body);
    let priProv = fields['PriProv'];
    if (priProv === undefined) {
      // Unconfirmed default: the practice's default provider; the fake takes the first active provider.
      const first = await knex('provider')
        .orderBy('ProvNum')
        .first<{ ProvNum?: unknown } | undefined>('ProvNum');
      priProv = Number(first?.ProvNum ?? 0);
    }
    const row = await present('patient', {
      PatStatus: 0,
      Gender: 2,
      Position: 0,
      Birthdate: '0001-01-01',
      SecDateEntry: wallNow(zone).slice(0, 10),
      ...fields,
      PriProv: priProv,
      ...(dialect === 'sqlite' ? stamp() : {}),
    });
    const [id] = await knex('patient').insert(row);
    const patNum = Number(typeof id === 'object' && id !== null ? Object.values(id)[0] : id);
    // A new patient is their own guarantor (a family of one), as Open Dental's Add Patient does.
    await knex('patient')
      .where('PatNum', patNum)
      .update({ Guarantor: patNum, ...stamp() });
    return { status: 201, location: `/patients/${patNum}`, body: patientJson(await patientRow(patNum)) };
  }

  async function putPatient(patNum: number, body: Record<string, unknown>) {
    if (Object.keys(body).length === 0) throw bad('No fields were given to update.');
    await patientRow(patNum);
    const fields = await patientFields(body);
    await knex('patient')
      .where('PatNum', patNum)
      .update({ ...(await present('patient', fields)), ...stamp() });
    return { status: 200, body: patientJson(await patientRow(patNum)) };
  }

  async function simplePatients(query: URLSearchParams) {
    const q = knex('patient').whereNot('PatStatus', 4).orderBy('PatNum');
    const lname = query.get('LName');
    const fname = query.get('FName');
    // Unconfirmed: partial (prefix) name matching, case-insensitive.
    if (lname) q.whereRaw('LOWER(LName) LIKE ?', [`${lname.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`]);
    if (fname) q.whereRaw('LOWER(FName) LIKE ?', [`${fname.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`]);
    const birthdate = query.get('Birthdate');
    if (birthdate !== null) {
      if (!validDate(birthdate)) throw bad('Birthdate is not in a valid format. Expected "yyyy-MM-dd".');
      q.where('Birthdate', birthdate);
    }
    const offset = wholeNumber(Number(query.get('Offset') ?? 0), 'Offset');
    const rows = (await q.offset(offset).limit(PAGE)) as Record<string, unknown>[];
    return { status: 200, body: rows.map(patientJson) };
  }

  async function route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown>) {
    const segments = path.split('/').filter(Boolean);
    const num = (s: string | undefined) => {
      if (s === undefined || !/^[0-9]{1,18}$/.test(s)) throw new ApiError(404, 'Not found.');
      return Number(s);
    };
    const [resource, id, action] = segments;
    if (resource === 'appointments') {
      if (method === 'GET' && id === undefined) return listAppointments(query);
      if (method === 'GET' && action === undefined)
        return { status: 200, body: appointmentJson(await appointmentRow(num(id))) };
      if (method === 'POST' && id === undefined) return postAppointment(body);
      if (method === 'PUT' && action === undefined && id !== undefined) return putAppointment(num(id), body);
      if (method === 'PUT' && action === 'Break') return breakAppointment(num(id), body);
      if (method === 'PUT' && action === 'Confirm') return confirmAppointment(num(id), body);
    }
    if (resource === 'patients') {
      if (method === 'GET' && id === 'Simple') return simplePatients(query);
      if (method === 'GET' && id !== undefined && action === undefined) {
        const row = (await knex('patient').where('PatNum', num(id)).first()) as
          Record<string, unknown> | undefined;
        if (!row) throw new ApiError(404, 'Patient not found.');
        return { status: 200, body: patientJson(row) };
      }
      if (method === 'POST' && id === undefined) return postPatient(body);
      if (method === 'PUT' && id !== undefined && action === undefined) return putPatient(num(id), body);
    }
    throw new ApiError(404, `${method} ${path} is not part of this fake of the Open Dental API.`);
  }

  async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > BODY_LIMIT) throw bad('The request body is too large.');
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw bad('The request body is not valid JSON.');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw bad('The request body must be a JSON object.');
    return parsed as Record<string, unknown>;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    const method = request.method ?? 'GET';
    const path = url.pathname.replace(/^\/api\/v1/, '');
    let status = 500;
    let payload: unknown;
    let location: string | undefined;
    try {
      if (request.headers.authorization !== expectedAuth) {
        throw new ApiError(
          401,
          'Invalid Authorization header. Expected "ODFHIR {DeveloperKey}/{CustomerKey}".',
        );
      }
      if (
        (method === 'POST' || method === 'PUT') &&
        !(request.headers['content-type'] ?? '').includes('application/json')
      ) {
        throw bad('Content-Type must be application/json.');
      }
      const body = await readBody(request);
      const result = await route(method, path, url.searchParams, body);
      status = result.status;
      payload = result.body;
      location = 'location' in result ? String(result.location) : undefined;
    } catch (error) {
      status = error instanceof ApiError ? error.status : 500;
      payload = error instanceof ApiError ? error.message : 'Internal error in the Open Dental API fake.';
    }
    requests.push({ method, path, status });
    response.statusCode = status;
    if (location) response.setHeader('location', `/api/v1${location}`);
    response.setHeader('content-type', 'application/json; charset=utf-8');
    response.end(JSON.stringify(payload));
  }

  const server: Server = createServer((request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}/api/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
