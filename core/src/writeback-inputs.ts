import { z } from 'zod';
import { Id } from './model/index.js';
import type { WritebackCommand } from './writeback-commands.js';
import { WRITEBACK_COMMANDS } from './writeback-commands.js';

/**
 * The inputs of every writeback command in standard-model terms (docs/writeback.md), checked before
 * anything is queued: bounded lengths and counts, real calendar dates and times, no control
 * characters. Checks that depend on the clock or the connection (a birth date in the future, a
 * booking outside the horizon) run in {@link parseWritebackInput}, after the schema.
 */

/** C0 and C1 control characters and DEL; lone UTF-16 surrogates (not text at all). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;
/** The same, but line breaks and tabs are allowed (free-text notes). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_EXCEPT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|\p{Cs}/u;
const NO_CONTROL = 'may not contain control characters (NUL, escape codes…)';

// Inputs are bounded (lengths, counts) so that an oversized field is a field error, not a write.
const Text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), NO_CONTROL);
/** Person names: letters (any script), marks, spaces, apostrophes, hyphens, periods. Nothing a query language needs. */
const NamePart = Text(100).regex(/^[\p{L}\p{M}' .-]+$/u, "may contain only letters, spaces, ' . and -");
const Phone = Text(40).regex(/^\+?[0-9 ().-]{7,30}$/, 'must be a phone number such as +1 555 010 0000');
const Email = Text(254).regex(/^[^\s@<>;'"`]+@[^\s@<>;'"`]+\.[A-Za-z]{2,}$/, 'must be an e-mail address');
const AddressText = Text(200).regex(/^[^<>;`\\]*$/, 'may not contain < > ; ` or \\');
/** Free text (notes, reasons): line breaks and tabs allowed, other control characters not. */
const Note = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(2000, 'must be at most 2000 characters')
  .refine((value) => !CONTROL_EXCEPT_LINES.test(value), NO_CONTROL);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?Z$/;

/** True for a date that exists in the calendar (no Feb 30, no month 13, no day 0). */
function realDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return (
    month >= 1 && month <= 12 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && year >= 1
  );
}

/** `YYYY-MM-DD` that is a real calendar date from 1900 on (`0000-00-00`, 1066, Feb 30 are refused). */
export function isWritebackDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return year >= 1900 && realDate(year, month, day);
}

/**
 * An ISO-8601 UTC instant (`…Z`, at most milliseconds) naming a real moment from 1900 on: a real
 * calendar date, hours 00–23 (`T24:00` is refused, not rolled over), minutes and seconds 00–59.
 */
export function isWritebackInstant(value: string): boolean {
  const m = INSTANT.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return year >= 1900 && realDate(year, month, day) && hour <= 23 && minute <= 59 && second <= 59;
}

/** A real calendar date (see {@link isWritebackDate}). */
export const WritebackDate = z
  .string()
  .regex(DATE, 'must be YYYY-MM-DD')
  .refine(isWritebackDate, 'must be a real calendar date from 1900-01-01 on');
/** A real UTC instant (see {@link isWritebackInstant}). */
export const WritebackInstant = z
  .string()
  .regex(INSTANT, 'must be an ISO-8601 UTC instant ending in Z, such as 2030-01-02T15:30:00Z')
  .refine(isWritebackInstant, 'must be a real date and time (hours 00–23) from 1900 on');

const WritebackName = z
  .object({
    family: NamePart,
    given: z.array(NamePart).min(1, 'add at least the first given name').max(3),
    prefix: z.array(NamePart).max(2).optional(),
    suffix: z.array(NamePart).max(2).optional(),
  })
  .strict();

const WritebackContactPoint = z.discriminatedUnion('system', [
  z
    .object({ system: z.literal('phone'), value: Phone, use: z.enum(['home', 'work', 'mobile']).optional() })
    .strict(),
  z
    .object({ system: z.literal('sms'), value: Phone, use: z.enum(['home', 'work', 'mobile']).optional() })
    .strict(),
  z
    .object({ system: z.literal('email'), value: Email, use: z.enum(['home', 'work', 'mobile']).optional() })
    .strict(),
]);

const WritebackAddress = z
  .object({
    use: z.enum(['home', 'work', 'billing', 'temp']).optional(),
    line: z.array(AddressText).min(1).max(2),
    city: AddressText.optional(),
    state: AddressText.optional(),
    postalCode: Text(20)
      .regex(/^[A-Za-z0-9 -]+$/, 'must be a postal code')
      .optional(),
    country: Text(60)
      .regex(/^[A-Za-z .-]+$/, 'must be a country name or code')
      .optional(),
  })
  .strict();

const Gender = z.enum(['male', 'female', 'other', 'unknown']);
/** The longest appointment a command may carry: a booking never spans more than a day. */
const MAX_APPOINTMENT_MS = 24 * 3600_000;

/** `end` after `start`, and at most a day later. */
function checkInterval(input: { start: string; end?: string | undefined }, ctx: z.RefinementCtx): void {
  if (input.end === undefined) return;
  const length = Date.parse(input.end) - Date.parse(input.start);
  if (!Number.isFinite(length)) return;
  if (length <= 0) ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start' });
  else if (length > MAX_APPOINTMENT_MS)
    ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be at most 24 hours after start' });
}

export const AppointmentBookInput = z
  .object({
    patientId: Id,
    practitionerIds: z.array(Id).min(1, 'name at least one practitioner').max(5),
    locationId: Id.optional(),
    operatoryId: Id.optional(),
    start: WritebackInstant,
    end: WritebackInstant.optional(),
    appointmentTypeId: Id.optional(),
    note: Note.optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.end === undefined && input.appointmentTypeId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['end'],
        message: 'give end, or appointmentTypeId for its default length',
      });
    }
    checkInterval(input, ctx);
  });

export const AppointmentCancelInput = z.object({ appointmentId: Id, reason: Note.optional() }).strict();

export const AppointmentConfirmInput = z
  .object({
    appointmentId: Id,
    confirmedAt: WritebackInstant.optional(),
    method: z.enum(['phone', 'sms', 'email', 'portal', 'other']).optional(),
  })
  .strict();

export const AppointmentRescheduleInput = z
  .object({
    appointmentId: Id,
    start: WritebackInstant,
    end: WritebackInstant,
    operatoryId: Id.optional(),
    practitionerIds: z.array(Id).min(1).max(5).optional(),
  })
  .strict()
  .superRefine(checkInterval);

export const PatientCreateInput = z
  .object({
    name: WritebackName,
    birthDate: WritebackDate,
    gender: Gender,
    telecom: z
      .array(WritebackContactPoint)
      .min(1, 'add a phone or e-mail (match before create needs one)')
      .max(6),
    addresses: z.array(WritebackAddress).max(2).default([]),
    primaryPractitionerId: Id.optional(),
    primaryLocationId: Id.optional(),
    matchPolicy: z.enum(['return-existing', 'fail-if-exists']).default('return-existing'),
  })
  .strict();

/** Fields `Patient.update` may carry at all; a connection's allow-list narrows this (docs/writeback.md, "What is implemented"). */
export const PATIENT_UPDATE_FIELDS = [
  'name',
  'preferredName',
  'telecom',
  'addresses',
  'language',
  'gender',
  'primaryPractitionerId',
  'birthDate',
] as const;
export type PatientUpdateField = (typeof PATIENT_UPDATE_FIELDS)[number];
/** The default allow-list: `birthDate` needs an explicit per-connection opt-in. */
export const DEFAULT_PATIENT_UPDATE_FIELDS: readonly PatientUpdateField[] = [
  'name',
  'preferredName',
  'telecom',
  'addresses',
  'language',
  'gender',
  'primaryPractitionerId',
];

export const PatientUpdateInput = z
  .object({
    patientId: Id,
    name: WritebackName.optional(),
    preferredName: NamePart.nullable().optional(),
    telecom: z.array(WritebackContactPoint).max(6).optional(),
    addresses: z.array(WritebackAddress).max(2).optional(),
    language: z
      .string()
      .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/, 'must be a BCP 47 tag such as en or es-MX')
      .nullable()
      .optional(),
    gender: Gender.optional(),
    primaryPractitionerId: Id.nullable().optional(),
    birthDate: WritebackDate.optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (Object.keys(input).length === 1)
      ctx.addIssue({ code: 'custom', path: [], message: 'name at least one field to change' });
  });

/** Every command's input schema: the API validates against these before anything is queued. */
export const WRITEBACK_INPUT_SCHEMAS = {
  'Appointment.book': AppointmentBookInput,
  'Appointment.cancel': AppointmentCancelInput,
  'Appointment.confirm': AppointmentConfirmInput,
  'Appointment.reschedule': AppointmentRescheduleInput,
  'Patient.create': PatientCreateInput,
  'Patient.update': PatientUpdateInput,
} as const satisfies Record<WritebackCommand, z.ZodType>;

export type WritebackInput<C extends WritebackCommand> = z.output<(typeof WRITEBACK_INPUT_SCHEMAS)[C]>;

/** One field problem of a rejected input: a path inside `input` and what is wrong (never the value). */
export interface WritebackFieldError {
  readonly path: string;
  readonly message: string;
}

/** The clock and the connection's limits the relative checks of {@link parseWritebackInput} use. */
export interface WritebackInputLimits {
  readonly now: Date;
  /** How far ahead a booking or a new time may lie (`writeback.bookingHorizonDays`). */
  readonly bookingHorizonDays: number;
}

/** The latest zone is UTC+14: a birth date up to "today" there is not in the future anywhere. */
const LATEST_ZONE_MS = 14 * 3600_000;

/** Checks against the clock and the connection: no future births, bookings inside the horizon. */
function relativeErrors(
  command: WritebackCommand,
  input: Record<string, unknown>,
  limits: WritebackInputLimits,
): WritebackFieldError[] {
  const errors: WritebackFieldError[] = [];
  const now = limits.now.getTime();
  const latestToday = new Date(now + LATEST_ZONE_MS).toISOString().slice(0, 10);
  const birthDate = input['birthDate'];
  if (typeof birthDate === 'string' && birthDate > latestToday)
    errors.push({ path: 'input.birthDate', message: 'must not be in the future' });
  const start = input['start'];
  if ((command === 'Appointment.book' || command === 'Appointment.reschedule') && typeof start === 'string') {
    const at = Date.parse(start);
    if (at <= now) errors.push({ path: 'input.start', message: 'must be in the future' });
    else if (at > now + limits.bookingHorizonDays * 86_400_000)
      errors.push({
        path: 'input.start',
        message: `must be at most ${limits.bookingHorizonDays} days ahead (writeback.bookingHorizonDays)`,
      });
  }
  return errors;
}

/**
 * Validates a command's input; every problem at once, each with its field path (`input.…`). With
 * `limits`, also the checks that depend on the clock and the connection (see {@link relativeErrors}).
 */
export function parseWritebackInput<C extends WritebackCommand>(
  command: C,
  input: unknown,
  limits?: WritebackInputLimits,
): { ok: true; input: WritebackInput<C> } | { ok: false; errors: WritebackFieldError[] } {
  const result = (WRITEBACK_INPUT_SCHEMAS[command] as z.ZodType).safeParse(input);
  if (!result.success) {
    return {
      ok: false,
      errors: result.error.issues.map((issue) => ({
        path: ['input', ...issue.path.map(String)].join('.'),
        message: issue.message,
      })),
    };
  }
  const parsed = result.data as WritebackInput<C>;
  const errors = limits ? relativeErrors(command, parsed, limits) : [];
  return errors.length > 0 ? { ok: false, errors } : { ok: true, input: parsed };
}

/** JSON Schemas (2020-12) of every command's input, from the schemas the API enforces (for the OpenAPI document). */
export function writebackInputJsonSchemas(): Record<WritebackCommand, Record<string, unknown>> {
  return Object.fromEntries(
    WRITEBACK_COMMANDS.map((command) => [
      command,
      z.toJSONSchema(WRITEBACK_INPUT_SCHEMAS[command], {
        io: 'input',
        unrepresentable: 'any',
        target: 'draft-2020-12',
      }) as Record<string, unknown>,
    ]),
  ) as Record<WritebackCommand, Record<string, unknown>>;
}
