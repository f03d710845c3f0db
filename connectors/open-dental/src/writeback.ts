import {
  defineWriteback,
  instantToLocal,
  matchText,
  phoneDigits,
  resourceId,
  sourceIdComponents,
  TendrilError,
  type VendorApi,
  type WritebackConnectionConfig,
  type WritebackContext,
  type WritebackInput,
  type WritebackOutcome,
  contactColumns,
  primaryAddress,
  resolveSourceId,
  writebackFailure,
  type WritebackFailure,
} from '@tendril/core';
import { optionsOf } from './options.js';
import { PATTERN_MINUTES_PER_CHARACTER } from './pattern.js';
import { OPERATORY_SOURCE_ID_PREFIX } from './tables/operatory.js';

/**
 * Open Dental writeback through the Open Dental API (writeback.md §9): Open Dental's Database
 * Integrity feature salts a `SecurityHash` over `appointment` and `patient` rows and requires
 * outside software to change data through its API, so every command here is a REST call
 * (`writePath: vendor-api`); there is no `sql` path.
 *
 * Endpoints and shapes follow Open Dental's public API documentation (docs/writeback.md lists the
 * pages and what could not be confirmed from them):
 * - `Authorization: ODFHIR <DeveloperKey>/<CustomerKey>` on every request;
 * - `POST /appointments` (PatNum, Op, AptDateTime `yyyy-MM-dd HH:mm:ss` office time, Pattern one
 *   character per 5 minutes, ProvNum, ProvHyg, ClinicNum, Note, AppointmentTypeNum) → 201 + object;
 * - `PUT /appointments/{AptNum}` (fields omitted stay unchanged) for reschedule;
 * - `PUT /appointments/{AptNum}/Break` (`sendToUnscheduledList`, `breakType`) for cancel;
 * - `PUT /appointments/{AptNum}/Confirm` (`confirmVal` or `defNum`) for confirm;
 * - `GET /appointments?date=…&Offset=…` (paged) for the slot check, `GET /appointments/{AptNum}`;
 * - `GET /patients/Simple?LName&FName&Birthdate` for match before create, `POST /patients`,
 *   `PUT /patients/{PatNum}`.
 *
 * Open Dental's tables are MyISAM and the API gives no transaction: the slot check reads the day's
 * appointments, then posts (writeback.md §10). A booking made in Open Dental's own window between
 * the two can still overlap; that residual race is documented, not hidden.
 */

/** Open Dental's API pages lists at 100 items (`Offset` pages on). */
const API_PAGE = 100;
/** AptStatus values (as the API spells them) that occupy the chair. Broken, UnschedList, Planned, notes do not. */
const OCCUPIES_SLOT = new Set(['Scheduled', 'Complete', 'ASAP']);
const GENDER_NAME = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Unknown' } as const;

type Failure = WritebackFailure;
const fail = writebackFailure;

function apiOf(ctx: WritebackContext): VendorApi {
  if (!ctx.api)
    throw new TendrilError(
      'TENDRIL_E_INTERNAL',
      'Open Dental writeback runs on the vendor-api path only; no API client was given',
    );
  return ctx.api;
}

/** The vendor's explanation of a refusal, bounded (Open Dental answers 400 "with explanation"). */
function vendorMessage(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  return text.slice(0, 500);
}

/** A non-2xx answer as a failure: 404 → not_found, 401/403 → permission_denied, else vendor_error. */
function refused(what: string, response: { status: number; body: unknown }): Failure {
  const details = { httpStatus: response.status, vendorMessage: vendorMessage(response.body) };
  if (response.status === 401 || response.status === 403) {
    return fail(
      'permission_denied',
      `the Open Dental API refused the keys for ${what}; check writeback.api.developerKey / customerKey and the key's permissions`,
      details,
    );
  }
  if (response.status === 404)
    return fail('not_found', `the Open Dental API found no record for ${what}`, details);
  return fail(
    'vendor_error',
    `the Open Dental API refused ${what} (HTTP ${response.status}); see details.vendorMessage`,
    details,
  );
}

const ok2xx = (status: number) => status >= 200 && status < 300;

const resolve = resolveSourceId;

/** `op:<OperatoryNum>` → OperatoryNum; an office id (ClinicNum) is not an operatory. */
function operatoryNum(sourceId: string): string | undefined {
  const parts = sourceIdComponents(sourceId);
  return parts.length === 2 && parts[0] === OPERATORY_SOURCE_ID_PREFIX ? parts[1] : undefined;
}

interface Slot {
  /** `yyyy-MM-dd HH:mm:ss`, office wall time, as Open Dental stores AptDateTime. */
  readonly aptDateTime: string;
  readonly date: string;
  readonly pattern: string;
  readonly minutes: number;
}

function slotOf(ctx: WritebackContext, start: string, end: string): Slot | Failure {
  if (Date.parse(start) <= ctx.now().getTime())
    return fail('validation_failed', 'start must be in the future', { field: 'start' });
  const minutes = (Date.parse(end) - Date.parse(start)) / 60_000;
  if (minutes <= 0) return fail('validation_failed', 'end must be after start', { field: 'end' });
  if (!Number.isInteger(minutes / PATTERN_MINUTES_PER_CHARACTER)) {
    return fail(
      'validation_failed',
      `the length must be a multiple of ${PATTERN_MINUTES_PER_CHARACTER} minutes (Open Dental's time grid)`,
      { field: 'end' },
    );
  }
  const local = instantToLocal(start, ctx.timezone);
  if (!/:00$/.test(local.time) || Number(local.time.slice(3, 5)) % PATTERN_MINUTES_PER_CHARACTER !== 0) {
    return fail(
      'validation_failed',
      `start must fall on Open Dental's ${PATTERN_MINUTES_PER_CHARACTER}-minute grid`,
      { field: 'start' },
    );
  }
  return {
    aptDateTime: `${local.date} ${local.time}`,
    date: local.date,
    // Provider time throughout: Open Dental draws `X` for provider time, `/` for assistant time.
    pattern: 'X'.repeat(minutes / PATTERN_MINUTES_PER_CHARACTER),
    minutes,
  };
}

/** Minutes since the epoch of an office wall time (only compared with other wall times of the same office). */
const wallMinutes = (aptDateTime: string) => Date.parse(`${aptDateTime.replace(' ', 'T')}Z`) / 60_000;

/** Every appointment of one office day, through the API's pages. */
async function appointmentsOn(api: VendorApi, date: string): Promise<Record<string, unknown>[] | Failure> {
  const all: Record<string, unknown>[] = [];
  for (let offset = 0; ; offset += API_PAGE) {
    const response = await api.request('GET', `/appointments?date=${date}&Offset=${offset}`);
    if (!ok2xx(response.status)) return refused('the day’s appointments (slot check)', response);
    const page = Array.isArray(response.body) ? (response.body as Record<string, unknown>[]) : [];
    all.push(...page);
    if (page.length < API_PAGE) return all;
  }
}

/**
 * The overlap check of writeback.md §5 on the API's view of the day: same operatory always; same
 * practitioner (dentist or hygienist) unless providerDoubleBooking. Broken, unscheduled and planned
 * appointments and `excludeAptNum` (the one being moved) are ignored.
 */
async function slotConflict(
  ctx: WritebackContext,
  slot: Slot,
  target: { op: string; providers: readonly string[] },
  excludeAptNum?: string,
): Promise<Failure | undefined> {
  const day = await appointmentsOn(apiOf(ctx), slot.date);
  if (!Array.isArray(day)) return day;
  const start = wallMinutes(slot.aptDateTime);
  const end = start + slot.minutes;
  for (const apt of day) {
    if (excludeAptNum !== undefined && String(apt['AptNum']) === excludeAptNum) continue;
    if (!OCCUPIES_SLOT.has(String(apt['AptStatus']))) continue;
    const otherStart = wallMinutes(String(apt['AptDateTime']));
    const otherEnd = otherStart + String(apt['Pattern'] ?? '').length * PATTERN_MINUTES_PER_CHARACTER;
    if (!(otherStart < end && otherEnd > start)) continue;
    if (String(apt['Op']) === target.op) {
      return fail('slot_conflict', 'the operatory already has an appointment overlapping this time', {
        field: 'start',
      });
    }
    const theirs = [String(apt['ProvNum'] ?? '0'), String(apt['ProvHyg'] ?? '0')].filter((p) => p !== '0');
    if (!ctx.settings.providerDoubleBooking && theirs.some((p) => target.providers.includes(p))) {
      return fail('slot_conflict', 'the practitioner already has an appointment overlapping this time', {
        field: 'start',
      });
    }
  }
  return undefined;
}

async function getAppointment(
  ctx: WritebackContext,
  appointmentId: string,
): Promise<{ aptNum: string; apt: Record<string, unknown> } | Failure> {
  const aptNum = await resolve(ctx, 'Appointment', appointmentId, 'appointmentId');
  if (typeof aptNum !== 'string') return aptNum;
  const response = await apiOf(ctx).request('GET', `/appointments/${encodeURIComponent(aptNum)}`);
  if (response.status === 404)
    return fail('not_found', 'appointmentId: the appointment no longer exists in Open Dental', {
      field: 'appointmentId',
    });
  if (!ok2xx(response.status)) return refused('the appointment', response);
  return { aptNum, apt: response.body as Record<string, unknown> };
}

async function book(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.book'>,
): Promise<WritebackOutcome> {
  if (input.end === undefined)
    return fail(
      'validation_failed',
      'end is required for Open Dental (the time pattern is written from it)',
      { field: 'end' },
    );
  if (input.operatoryId === undefined)
    return fail('validation_failed', 'operatoryId is required: Open Dental books by operatory', {
      field: 'operatoryId',
    });
  if (input.practitionerIds.length > 2) {
    return fail(
      'validation_failed',
      'practitionerIds: Open Dental books a dentist and at most one hygienist',
      { field: 'practitionerIds' },
    );
  }
  const patNum = await resolve(ctx, 'Patient', input.patientId, 'patientId');
  if (typeof patNum !== 'string') return patNum;
  const providers: string[] = [];
  for (const id of input.practitionerIds) {
    const provNum = await resolve(ctx, 'Practitioner', id, 'practitionerIds');
    if (typeof provNum !== 'string') return provNum;
    providers.push(provNum);
  }
  const opSource = await resolve(ctx, 'Location', input.operatoryId, 'operatoryId');
  if (typeof opSource !== 'string') return opSource;
  const op = operatoryNum(opSource);
  if (op === undefined)
    return fail('validation_failed', 'operatoryId names an office, not an operatory', {
      field: 'operatoryId',
    });
  let clinicNum: string | undefined;
  if (input.locationId !== undefined) {
    const clinic = await resolve(ctx, 'Location', input.locationId, 'locationId');
    if (typeof clinic !== 'string') return clinic;
    if (operatoryNum(clinic) !== undefined)
      return fail('validation_failed', 'locationId names an operatory; give the office', {
        field: 'locationId',
      });
    clinicNum = clinic;
  }
  let appointmentTypeNum: string | undefined;
  if (input.appointmentTypeId !== undefined) {
    const type = await resolve(ctx, 'AppointmentType', input.appointmentTypeId, 'appointmentTypeId');
    if (typeof type !== 'string') return type;
    appointmentTypeNum = type;
  }
  const slot = slotOf(ctx, input.start, input.end);
  if ('ok' in slot) return slot;
  const conflict = await slotConflict(ctx, slot, { op, providers });
  if (conflict) return conflict;
  const response = await apiOf(ctx).request('POST', '/appointments', {
    PatNum: Number(patNum),
    Op: Number(op),
    AptDateTime: slot.aptDateTime,
    Pattern: slot.pattern,
    ProvNum: Number(providers[0]),
    ...(providers[1] !== undefined ? { ProvHyg: Number(providers[1]) } : {}),
    ...(clinicNum !== undefined ? { ClinicNum: Number(clinicNum) } : {}),
    ...(appointmentTypeNum !== undefined ? { AppointmentTypeNum: Number(appointmentTypeNum) } : {}),
    ...(input.note !== undefined ? { Note: input.note } : {}),
  });
  if (!ok2xx(response.status)) return refused('the new appointment', response);
  const aptNum = (response.body as Record<string, unknown> | undefined)?.['AptNum'];
  if (aptNum === undefined || aptNum === null)
    return fail('vendor_error', 'the Open Dental API did not return the new AptNum');
  return {
    ok: true,
    sourceId: String(aptNum),
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

async function cancel(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.cancel'>,
): Promise<WritebackOutcome> {
  const found = await getAppointment(ctx, input.appointmentId);
  if ('ok' in found) return found;
  if (String(found.apt['AptStatus']) !== 'Scheduled') {
    return fail(
      'validation_failed',
      'only a scheduled appointment can be cancelled (Open Dental breaks scheduled appointments only)',
      { field: 'appointmentId' },
    );
  }
  // Break, left on the schedule (crossed out), typed Cancelled: what Open Dental's "Break" button does.
  const response = await apiOf(ctx).request(
    'PUT',
    `/appointments/${encodeURIComponent(found.aptNum)}/Break`,
    {
      sendToUnscheduledList: 'false',
      breakType: 'Cancelled',
    },
  );
  if (!ok2xx(response.status)) return refused('the cancellation (Break)', response);
  return {
    ok: true,
    sourceId: found.aptNum,
    asserted: { status: optionsOf({ options: ctx.options }).brokenAppointmentStatus },
  };
}

/** `writeback.confirmStatus` as a `definition.DefNum` (DefCat 2 ApptConfirmed); unset: `confirmVal: Confirmed`. */
function confirmBody(
  settings: WritebackConnectionConfig,
): { defNum: number } | { confirmVal: 'Confirmed' } | Failure {
  if (settings.confirmStatus === undefined) return { confirmVal: 'Confirmed' };
  if (!/^[1-9][0-9]{0,14}$/.test(settings.confirmStatus)) {
    return fail(
      'validation_failed',
      'writeback.confirmStatus must be an Open Dental definition.DefNum (category ApptConfirmed)',
    );
  }
  return { defNum: Number(settings.confirmStatus) };
}

async function confirm(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.confirm'>,
): Promise<WritebackOutcome> {
  const body = confirmBody(ctx.settings);
  if ('ok' in body) return body;
  const found = await getAppointment(ctx, input.appointmentId);
  if ('ok' in found) return found;
  if (String(found.apt['AptStatus']) !== 'Scheduled') {
    return fail('validation_failed', 'only a scheduled appointment can be confirmed', {
      field: 'appointmentId',
    });
  }
  const response = await apiOf(ctx).request(
    'PUT',
    `/appointments/${encodeURIComponent(found.aptNum)}/Confirm`,
    body,
  );
  if (!ok2xx(response.status)) return refused('the confirmation', response);
  // `confirmed` is not mapped for Open Dental (a per-site definition), so read-back asserts nothing more.
  return { ok: true, sourceId: found.aptNum, asserted: { status: 'booked' } };
}

async function reschedule(
  ctx: WritebackContext,
  input: WritebackInput<'Appointment.reschedule'>,
): Promise<WritebackOutcome> {
  if (input.practitionerIds && input.practitionerIds.length > 2) {
    return fail(
      'validation_failed',
      'practitionerIds: Open Dental books a dentist and at most one hygienist',
      { field: 'practitionerIds' },
    );
  }
  const found = await getAppointment(ctx, input.appointmentId);
  if ('ok' in found) return found;
  if (String(found.apt['AptStatus']) !== 'Scheduled') {
    return fail('validation_failed', 'only a scheduled appointment can be rescheduled; book a new one', {
      field: 'appointmentId',
    });
  }
  let op = String(found.apt['Op'] ?? '0');
  if (input.operatoryId !== undefined) {
    const opSource = await resolve(ctx, 'Location', input.operatoryId, 'operatoryId');
    if (typeof opSource !== 'string') return opSource;
    const num = operatoryNum(opSource);
    if (num === undefined)
      return fail('validation_failed', 'operatoryId names an office, not an operatory', {
        field: 'operatoryId',
      });
    op = num;
  }
  let providers = [String(found.apt['ProvNum'] ?? '0'), String(found.apt['ProvHyg'] ?? '0')].filter(
    (p) => p !== '0',
  );
  if (input.practitionerIds) {
    providers = [];
    for (const id of input.practitionerIds) {
      const provNum = await resolve(ctx, 'Practitioner', id, 'practitionerIds');
      if (typeof provNum !== 'string') return provNum;
      providers.push(provNum);
    }
  }
  const slot = slotOf(ctx, input.start, input.end);
  if ('ok' in slot) return slot;
  const conflict = await slotConflict(ctx, slot, { op, providers }, found.aptNum);
  if (conflict) return conflict;
  const response = await apiOf(ctx).request('PUT', `/appointments/${encodeURIComponent(found.aptNum)}`, {
    AptDateTime: slot.aptDateTime,
    Pattern: slot.pattern,
    Op: Number(op),
    ...(input.practitionerIds ? { ProvNum: Number(providers[0]), ProvHyg: Number(providers[1] ?? 0) } : {}),
  });
  if (!ok2xx(response.status)) return refused('the new time', response);
  return {
    ok: true,
    sourceId: found.aptNum,
    asserted: {
      start: input.start,
      end: input.end,
      ...(input.operatoryId ? { operatoryId: input.operatoryId } : {}),
      ...(input.practitionerIds ? { practitionerIds: input.practitionerIds } : {}),
    },
  };
}

/** Open Dental's three phone columns and e-mail (mobile first, as the read mapping ranks them). */
const CONTACT_COLUMNS = {
  email: 'Email',
  home: 'HmPhone',
  work: 'WkPhone',
  mobile: 'WirelessPhone',
} as const;

function addressFields(addresses: WritebackInput<'Patient.create'>['addresses']): Record<string, string> {
  const home = primaryAddress(addresses);
  if (!home) return {};
  return {
    Address: home.line[0] ?? '',
    Address2: home.line[1] ?? '',
    City: home.city ?? '',
    State: home.state ?? '',
    Zip: home.postalCode ?? '',
  };
}

async function createPatient(
  ctx: WritebackContext,
  input: WritebackInput<'Patient.create'>,
): Promise<WritebackOutcome> {
  const api = apiOf(ctx);
  // Match before create (writeback.md §2), on the API's own search: family + first given + birth date, and phone or e-mail.
  const query = new URLSearchParams({
    LName: input.name.family.trim(),
    FName: input.name.given[0]!.trim(),
    Birthdate: input.birthDate,
  });
  const search = await api.request('GET', `/patients/Simple?${query.toString()}`);
  if (!ok2xx(search.status)) return refused('the patient search (match before create)', search);
  const family = matchText(input.name.family);
  const given = matchText(input.name.given[0]);
  const phones = new Set(
    input.telecom
      .filter((c) => c.system !== 'email')
      .map((c) => phoneDigits(c.value))
      .filter((d) => d.length >= 7),
  );
  const emails = new Set(input.telecom.filter((c) => c.system === 'email').map((c) => matchText(c.value)));
  const matches = (Array.isArray(search.body) ? (search.body as Record<string, unknown>[]) : []).filter(
    (p) =>
      String(p['PatStatus'] ?? '') !== 'Deleted' &&
      matchText(p['LName']) === family &&
      matchText(p['FName']) === given &&
      String(p['Birthdate'] ?? '') === input.birthDate &&
      (['HmPhone', 'WkPhone', 'WirelessPhone'].some((c) => phones.has(phoneDigits(p[c]))) ||
        (p['Email'] !== '' && emails.has(matchText(p['Email'])))),
  );
  if (matches.length > 1) {
    return fail(
      'patient_match_ambiguous',
      'more than one patient matches name, birth date and phone or e-mail',
      {
        candidateIds: matches.map((m) => resourceId(ctx.connectionId, 'Patient', String(m['PatNum']))),
      },
    );
  }
  if (matches.length === 1) {
    if (input.matchPolicy === 'fail-if-exists')
      return fail('patient_exists', 'a patient with this name, birth date and phone or e-mail exists');
    return { ok: true, sourceId: String(matches[0]!['PatNum']), matched: true };
  }
  let priProv: string | undefined;
  if (input.primaryPractitionerId !== undefined) {
    const resolved = await resolve(ctx, 'Practitioner', input.primaryPractitionerId, 'primaryPractitionerId');
    if (typeof resolved !== 'string') return resolved;
    priProv = resolved;
  }
  let clinicNum: string | undefined;
  if (input.primaryLocationId !== undefined) {
    const resolved = await resolve(ctx, 'Location', input.primaryLocationId, 'primaryLocationId');
    if (typeof resolved !== 'string') return resolved;
    if (operatoryNum(resolved) !== undefined)
      return fail('validation_failed', 'primaryLocationId names an operatory; give the office', {
        field: 'primaryLocationId',
      });
    clinicNum = resolved;
  }
  const created = await api.request('POST', '/patients', {
    LName: input.name.family.trim(),
    FName: input.name.given[0]!.trim(),
    ...(input.name.given.length > 1 ? { MiddleI: input.name.given.slice(1).join(' ') } : {}),
    Gender: GENDER_NAME[input.gender],
    Birthdate: input.birthDate,
    ...contactColumns(input.telecom, CONTACT_COLUMNS),
    ...addressFields(input.addresses),
    ...(priProv !== undefined ? { PriProv: Number(priProv) } : {}),
    ...(clinicNum !== undefined ? { ClinicNum: Number(clinicNum) } : {}),
  });
  if (!ok2xx(created.status)) return refused('the new patient', created);
  const patNum = (created.body as Record<string, unknown> | undefined)?.['PatNum'];
  if (patNum === undefined || patNum === null)
    return fail('vendor_error', 'the Open Dental API did not return the new PatNum');
  return {
    ok: true,
    sourceId: String(patNum),
    matched: false,
    asserted: { birthDate: input.birthDate, gender: input.gender },
  };
}

async function updatePatient(
  ctx: WritebackContext,
  input: WritebackInput<'Patient.update'>,
): Promise<WritebackOutcome> {
  if (input.language !== undefined)
    return fail('validation_failed', 'language: not writable for Open Dental in this version', {
      field: 'language',
    });
  const patNum = await resolve(ctx, 'Patient', input.patientId, 'patientId');
  if (typeof patNum !== 'string') return patNum;
  const body: Record<string, unknown> = {};
  const asserted: Record<string, unknown> = {};
  if (input.name) {
    Object.assign(body, {
      LName: input.name.family.trim(),
      FName: input.name.given[0]!.trim(),
      MiddleI: input.name.given.slice(1).join(' '),
    });
  }
  if (input.preferredName !== undefined) {
    body['Preferred'] = input.preferredName ?? '';
    asserted['preferredName'] = input.preferredName ?? undefined;
  }
  if (input.telecom)
    Object.assign(body, {
      HmPhone: '',
      WkPhone: '',
      WirelessPhone: '',
      Email: '',
      ...contactColumns(input.telecom, CONTACT_COLUMNS),
    });
  if (input.addresses)
    Object.assign(body, {
      Address: '',
      Address2: '',
      City: '',
      State: '',
      Zip: '',
      ...addressFields(input.addresses),
    });
  if (input.gender) {
    body['Gender'] = GENDER_NAME[input.gender];
    asserted['gender'] = input.gender;
  }
  if (input.birthDate) {
    body['Birthdate'] = input.birthDate;
    asserted['birthDate'] = input.birthDate;
  }
  if (input.primaryPractitionerId !== undefined) {
    if (input.primaryPractitionerId === null)
      return fail(
        'validation_failed',
        'primaryPractitionerId: Open Dental requires a primary provider; give one',
        { field: 'primaryPractitionerId' },
      );
    const resolved = await resolve(ctx, 'Practitioner', input.primaryPractitionerId, 'primaryPractitionerId');
    if (typeof resolved !== 'string') return resolved;
    body['PriProv'] = Number(resolved);
    asserted['primaryPractitionerId'] = input.primaryPractitionerId;
  }
  const response = await apiOf(ctx).request('PUT', `/patients/${encodeURIComponent(patNum)}`, body);
  if (response.status === 404)
    return fail('not_found', 'patientId: the patient no longer exists in Open Dental', {
      field: 'patientId',
    });
  if (!ok2xx(response.status)) return refused('the patient update', response);
  return { ok: true, sourceId: patNum, asserted };
}

/** `Authorization: ODFHIR <DeveloperKey>/<CustomerKey>` (Open Dental API Developer Setup). */
function openDentalApiHeaders(api: NonNullable<WritebackConnectionConfig['api']>): Record<string, string> {
  if (!api.developerKey || !api.customerKey) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'the Open Dental API needs writeback.api.developerKey and writeback.api.customerKey (use ${secret:…} references)',
    );
  }
  return { authorization: `ODFHIR ${api.developerKey}/${api.customerKey}` };
}

export const openDentalWriteback = defineWriteback({
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  verification:
    'through the Open Dental API as publicly documented, tested against a FAKE of that API (@tendril/testing open-dental-api-fake) writing to the real 24.3 schema in MariaDB; never against Open Dental itself',
  apiHeaders: openDentalApiHeaders,
  commands: {
    'Appointment.book': { paths: { 'vendor-api': book } },
    'Appointment.cancel': { paths: { 'vendor-api': cancel } },
    'Appointment.confirm': { paths: { 'vendor-api': confirm } },
    'Appointment.reschedule': { paths: { 'vendor-api': reschedule } },
    'Patient.create': { paths: { 'vendor-api': createPatient } },
    'Patient.update': { paths: { 'vendor-api': updatePatient } },
  },
});
