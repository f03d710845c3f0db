import { DateTime } from 'luxon';
import { z } from 'zod';
import { TendrilError } from './errors.js';
import { Id, Instant, IsoDate } from './model/index.js';
import type { WritebackConnectionConfig } from './writeback-config.js';

/**
 * Writeback (writeback.md): the commands a vendor may send, their inputs in standard-model terms,
 * and the SDK a connector uses to declare which it supports and on which write path. Handlers are
 * plain functions that receive a narrow context (a transaction-bound SQL runner or a vendor API
 * client); the worker in @tendril/scheduler owns queueing, deadlines, read-back and results.
 */
export const WRITEBACK_COMMANDS = [
  'Appointment.book',
  'Appointment.cancel',
  'Appointment.confirm',
  'Appointment.reschedule',
  'Patient.create',
  'Patient.update',
] as const;
export type WritebackCommand = (typeof WRITEBACK_COMMANDS)[number];

export function isWritebackCommand(value: unknown): value is WritebackCommand {
  return typeof value === 'string' && (WRITEBACK_COMMANDS as readonly string[]).includes(value);
}

/** The resource a command writes: its result events are `<resource>.writeback.<status>`. */
export function commandResource(command: WritebackCommand): 'Appointment' | 'Patient' {
  return command.startsWith('Patient.') ? 'Patient' : 'Appointment';
}

/** Public lifecycle (writeback.md §3). `accepted` covers queued, executing and verifying (see `phase`). */
export const WRITEBACK_STATUSES = ['accepted', 'written', 'failed', 'timed_out'] as const;
export type WritebackStatus = (typeof WRITEBACK_STATUSES)[number];
export const WRITEBACK_PHASES = ['queued', 'executing', 'verifying', 'done'] as const;
export type WritebackPhase = (typeof WRITEBACK_PHASES)[number];

/** The public `error.code` values of a failed writeback (writeback.md §4). Logs carry TENDRIL_E_WRITEBACK_*. */
export const WRITEBACK_ERROR_CODES = [
  'not_found',
  'inactive',
  'validation_failed',
  'conflict',
  'slot_conflict',
  'permission_denied',
  'vendor_error',
  'verification_failed',
  'patient_match_ambiguous',
  'patient_exists',
  'unsupported',
] as const;
export type WritebackErrorCode = (typeof WRITEBACK_ERROR_CODES)[number];

/** Ways a connector can write: the vendor's own API (sanctioned) or SQL. */
export const WRITE_PATHS = ['vendor-api', 'sql'] as const;
export type WritePath = (typeof WRITE_PATHS)[number];

/** What `GET /v1/connections/{id}/capabilities` reports per command. */
export const CAPABILITY_STATES = ['supported', 'unsupported', 'needs-config'] as const;
export type CapabilityState = (typeof CAPABILITY_STATES)[number];

// Inputs are bounded (lengths, counts) so that an oversized field is a field error, not a write.
const Text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
/** Person names: letters (any script), marks, spaces, apostrophes, hyphens, periods. Nothing a query language needs. */
const NamePart = Text(100).regex(/^[\p{L}\p{M}' .-]+$/u, "may contain only letters, spaces, ' . and -");
const Phone = Text(40).regex(/^\+?[0-9 ().-]{7,30}$/, 'must be a phone number such as +1 555 010 0000');
const Email = Text(254).regex(/^[^\s@<>;'"`]+@[^\s@<>;'"`]+\.[A-Za-z]{2,}$/, 'must be an e-mail address');
const AddressText = Text(200).regex(/^[^<>;`\\]*$/, 'may not contain < > ; ` or \\');

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
const Note = Text(2000);

export const AppointmentBookInput = z
  .object({
    patientId: Id,
    practitionerIds: z.array(Id).min(1, 'name at least one practitioner').max(5),
    locationId: Id.optional(),
    operatoryId: Id.optional(),
    start: Instant,
    end: Instant.optional(),
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
    if (input.end !== undefined && Date.parse(input.end) <= Date.parse(input.start)) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start' });
    }
  });

export const AppointmentCancelInput = z.object({ appointmentId: Id, reason: Note.optional() }).strict();

export const AppointmentConfirmInput = z
  .object({
    appointmentId: Id,
    confirmedAt: Instant.optional(),
    method: z.enum(['phone', 'sms', 'email', 'portal', 'other']).optional(),
  })
  .strict();

export const AppointmentRescheduleInput = z
  .object({
    appointmentId: Id,
    start: Instant,
    end: Instant,
    operatoryId: Id.optional(),
    practitionerIds: z.array(Id).min(1).max(5).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (Date.parse(input.end) <= Date.parse(input.start))
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start' });
  });

export const PatientCreateInput = z
  .object({
    name: WritebackName,
    birthDate: IsoDate,
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

/** Fields `Patient.update` may carry at all; a connection's allow-list narrows this (writeback.md §2). */
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
    birthDate: IsoDate.optional(),
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

/** Validates a command's input; every problem at once, each with its field path. */
export function parseWritebackInput<C extends WritebackCommand>(
  command: C,
  input: unknown,
): { ok: true; input: WritebackInput<C> } | { ok: false; errors: WritebackFieldError[] } {
  const result = (WRITEBACK_INPUT_SCHEMAS[command] as z.ZodType).safeParse(input);
  if (result.success) return { ok: true, input: result.data as WritebackInput<C> };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => ({
      path: ['input', ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  };
}

/** The result of one statement run by a handler. */
export interface WritebackSqlResult {
  /** Rows of a SELECT (empty for other statements). */
  readonly rows: Record<string, unknown>[];
  readonly affectedRows: number;
  /** The auto-increment key of an INSERT, as text, when the engine reports one. */
  readonly insertId?: string;
}

/**
 * A SQL runner bound to the worker's write transaction. Statements use `?` placeholders and every
 * value is bound, never spliced into the text; the text alone goes to the audit journal.
 */
export interface WritebackSql {
  readonly dialect: 'mysql' | 'mssql' | 'postgres' | 'sqlite';
  query(sql: string, bindings?: readonly unknown[]): Promise<WritebackSqlResult>;
}

/** A vendor API reached by the worker (the Open Dental API); calls are recorded in the audit log. */
export interface VendorApi {
  request(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
}

/** What a handler gets: the connection, references resolved on demand, and its write path. */
export interface WritebackContext {
  readonly connectionId: string;
  /** The office's IANA zone: vendor wall times are written in it. */
  readonly timezone: string;
  /** The connection's validated connector options. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly settings: WritebackConnectionConfig;
  /** Set on the `sql` path. */
  readonly sql?: WritebackSql;
  /** Set on the `vendor-api` path. */
  readonly api?: VendorApi;
  /**
   * The vendor key of a framework id: from the shadow store, or from an earlier writeback's
   * result for a record not yet polled. Undefined when unknown (`not_found`).
   */
  sourceIdOf(
    resourceType: 'Patient' | 'Practitioner' | 'Location' | 'Appointment' | 'AppointmentType',
    id: string,
  ): Promise<string | undefined>;
  now(): Date;
}

/**
 * What a handler reports. `done`: the record's vendor key, so the worker reads it back with the
 * polling query and mapper, plus the model fields the command asserts (compared on read-back).
 * `failed`: a public code; the EHR is unchanged (or restored: `compensated`).
 */
export type WritebackOutcome =
  | {
      readonly ok: true;
      readonly sourceId: string;
      readonly asserted?: Readonly<Record<string, unknown>>;
      /** `Patient.create` found the patient instead of creating one. */
      readonly matched?: boolean;
    }
  | {
      readonly ok: false;
      readonly code: WritebackErrorCode;
      /** Names fields and rules, never values. */
      readonly message: string;
      readonly details?: Readonly<Record<string, unknown>>;
      readonly compensated?: boolean;
    };

export type WritebackHandler<C extends WritebackCommand = WritebackCommand> = (
  ctx: WritebackContext,
  input: WritebackInput<C>,
) => Promise<WritebackOutcome>;

/** One command as a connector supports it: per write path, a handler; and the tables it writes. */
export interface WritebackCommandSpec<C extends WritebackCommand = WritebackCommand> {
  readonly paths: Partial<Record<WritePath, WritebackHandler<C>>>;
  /** Tables the `sql` path writes, with the rights it needs: `tendril grants --writeback` grants exactly these. */
  readonly tables?: Readonly<Record<string, readonly ('INSERT' | 'UPDATE' | 'DELETE')[]>>;
}

export interface WritebackDefinition {
  /** Model resource → the stream whose table and mapper read a written record back (writeback.md §6). */
  readonly readBack: Readonly<Partial<Record<'Appointment' | 'Patient', string>>>;
  readonly commands: { readonly [C in WritebackCommand]?: WritebackCommandSpec<C> };
  /**
   * True when the vendor forbids outside SQL writes (Open Dental's integrity hashes, writeback.md
   * §9): the `sql` path then runs only with `allowUnsafeSqlWrites`, meant for fixture databases.
   */
  readonly sqlNeedsUnsafeOptIn?: boolean;
  /** A sentence for docs and capabilities: how the writes were verified (fixture path, fake API…). */
  readonly verification: string;
  /**
   * The request headers of the vendor API on the `vendor-api` path (its authorization scheme, e.g.
   * Open Dental's `ODFHIR <DeveloperKey>/<CustomerKey>`), from `connections[].writeback.api`. Pure:
   * the agent owns the HTTP client. Throws a TendrilError naming the missing key.
   */
  readonly apiHeaders?: (
    api: NonNullable<WritebackConnectionConfig['api']>,
  ) => Readonly<Record<string, string>>;
}

/**
 * Declares a connector's writeback handlers. Checked once when the plugin loads: every command
 * names at least one path, and a `sql` path lists the tables it writes (grants derive from them).
 */
export function defineWriteback(definition: WritebackDefinition): WritebackDefinition {
  for (const [command, spec] of Object.entries(definition.commands) as [
    string,
    WritebackCommandSpec | undefined,
  ][]) {
    if (!isWritebackCommand(command)) {
      throw new TendrilError(
        'TENDRIL_E_CONNECTOR_DEFINITION',
        `writeback: "${command}" is not a command; use one of ${WRITEBACK_COMMANDS.join(', ')}`,
        {
          details: { command },
        },
      );
    }
    if (!spec || Object.keys(spec.paths).length === 0) {
      throw new TendrilError(
        'TENDRIL_E_CONNECTOR_DEFINITION',
        `writeback ${command}: declare at least one write path`,
        { details: { command } },
      );
    }
    if (spec.paths.sql && (!spec.tables || Object.keys(spec.tables).length === 0)) {
      throw new TendrilError(
        'TENDRIL_E_CONNECTOR_DEFINITION',
        `writeback ${command}: a sql path must list the tables it writes`,
        { details: { command } },
      );
    }
  }
  return Object.freeze(definition);
}

/** How one command would run on one connection: the path chosen, or why it cannot run. */
export interface CommandCapability {
  readonly state: CapabilityState;
  readonly writePath?: WritePath;
  /** For `needs-config` and `unsupported`: what is missing. */
  readonly reason?: string;
}

/**
 * Decides each command's capability for a connection: unsupported when the connector lacks it;
 * needs-config when writeback is off, credentials for the chosen path are missing, or the `sql`
 * path of a vendor that forbids it lacks the fixture-only opt-in.
 */
export function writebackCapabilities(
  definition: WritebackDefinition | undefined,
  settings: WritebackConnectionConfig | undefined,
): Record<WritebackCommand, CommandCapability> {
  const result = {} as Record<WritebackCommand, CommandCapability>;
  for (const command of WRITEBACK_COMMANDS) {
    const spec = definition?.commands[command] as WritebackCommandSpec | undefined;
    if (!spec) {
      result[command] = { state: 'unsupported', reason: 'the connector has no handler for this command' };
      continue;
    }
    const available = WRITE_PATHS.filter((p) => spec.paths[p] !== undefined);
    const path: WritePath =
      settings?.writePath && available.includes(settings.writePath) ? settings.writePath : available[0]!;
    if (settings?.writePath && !available.includes(settings.writePath)) {
      result[command] = {
        state: 'unsupported',
        reason: `the connector has no ${settings.writePath} path for this command`,
      };
    } else if (!settings || !settings.enabled) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason: 'set connections[].writeback.enabled: true',
      };
    } else if (path === 'sql' && !settings.database) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason:
          'set connections[].writeback.database (a login with the rights of tendril grants --writeback)',
      };
    } else if (path === 'sql' && definition?.sqlNeedsUnsafeOptIn && !settings.allowUnsafeSqlWrites) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason:
          'the vendor forbids outside SQL writes; use writePath: vendor-api, or allowUnsafeSqlWrites: true on a fixture database only',
      };
    } else if (path === 'vendor-api' && !settings.api) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason: 'set connections[].writeback.api (the vendor API URL and keys)',
      };
    } else {
      result[command] = { state: 'supported', writePath: path };
    }
  }
  return result;
}

/** Tables and rights the `sql` path of a connector needs, merged over its commands (for grants). */
export function tablesWritten(
  definition: WritebackDefinition | undefined,
): Map<string, Set<'INSERT' | 'UPDATE' | 'DELETE'>> {
  const tables = new Map<string, Set<'INSERT' | 'UPDATE' | 'DELETE'>>();
  for (const spec of Object.values(definition?.commands ?? {}) as (WritebackCommandSpec | undefined)[]) {
    if (!spec?.paths.sql) continue;
    for (const [table, rights] of Object.entries(spec.tables ?? {})) {
      const set = tables.get(table) ?? new Set();
      rights.forEach((r) => set.add(r));
      tables.set(table, set);
    }
  }
  return tables;
}

/** An instant as the office's wall clock: `YYYY-MM-DD` and `HH:MM:SS`, for vendors that store local times. */
export function instantToLocal(instant: string, zone: string): { date: string; time: string } {
  const local = DateTime.fromISO(instant, { zone: 'utc' }).setZone(zone);
  if (!local.isValid) {
    throw new TendrilError(
      'TENDRIL_E_INTERNAL',
      'an instant could not be converted to the office zone; check connections[].timezone',
      { details: { zone } },
    );
  }
  return { date: local.toFormat('yyyy-MM-dd'), time: local.toFormat('HH:mm:ss') };
}

/** Digits of a phone number, for matching (writeback.md §2: keep phone digits only). */
export function phoneDigits(value: unknown): string {
  const digits = typeof value === 'string' ? value.replace(/\D/g, '') : '';
  // A leading US country code does not make two numbers different.
  return digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
}

/** Case-folded, trimmed text for name matching. */
export function matchText(value: unknown): string {
  return typeof value === 'string' ? value.normalize('NFC').trim().toLocaleLowerCase('en-US') : '';
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
