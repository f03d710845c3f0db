import {
  cellText,
  blankColumns,
  defineWriteback,
  modelColumns,
  optionalRef,
  ref,
  refList,
  rule,
  writebackFailure,
  type Resolved,
  type WritebackOutcome,
} from '@tendril/core';
import { apiCall as call, openDentalApiHeaders, openDentalSources } from './open-dental-api.js';
import { optionsOf } from './options.js';
import { PATTERN_MINUTES_PER_CHARACTER } from './pattern.js';
import { appointmentTable } from './tables/appointment.js';
import { appointmentTypeTable } from './tables/appointmenttype.js';
import { clinicTable } from './tables/clinic.js';
import { operatoryTable } from './tables/operatory.js';
import { patientTable } from './tables/patient.js';
import { providerTable } from './tables/provider.js';

/**
 * Open Dental writeback through the Open Dental API (docs/writeback.md, "Open Dental specifics (through the Open Dental API)"):
 * Open Dental's Database Integrity feature salts a `SecurityHash` over `appointment` and `patient`
 * rows and requires outside software to write through its API, so every command is a REST call
 * (`vendor-api`, `open-dental-api.ts`); there is no `sql` path. The tables are MyISAM and the API
 * has no transaction: the slot check reads the day, then posts, so a booking made in Open Dental
 * between the two can still overlap (the documented residual race).
 */

const GENDER_NAME = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Unknown' } as const;
/** The patient fields Tendril sends through the API, of the columns the patients stream maps. */
const API_PATIENT_FIELDS = new Set([
  ...'LName FName MiddleI Preferred Gender Birthdate PriProv ClinicNum Address Address2 City State Zip'.split(
    ' ',
  ),
  ...Object.keys(blankColumns(patientTable, 'telecom')),
]);
/** Key fields the API takes as numbers. */
const NUMERIC = new Set(['PriProv', 'ClinicNum']);
const TWO_PROVIDERS = rule.maxItems(
  'practitionerIds',
  2,
  'Open Dental books a dentist and a hygienist at most',
);
const scheduled = (what: string) => ({ in: ['booked' as const, 'arrived' as const], message: what });

/** The slot as Open Dental stores it: `AptDateTime` office wall time, `Pattern` one `X` (provider time) per 5 minutes. */
function slotFields(slot: { start: { date: string; time: string }; minutes: number }) {
  return {
    AptDateTime: `${slot.start.date} ${slot.start.time}`,
    Pattern: 'X'.repeat(slot.minutes / PATTERN_MINUTES_PER_CHARACTER),
  };
}

/** Patient fields as the API takes them, from the patients stream's declaration ('' clears a field). */
function patientBody(input: Readonly<Record<string, unknown>>, refs: Resolved['refs']) {
  const columns = modelColumns(patientTable, input, refs, { codes: { gender: GENDER_NAME }, empty: '' });
  return Object.fromEntries(
    Object.entries(columns)
      .filter(([field]) => API_PATIENT_FIELDS.has(field))
      .map(([field, value]) => [field, NUMERIC.has(field) ? Number(value) : (value ?? '')]),
  );
}

const written = (sourceId: unknown, what: string): WritebackOutcome =>
  sourceId === undefined || sourceId === null
    ? writebackFailure('vendor_error', `the Open Dental API did not return the new ${what}`)
    : { ok: true, sourceId: cellText(sourceId) };

export const openDentalWriteback = defineWriteback({
  path: 'vendor-api',
  verification:
    'through the Open Dental API as publicly documented, tested against a FAKE of that API (connectors/open-dental/src/testing/api-fake.ts) writing to the real 24.3 schema in MariaDB; never against Open Dental itself',
  apiHeaders: openDentalApiHeaders,
  streams: {
    patients: patientTable,
    practitioners: providerTable,
    offices: clinicTable,
    operatories: operatoryTable,
    'appointment-types': appointmentTypeTable,
    appointments: appointmentTable,
  },
  readBack: { Appointment: 'appointments', Patient: 'patients' },
  // Same operatory always; same dentist or hygienist unless providerDoubleBooking.
  slot: {
    stream: 'appointments',
    gridMinutes: PATTERN_MINUTES_PER_CHARACTER,
    sameDay: true,
    operatory: true,
    practitioner: true,
    frees: ['cancelled', 'noshow', 'waitlist'],
  },
  match: { stream: 'patients', family: 'LName', given: 'FName', birthDate: 'Birthdate' },
  sources: openDentalSources,
  commands: {
    'Appointment.book': {
      rules: [
        rule.required('end', 'the time pattern is written from it'),
        rule.required('operatoryId', 'Open Dental books by operatory'),
        TWO_PROVIDERS,
      ],
      refs: {
        patientId: 'patients',
        practitionerIds: 'practitioners',
        operatoryId: 'operatories',
        locationId: 'offices',
        appointmentTypeId: 'appointment-types',
      },
      slot: true,
      async run(ctx, input, resolved) {
        const [dentist, hygienist] = refList(resolved, 'practitionerIds').map((p) => Number(p.key[0]));
        const optional = (name: string, key: string | undefined) =>
          key === undefined ? {} : { [name]: Number(key) };
        const posted = await call(ctx, 'the new appointment', 'POST', '/appointments', {
          PatNum: Number(ref(resolved, 'patientId').key[0]),
          Op: Number(ref(resolved, 'operatoryId').key[0]),
          ...slotFields(resolved.slot!),
          ProvNum: dentist,
          ...(hygienist === undefined ? {} : { ProvHyg: hygienist }),
          ...optional('ClinicNum', optionalRef(resolved, 'locationId')?.key[0]),
          ...optional('AppointmentTypeNum', optionalRef(resolved, 'appointmentTypeId')?.key[0]),
          ...(input.note === undefined ? {} : { Note: input.note }),
        });
        return 'body' in posted
          ? written((posted.body as Record<string, unknown>)['AptNum'], 'AptNum')
          : posted;
      },
    },
    'Appointment.cancel': {
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: scheduled(
          'only a scheduled appointment can be cancelled (Open Dental breaks scheduled appointments only)',
        ),
      },
      async run(ctx, _input, { target }) {
        // Break, left on the schedule (crossed out), typed Cancelled: what Open Dental's "Break" button does.
        const body = { sendToUnscheduledList: 'false', breakType: 'Cancelled' };
        const done = await call(
          ctx,
          'the cancellation (Break)',
          'PUT',
          `/appointments/${target!.key[0]}/Break`,
          body,
        );
        const status = optionsOf({ options: ctx.options }).brokenAppointmentStatus;
        return 'body' in done ? { ok: true, sourceId: target!.sourceId, asserted: { status } } : done;
      },
    },
    'Appointment.confirm': {
      rules: [
        rule.setting(
          'confirmStatus',
          { pattern: /[1-9][0-9]{0,14}/ },
          'writeback.confirmStatus must be an Open Dental definition.DefNum (category ApptConfirmed)',
        ),
      ],
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: scheduled('only a scheduled appointment can be confirmed'),
      },
      async run(ctx, _input, { target }) {
        const code = ctx.settings.confirmStatus;
        const body = code === undefined ? { confirmVal: 'Confirmed' } : { defNum: Number(code) };
        const done = await call(
          ctx,
          'the confirmation',
          'PUT',
          `/appointments/${target!.key[0]}/Confirm`,
          body,
        );
        // `confirmed` is not mapped for Open Dental (a per-site definition): read-back asserts the status only.
        return 'body' in done
          ? { ok: true, sourceId: target!.sourceId, asserted: { status: 'booked' } }
          : done;
      },
    },
    'Appointment.reschedule': {
      rules: [TWO_PROVIDERS],
      target: {
        field: 'appointmentId',
        stream: 'appointments',
        status: scheduled('only a scheduled appointment can be rescheduled; book a new one'),
      },
      refs: { operatoryId: 'operatories', practitionerIds: 'practitioners' },
      slot: true,
      async run(ctx, input, resolved) {
        const target = resolved.target!;
        const providers = refList(resolved, 'practitionerIds').map((p) => Number(p.key[0]));
        const done = await call(ctx, 'the new time', 'PUT', `/appointments/${target.key[0]}`, {
          ...slotFields(resolved.slot!),
          Op: Number(optionalRef(resolved, 'operatoryId')?.key[0] ?? target.row['Op']),
          ...(input.practitionerIds ? { ProvNum: providers[0], ProvHyg: providers[1] ?? 0 } : {}),
        });
        return 'body' in done ? { ok: true, sourceId: target.sourceId } : done;
      },
    },
    'Patient.create': {
      match: true,
      refs: { primaryPractitionerId: 'practitioners', primaryLocationId: 'offices' },
      async run(ctx, input, resolved) {
        const body = patientBody(input, resolved.refs);
        // A new patient's empty contact and address fields need not be sent.
        const sent = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== ''));
        const posted = await call(ctx, 'the new patient', 'POST', '/patients', sent);
        if (!('body' in posted)) return posted;
        const outcome = written((posted.body as Record<string, unknown>)['PatNum'], 'PatNum');
        return outcome.ok
          ? { ...outcome, matched: false, asserted: { birthDate: input.birthDate, gender: input.gender } }
          : outcome;
      },
    },
    'Patient.update': {
      rules: [
        rule.absent('language', 'not writable for Open Dental in this version'),
        rule.notNull('primaryPractitionerId', 'Open Dental requires a primary provider; give one'),
      ],
      refs: { patientId: 'patients', primaryPractitionerId: 'practitioners' },
      async run(ctx, input, resolved) {
        const patNum = ref(resolved, 'patientId').key[0]!;
        const done = await call(
          ctx,
          'the patient update',
          'PUT',
          `/patients/${encodeURIComponent(patNum)}`,
          patientBody(input, resolved.refs),
        );
        if (!('body' in done))
          return done.code === 'not_found'
            ? writebackFailure('not_found', 'patientId: the patient no longer exists in Open Dental', {
                field: 'patientId',
              })
            : done;
        const asserted = {
          ...(input.preferredName === undefined ? {} : { preferredName: input.preferredName ?? undefined }),
          ...(input.gender ? { gender: input.gender } : {}),
          ...(input.birthDate ? { birthDate: input.birthDate } : {}),
          ...(input.primaryPractitionerId ? { primaryPractitionerId: input.primaryPractitionerId } : {}),
        };
        return { ok: true, sourceId: patNum, asserted };
      },
    },
  },
});
