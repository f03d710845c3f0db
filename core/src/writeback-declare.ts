import { TendrilError } from './errors.js';
import type { Appointment, ResourceType } from './model/index.js';
import type { ColumnDeclarations, FieldShape, TableDefinition } from './sdk.js';
import {
  isWritebackCommand,
  WRITE_PATHS,
  WRITEBACK_COMMANDS,
  type WritebackCommand,
  type WritePath,
} from './writeback-commands.js';
import type { WritebackConnectionConfig } from './writeback-config.js';
import type { WritebackInput } from './writeback-inputs.js';
import type { InputRule } from './writeback-rules.js';
import type {
  ReferencedType,
  WritebackContext,
  WritebackFailure,
  WritebackOutcome,
  WritebackRow,
  WriteValue,
} from './writeback.js';

/**
 * The writeback declaration SDK (docs/adding-a-connector.md, "Writeback: commands declared as data"): a connector declares
 * each command as data — the tables and columns it writes (checked against the read declarations
 * of its streams), the references to resolve, the preconditions as coded rules, the slot rules —
 * and keeps code only for the vendor-specific step (`run`: an API call, an id allocation). The
 * engine in @tendril/scheduler runs the declared steps in a fixed order (`writeback-engine.ts`).
 */

/** An appointment's model status (the slot rules and targets name them). */
type AppointmentStatus = Appointment['status'];
export type WriteRight = 'INSERT' | 'UPDATE' | 'DELETE';

/** Input fields that carry framework ids, and the resource type each names. */
export const REF_FIELD_TYPES = {
  patientId: 'Patient',
  practitionerIds: 'Practitioner',
  locationId: 'Location',
  operatoryId: 'Location',
  appointmentTypeId: 'AppointmentType',
  appointmentId: 'Appointment',
  primaryPractitionerId: 'Practitioner',
  primaryLocationId: 'Location',
} as const satisfies Record<string, ReferencedType>;
export type RefField = keyof typeof REF_FIELD_TYPES;
/** The reference fields a command's input has. */
export type RefFieldOf<C extends WritebackCommand> = Extract<keyof WritebackInput<C>, RefField>;

/**
 * A table the `sql` path touches. `stream`: the table a stream reads — its declared columns are
 * the table's (one source of truth for a column's type and meaning), its cursor stamp is set on
 * every write. `table`: one no stream reads (OpenEMR `uuid_registry`), with its own columns.
 */
export interface WriteTableDeclaration {
  readonly stream?: string;
  readonly table?: string;
  /** With `stream`: columns polling does not read, with their vendor types (the schema tests check them). */
  readonly writeOnly?: ColumnDeclarations;
  /** With `table`: its columns and vendor types. */
  readonly columns?: ColumnDeclarations;
  /** Text columns whose "no value" is NULL even where the table's `emptyText` is ''. */
  readonly nullable?: readonly string[];
  /** How the table writes "no value" in a text column: '' (NOT NULL DEFAULT '') or NULL (default). */
  readonly emptyText?: '' | null;
  /** What every new row gets unless the INSERT says otherwise (the vendor's own defaults for NOT NULL columns). */
  readonly insertDefaults?: Readonly<Record<string, WriteValue>>;
}

/** The record an in-place command changes (cancel, confirm, reschedule, update), read fresh and locked. */
export interface TargetDeclaration {
  readonly field: 'appointmentId' | 'patientId';
  readonly stream: string;
  /** Model statuses the record must (`in`) or must not (`notIn`) have; else `validation_failed`. */
  readonly status?: {
    readonly in?: readonly AppointmentStatus[];
    readonly notIn?: readonly AppointmentStatus[];
    readonly message: string;
  };
}

/**
 * The slot rules of book and reschedule, checked by one engine on the appointments stream's own
 * mapping: the new time on the vendor's grid and inside one office day, then no overlap
 * (`existing.start < new.end AND existing.end > new.start`) with the appointments of that day.
 */
export interface SlotDeclaration {
  /** The appointments stream: its mapping places the day's existing appointments. */
  readonly stream: string;
  /** `sql` path: the stream's column holding the office day, read under lock for the check. */
  readonly dayColumn?: string;
  /** Start and length on a grid of this many minutes (Open Dental 5). Absent: any second. */
  readonly gridMinutes?: number;
  /** The appointment starts and ends on one office day. */
  readonly sameDay?: boolean;
  /** Overlap in the same operatory is a conflict. */
  readonly operatory: boolean;
  /** Overlap of a practitioner is a conflict (unless the connection sets providerDoubleBooking). */
  readonly practitioner: boolean;
  /** Model statuses that free the slot (cancelled…); the appointment being moved is always ignored. */
  readonly frees: readonly AppointmentStatus[];
  /** Rows the stream excludes still block (OpenEMR provider calendar entries: lunch, out of office). */
  readonly excludedRowsBlock?: boolean;
}

/** Match before create (docs/writeback.md): the patients stream and its name and birth-date columns. */
export interface MatchDeclaration {
  readonly stream: string;
  /** Columns of the stream's `name` field holding the family and the first given name. */
  readonly family: string;
  readonly given: string;
  /** The column of the stream's `birthDate` field. Phones and e-mail come from its `telecom` field. */
  readonly birthDate: string;
}

/**
 * Where the `vendor-api` path gets what the `sql` path reads through the streams: rows in the
 * stream's column names, so the stream's own mapping reads them. Undefined from `record`: none.
 */
export interface VendorSources {
  record?(
    ctx: WritebackContext,
    stream: string,
    key: readonly string[],
  ): Promise<WritebackRow | undefined | WritebackFailure>;
  day?(ctx: WritebackContext, date: string): Promise<WritebackRow[] | WritebackFailure>;
  candidates?(
    ctx: WritebackContext,
    query: { readonly family: string; readonly given: string; readonly birthDate: string },
  ): Promise<WritebackRow[] | WritebackFailure>;
}

/** A framework id resolved to its vendor key. */
export interface ResolvedRef {
  readonly id: string;
  readonly sourceId: string;
  /** The key columns' values, in the stream's key order (without its sourceId prefix). */
  readonly key: readonly string[];
  /** `sql` path: the record as re-read through its stream (model fields). */
  readonly resource?: Readonly<Record<string, unknown>>;
}

/** The target record, as read (and locked) for the command. */
export interface ResolvedRecord extends ResolvedRef {
  readonly row: WritebackRow;
  readonly resource: Readonly<Record<string, unknown>>;
}

/** The new time of book or reschedule, checked, in the office's wall time. */
export interface ResolvedSlot {
  readonly start: { readonly date: string; readonly time: string };
  readonly end: { readonly date: string; readonly time: string };
  readonly seconds: number;
  readonly minutes: number;
}

/** What the engine resolved before the handler runs. */
export interface Resolved {
  readonly refs: Readonly<Partial<Record<RefField, ResolvedRef | readonly ResolvedRef[]>>>;
  readonly target?: ResolvedRecord;
  readonly slot?: ResolvedSlot;
}

/** The vendor-specific step: writes through `ctx.db` or `ctx.api` and reports the record's key. */
export type CommandRun<C extends WritebackCommand> = (
  ctx: WritebackContext,
  input: WritebackInput<C>,
  resolved: Resolved,
) => Promise<WritebackOutcome>;

/** One command, declared. The engine runs: rules → target → match → refs → slot → `run`. */
export interface CommandDeclaration<C extends WritebackCommand = WritebackCommand> {
  /** `sql` path: declared tables (keys of `tables`) and the rights `run` uses: grants derive from these. */
  readonly writes?: Readonly<Record<string, readonly WriteRight[]>>;
  /** Preconditions on the input and the connection's settings, each with its code. */
  readonly rules?: readonly InputRule[];
  /** Input field → the stream whose records it names: resolved, and re-read on the `sql` path. */
  readonly refs?: { readonly [F in RefFieldOf<C>]?: string };
  readonly target?: TargetDeclaration;
  /** Check the definition's slot rules (book, reschedule). */
  readonly slot?: boolean;
  /** Match before create with the definition's match declaration (Patient.create). */
  readonly match?: boolean;
  readonly run: CommandRun<C>;
}

/** A connector's writeback, as `defineWriteback` takes it. */
export interface WritebackDeclaration {
  /** The path every command takes (a connector with two paths declares `paths` per command). */
  readonly path: WritePath;
  /** The streams this writeback reads through, by the connector's stream names (checked by `defineConnector`). */
  readonly streams: Readonly<Record<string, TableDefinition>>;
  /** Model resource → the stream whose table and mapper read a written record back. */
  readonly readBack: Readonly<Partial<Record<'Appointment' | 'Patient', string>>>;
  readonly tables?: Readonly<Record<string, WriteTableDeclaration>>;
  readonly slot?: SlotDeclaration;
  readonly match?: MatchDeclaration;
  readonly sources?: VendorSources;
  readonly commands: { readonly [C in WritebackCommand]?: CommandDeclaration<C> };
  /** True when the vendor forbids outside SQL writes: the `sql` path then needs `allowUnsafeSqlWrites`. */
  readonly sqlNeedsUnsafeOptIn?: boolean;
  /** A sentence for docs and capabilities: how the writes were verified (fixture path, fake API…). */
  readonly verification: string;
  /** The vendor API's request headers (its authorization scheme). Pure: the agent owns the client. */
  readonly apiHeaders?: (
    api: NonNullable<WritebackConnectionConfig['api']>,
  ) => Readonly<Record<string, string>>;
}

/** A connector's writeback as the worker uses it: each command under the path it declares. */
export interface WritebackDefinition extends Omit<WritebackDeclaration, 'commands' | 'path'> {
  readonly commands: {
    readonly [C in WritebackCommand]?: {
      readonly paths: Partial<Record<WritePath, CommandDeclaration<C>>>;
    };
  };
}

function problem(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', `writeback: ${message}`, { details });
}

/** The columns a declared table has: its stream's plus its write-only ones, or its own. */
export function declaredColumns(
  declaration: WriteTableDeclaration,
  streams: Readonly<Record<string, TableDefinition>>,
): ColumnDeclarations {
  if (declaration.stream === undefined) return declaration.columns ?? {};
  return { ...streams[declaration.stream]?.columns, ...declaration.writeOnly };
}

function streamOf(
  streams: Readonly<Record<string, TableDefinition>>,
  name: string,
  where: string,
  type?: ResourceType,
): TableDefinition {
  const table = streams[name];
  if (!table)
    throw problem(`${where} names stream "${name}", which the writeback does not declare`, { name });
  if (type && table.resourceType !== type)
    throw problem(`${where}: stream "${name}" reads ${table.resourceType}, not ${type}`, { name });
  return table;
}

function shapeOf(table: TableDefinition, field: string): FieldShape | undefined {
  const mapping = table.fields[field];
  return mapping?.kind === 'field' ? mapping.shape : undefined;
}

function checkTables(declaration: WritebackDeclaration): void {
  for (const [name, table] of Object.entries(declaration.tables ?? {})) {
    if ((table.stream === undefined) === (table.table === undefined))
      throw problem(`table "${name}" names exactly one of stream or table`, { name });
    if (table.stream !== undefined) {
      if (table.columns)
        throw problem(`table "${name}" reads its columns from stream ${table.stream}; use writeOnly`);
      const read = streamOf(declaration.streams, table.stream, `table "${name}"`);
      for (const column of Object.keys(table.writeOnly ?? {})) {
        // One declaration per column: a column polling reads keeps the read declaration's type.
        if (read.columns[column] !== undefined)
          throw problem(`table "${name}": ${column} is declared by stream ${table.stream} already`, {
            column,
          });
      }
    } else if (table.writeOnly || Object.keys(table.columns ?? {}).length === 0) {
      throw problem(`table "${name}" (no stream) declares its columns in columns`, { name });
    }
    const columns = declaredColumns(table, declaration.streams);
    for (const column of [...(table.nullable ?? []), ...Object.keys(table.insertDefaults ?? {})])
      if (columns[column] === undefined)
        throw problem(`table "${name}": column ${column} is not declared`, { column });
  }
}

function checkSlotAndMatch(declaration: WritebackDeclaration): void {
  const { slot, match, streams } = declaration;
  if (slot) {
    const table = streamOf(streams, slot.stream, 'slot', 'Appointment');
    if (slot.dayColumn !== undefined && table.columns[slot.dayColumn] === undefined)
      throw problem(`slot.dayColumn ${slot.dayColumn} is not a column of ${slot.stream}`);
    if (slot.gridMinutes !== undefined && (!Number.isInteger(slot.gridMinutes) || slot.gridMinutes < 1))
      throw problem('slot.gridMinutes must be a whole number of minutes');
    if (declaration.path === 'sql' && slot.dayColumn === undefined)
      throw problem('slot.dayColumn is required on the sql path (the day read under lock)');
  }
  if (match) {
    const table = streamOf(streams, match.stream, 'match', 'Patient');
    const uses = (field: string, column: string) => {
      if (!(table.fields[field]?.columns ?? []).includes(column))
        throw problem(`match: ${column} is not a column of ${match.stream}'s ${field} field`, { column });
    };
    uses('name', match.family);
    uses('name', match.given);
    uses('birthDate', match.birthDate);
    if (shapeOf(table, 'telecom')?.kind !== 'contactPoints')
      throw problem(
        `match: ${match.stream}'s telecom field must be t.contactPoints (its columns are matched)`,
      );
  }
}

function checkCommand(
  declaration: WritebackDeclaration,
  command: string,
  spec: CommandDeclaration | undefined,
): void {
  if (!isWritebackCommand(command))
    throw problem(`"${command}" is not a command; use one of ${WRITEBACK_COMMANDS.join(', ')}`, { command });
  if (!spec || typeof spec.run !== 'function')
    throw problem(`${command}: declare run (the vendor-specific step)`, { command });
  const writes = Object.entries(spec.writes ?? {});
  if (declaration.path === 'sql' && writes.length === 0)
    throw problem(`${command}: a sql command lists the tables it writes (grants derive from them)`, {
      command,
    });
  for (const [table] of writes)
    if (!declaration.tables?.[table])
      throw problem(`${command} writes "${table}", which tables does not declare`, { command, table });
  for (const [field, stream] of Object.entries(spec.refs ?? {}) as [RefField, string][])
    streamOf(declaration.streams, stream, `${command} refs.${field}`, REF_FIELD_TYPES[field]);
  if (spec.target) streamOf(declaration.streams, spec.target.stream, `${command} target`);
  if (spec.slot && !declaration.slot) throw problem(`${command} checks the slot: declare slot`, { command });
  if (spec.match && !declaration.match) throw problem(`${command} matches: declare match`, { command });
  if (declaration.path === 'vendor-api') {
    const sources = declaration.sources ?? {};
    if (
      (spec.target && !sources.record) ||
      (spec.slot && !sources.day) ||
      (spec.match && !sources.candidates)
    )
      throw problem(`${command}: the vendor-api path needs sources for target, slot and match`, { command });
  }
}

/**
 * Declares a connector's writeback. Checked once when the plugin loads: every command has a run
 * step and lists what it writes; tables, references, targets, slot and match name declared streams
 * and columns; write-only columns do not re-declare a column a stream reads.
 */
export function defineWriteback(declaration: WritebackDeclaration): WritebackDefinition {
  if (!(WRITE_PATHS as readonly string[]).includes(declaration.path))
    throw problem(`path must be one of ${WRITE_PATHS.join(', ')}`);
  for (const [resource, stream] of Object.entries(declaration.readBack))
    streamOf(declaration.streams, stream, `readBack.${resource}`, resource as ResourceType);
  checkTables(declaration);
  checkSlotAndMatch(declaration);
  for (const [command, spec] of Object.entries(declaration.commands))
    checkCommand(declaration, command, spec);
  const { path, commands, ...rest } = declaration;
  const normalised = Object.fromEntries(
    Object.entries(commands).map(([command, spec]) => [command, { paths: { [path]: spec } }]),
  );
  return Object.freeze({ ...rest, commands: normalised });
}

/** The table name of a declared write table on a site (its stream's table, renamed by tableMap). */
function physicalTable(
  declaration: WriteTableDeclaration,
  streams: Readonly<Record<string, TableDefinition>>,
): string {
  return declaration.stream === undefined
    ? declaration.table!
    : (streams[declaration.stream]?.table ?? declaration.stream);
}

/**
 * Tables and rights the `sql` path of a connector needs, merged over its commands (for grants).
 * `streams`: the connector's streams (a site's, with its tableMap applied).
 */
export function tablesWritten(
  definition: WritebackDefinition | undefined,
  streams: Readonly<Record<string, TableDefinition>> = definition?.streams ?? {},
): Map<string, Set<WriteRight>> {
  const tables = new Map<string, Set<WriteRight>>();
  for (const spec of Object.values(definition?.commands ?? {}) as
    { paths: Partial<Record<WritePath, CommandDeclaration>> }[] | undefined[]) {
    const sql = spec?.paths.sql;
    if (!sql) continue;
    for (const [name, rights] of Object.entries(sql.writes ?? {})) {
      const declared = definition?.tables?.[name];
      if (!declared) continue;
      const table = physicalTable(declared, streams);
      const set = tables.get(table) ?? new Set();
      rights.forEach((r) => set.add(r));
      tables.set(table, set);
    }
  }
  return tables;
}

/** The one reference an input field resolved to (throws when the command did not declare it). */
export function ref(resolved: Resolved, field: RefField): ResolvedRef {
  const value = resolved.refs[field];
  if (!value || Array.isArray(value))
    throw new TendrilError('TENDRIL_E_INTERNAL', `writeback: ${field} was not resolved as one reference`);
  return value as ResolvedRef;
}

/** The reference of an optional field: undefined when the input left it out (or set it to null). */
export function optionalRef(resolved: Resolved, field: RefField): ResolvedRef | undefined {
  return resolved.refs[field] === undefined ? undefined : ref(resolved, field);
}

/** The references of a list field (`practitionerIds`); empty when the input left it out. */
export function refList(resolved: Resolved, field: RefField): readonly ResolvedRef[] {
  const value = resolved.refs[field];
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly ResolvedRef[]) : [value as ResolvedRef];
}
