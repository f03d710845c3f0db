import { DateTime } from 'luxon';
import { TendrilError } from './errors.js';
import type { ClockDomain, ColumnDeclarations, RowCondition } from './sdk.js';
import type { WritebackErrorCode } from './writeback-commands.js';
import type { WritebackConnectionConfig } from './writeback-config.js';

/**
 * Writeback (docs/writeback.md): what a command's handler receives and reports, the SQL contract
 * the write transaction offers, and which commands a connection can run. Handlers are plain
 * functions over a narrow context (a transaction-bound statement runner or a vendor API client);
 * the worker in @tendril/scheduler owns queueing, deadlines, read-back and results.
 */

/** A row as a database driver returns it, keyed by declared column names. */
export type WritebackRow = Readonly<Record<string, unknown>>;

/**
 * A value the write clock fills in, in a clock domain (sdk `ClockDomain`): `db-utc` the database
 * clock in UTC, `db-local` the database clock as the office's wall time, `client` the agent's
 * clock as the office's wall time. @tendril/sql turns it into the dialect's expression (or a
 * bound value for `client`), so a written stamp lands in the domain the read side polls by.
 */
export interface WriteStamp {
  readonly stamp: ClockDomain;
  /** Fraction digits of the column (0–6; `client` stamps carry at most 3). Default 0. */
  readonly precision?: number;
}

/** A stamp in `clock`'s domain, for a column written with "now". */
export function writeStamp(clock: ClockDomain, precision?: number): WriteStamp {
  return precision === undefined ? { stamp: clock } : { stamp: clock, precision };
}

export function isWriteStamp(value: unknown): value is WriteStamp {
  return typeof value === 'object' && value !== null && 'stamp' in value && !(value instanceof Uint8Array);
}

/** A column value of an INSERT or UPDATE. Every value is bound, never spliced into the text. */
export type WriteValue = string | number | boolean | null | Uint8Array | WriteStamp;

/** A row condition of a write-path statement: equality, NULL, a half-open range or a list. */
export type WhereValue =
  | string
  | number
  | null
  | { readonly gte: string | number; readonly lt: string | number }
  | { readonly in: readonly (string | number)[] };

/** A table as the write transaction touches it on one connection: names resolved, types declared. */
export interface WriteTable {
  readonly table: string;
  /** Declared column → vendor type (read columns plus the writeback's write-only columns). */
  readonly columns: ColumnDeclarations;
  /** Per-site physical names (`connections[].tableMap`); absent: the declared name. */
  readonly columnNames?: Readonly<Record<string, string>>;
  /** A stream's static filter, applied to every read of it. */
  readonly where?: RowCondition;
  /**
   * The stamp the read side polls this table by: set on every INSERT and UPDATE in its clock
   * domain, unless the statement sets it (docs/writeback.md, "Clock domains").
   */
  readonly stamp?: { readonly column: string; readonly clock: ClockDomain; readonly precision: number };
}

/** A read inside the write transaction: the columns (default: every declared one), a filter, a lock. */
export interface WriteSelect {
  readonly columns?: readonly string[];
  readonly where?: Readonly<Record<string, WhereValue>>;
  /** Lock the rows (and, on SQL Server, the key range) until the transaction ends. */
  readonly lock?: boolean;
  /** One aggregate instead of rows: `{ fn: 'max', column: 'pid', as: 'NEXTID' }`. */
  readonly aggregate?: { readonly fn: 'max' | 'min'; readonly column: string; readonly as: string };
}

/**
 * The statements of one write transaction, built by @tendril/sql with knex (parameterized, quoted
 * identifiers): connectors never write SQL text. Each statement's text, without values, goes to
 * the audit journal.
 */
export interface WritebackSql {
  readonly dialect: 'mysql' | 'mssql' | 'postgres' | 'sqlite';
  select(table: WriteTable, query: WriteSelect): Promise<WritebackRow[]>;
  /** One row; `insertId`: the auto-increment key, when the engine reports one. */
  insert(
    table: WriteTable,
    values: Readonly<Record<string, WriteValue>>,
  ): Promise<{ readonly insertId?: string }>;
  update(
    table: WriteTable,
    set: Readonly<Record<string, WriteValue>>,
    where: Readonly<Record<string, WhereValue>>,
  ): Promise<{ readonly affectedRows: number }>;
}

/**
 * What a handler writes through on the `sql` path: the tables its writeback declares, by their
 * declared names (`tables` of `defineWriteback`); each statement is checked against the command's
 * `writes` and the table's declared columns before it is built.
 */
export interface WritebackDb {
  readonly dialect: WritebackSql['dialect'];
  select(table: string, query: WriteSelect): Promise<WritebackRow[]>;
  /** One row; a value `undefined` is the table's "no value" ('' or NULL, as it declares). */
  insert(
    table: string,
    values: Readonly<Record<string, WriteValue | undefined>>,
  ): Promise<{ readonly insertId?: string }>;
  /** See `insert` for `undefined` values. */
  update(
    table: string,
    set: Readonly<Record<string, WriteValue | undefined>>,
    where: Readonly<Record<string, WhereValue>>,
  ): Promise<{ readonly affectedRows: number }>;
  /** The next id of a table without an auto-increment key: `MAX(column) + 1` among `where`, locked. */
  nextId(table: string, column: string, where?: Readonly<Record<string, WhereValue>>): Promise<string>;
}

/** A vendor API reached by the worker (the Open Dental API); calls are recorded in the audit log. */
export interface VendorApi {
  request(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
}

/** The resource types a writeback input can name by framework id. */
export type ReferencedType = 'Patient' | 'Practitioner' | 'Location' | 'Appointment' | 'AppointmentType';

/** What a handler gets: the connection, its settings and its write path. */
export interface WritebackContext {
  readonly connectionId: string;
  /** The office's IANA zone: vendor wall times are written in it. */
  readonly timezone: string;
  /** The connection's validated connector options. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly settings: WritebackConnectionConfig;
  /** Set on the `sql` path. */
  readonly db?: WritebackDb;
  /** Set on the `vendor-api` path. */
  readonly api?: VendorApi;
  /**
   * The vendor key of a framework id: from the shadow store, or from an earlier writeback's
   * result for a record not yet polled. Undefined when unknown (`not_found`).
   */
  sourceIdOf(resourceType: ReferencedType, id: string): Promise<string | undefined>;
  now(): Date;
}

/** The write transaction of a `sql`-path handler (a definition error when run on another path). */
export function sqlDb(ctx: WritebackContext): WritebackDb {
  if (!ctx.db)
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      'writeback: this command runs on the sql path only',
    );
  return ctx.db;
}

/**
 * What a handler reports. `ok`: the record's vendor key, so the worker reads it back with the
 * polling query and mapper, plus the model fields the command asserts (compared on read-back).
 * Not `ok`: a public code; the EHR is unchanged (or restored: `compensated`).
 */
export type WritebackOutcome =
  | {
      readonly ok: true;
      readonly sourceId: string;
      readonly asserted?: Readonly<Record<string, unknown>>;
      /** `Patient.create` found the patient instead of creating one. */
      readonly matched?: boolean;
    }
  | WritebackFailure;

export interface WritebackFailure {
  readonly ok: false;
  readonly code: WritebackErrorCode;
  /** Names fields and rules, never values. */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly compensated?: boolean;
}

/** A failed outcome with its public error code. */
export function writebackFailure(
  code: WritebackErrorCode,
  message: string,
  details?: Record<string, unknown>,
): WritebackFailure {
  return { ok: false, code, message, ...(details ? { details } : {}) };
}

/** True for a failed outcome (the narrowing every step of a command uses). */
export function isWritebackFailure(value: unknown): value is WritebackFailure {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
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

/**
 * The office's wall time of a moment as `YYYY-MM-DD HH:MM:SS[.fff…]` with `precision` fraction
 * digits (at most 3: the agent clock has milliseconds), for `client` stamps.
 */
export function wallClockText(at: Date, zone: string, precision: number): string {
  const local = DateTime.fromMillis(at.getTime(), { zone });
  if (!local.isValid) {
    throw new TendrilError('TENDRIL_E_CONFIG_INVALID', 'connections[].timezone is not an IANA zone', {
      details: { zone },
    });
  }
  const digits = Math.max(0, Math.min(3, precision));
  const seconds = local.toFormat('yyyy-MM-dd HH:mm:ss');
  return digits === 0 ? seconds : `${seconds}.${local.toFormat('SSS').slice(0, digits)}`;
}

/** The office zone's offset from UTC at a moment, in minutes (Tokyo +540, Phoenix −420). */
export function zoneOffsetMinutes(at: Date, zone: string): number {
  const local = DateTime.fromMillis(at.getTime(), { zone });
  if (!local.isValid) {
    throw new TendrilError('TENDRIL_E_CONFIG_INVALID', 'connections[].timezone is not an IANA zone', {
      details: { zone },
    });
  }
  return local.offset;
}

/** Digits of a phone number, for matching (keep phone digits only). */
export function phoneDigits(value: unknown): string {
  const digits = typeof value === 'string' ? value.replace(/\D/g, '') : '';
  // A leading US country code does not make two numbers different.
  return digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
}

/** Case-folded, trimmed text for name matching. */
export function matchText(value: unknown): string {
  return typeof value === 'string' ? value.normalize('NFC').trim().toLocaleLowerCase('en-US') : '';
}
