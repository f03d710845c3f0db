import {
  cellText,
  checkRules,
  checkSlotTime,
  declaredColumns,
  decideMatch,
  isWritebackFailure,
  mapFields,
  mappingContext,
  matchesCondition,
  placeAppointment,
  REF_FIELD_TYPES,
  SLOT_FIELDS,
  slotConflict,
  sourceIdComponents,
  TendrilError,
  writebackFailure,
  type CommandDeclaration,
  type ConnectorDefinition,
  type RefField,
  type ReferencedType,
  type Resolved,
  type ResolvedRecord,
  type ResolvedRef,
  type ResolvedSlot,
  type TableDefinition,
  type VendorApi,
  type WhereValue,
  type WritebackCommand,
  type WritebackConnectionConfig,
  type WritebackContext,
  type WritebackDb,
  type WritebackFailure,
  type WritebackOutcome,
  type WritebackRow,
  type WritebackSql,
  type WriteRight,
  type WriteTable,
  type WriteValue,
} from '@tendril/core';

/**
 * Runs one declared writeback command (docs/writeback.md, "How a command runs"): the declared
 * rules, the target record (read fresh and locked), match before create, the references (resolved
 * through the store, re-read through their streams on the `sql` path), the slot rules on the
 * appointments stream's own mapping, then the connector's `run` step. Every read on the `sql` path
 * goes through the write transaction's {@link WritebackSql}; on the `vendor-api` path through the
 * connector's declared sources. Pure orchestration: no SQL text, no HTTP of its own.
 */
export interface DeclaredCommandInput {
  readonly command: WritebackCommand;
  readonly declaration: CommandDeclaration;
  /** The connector as the site sees it (its tableMap applied to the streams). */
  readonly connector: ConnectorDefinition;
  readonly connection: {
    readonly id: string;
    readonly timezone: string;
    readonly currency?: string;
    readonly options: Readonly<Record<string, unknown>>;
  };
  readonly settings: WritebackConnectionConfig;
  readonly input: Readonly<Record<string, unknown>>;
  readonly sourceIdOf: WritebackContext['sourceIdOf'];
  readonly now: () => Date;
  readonly sql?: WritebackSql;
  readonly api?: VendorApi;
}

type Step<T> = T | WritebackFailure;

function definitionProblem(message: string): TendrilError {
  return new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', `writeback: ${message}`);
}

/** A stream's table as a read inside the write transaction sees it (site names, static filter). */
function readTable(table: TableDefinition): WriteTable {
  return {
    table: table.table,
    columns: table.columns,
    ...(table.columnNames ? { columnNames: table.columnNames } : {}),
    ...(table.where ? { where: table.where } : {}),
  };
}

/**
 * The main-table columns a read needs to map `fields`: the key, the fields' columns and the row
 * filters' (joined columns are not read inside the write transaction).
 */
function columnsFor(table: TableDefinition, fields: readonly string[]): string[] {
  const columns = new Set<string>(table.key);
  for (const field of fields) for (const column of table.fields[field]?.columns ?? []) columns.add(column);
  for (const condition of [table.excludeWhen, table.deletedWhen])
    for (const column of Object.keys(condition ?? {})) columns.add(column);
  return [...columns].filter((column) => table.columns[column] !== undefined);
}

/** What makes a referenced record unusable (see {@link inactive}), and what a match compares. */
const REF_FIELDS = ['deceased', 'active', 'status'] as const;
const MATCH_FIELDS = ['name', 'birthDate', 'telecom'] as const;

function keyWhere(table: TableDefinition, key: readonly string[]): Record<string, WhereValue> {
  return Object.fromEntries(table.key.map((column, i) => [column, key[i] ?? null]));
}

const nextDay = (date: string) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** One office day of a `date` or `datetime` column, as a half-open range. */
function dayRange(type: string | undefined, date: string): WhereValue {
  return /^\s*date\s*$/i.test(type ?? '')
    ? { gte: date, lt: nextDay(date) }
    : { gte: `${date} 00:00:00`, lt: `${nextDay(date)} 00:00:00` };
}

/** Model facts that make a referenced record unusable, whatever the vendor. */
function inactive(type: ReferencedType, resource: Readonly<Record<string, unknown>>): string | undefined {
  if (type === 'Patient' && resource['deceased'] === true) return 'the patient is marked deceased';
  if ((type === 'Patient' || type === 'Practitioner') && resource['active'] === false)
    return `the ${type.toLowerCase()} is inactive`;
  if (type === 'Location' && resource['status'] === 'inactive') return 'the location is inactive';
  return undefined;
}

/** Runs the declared steps of one command, then its `run` step; the outcome of the first failing step. */
export async function runDeclaredCommand(run: DeclaredCommandInput): Promise<WritebackOutcome> {
  const { declaration, connector, connection, settings, input, sql } = run;
  const definition = connector.writeback;
  if (!definition) throw definitionProblem(`connector ${connector.id} declares no writeback`);
  const mapping = mappingContext({
    connectionId: connection.id,
    connectorId: connector.id,
    timezone: connection.timezone,
    ...(connection.currency ? { currency: connection.currency } : {}),
    options: connection.options,
  });
  const stream = (name: string): TableDefinition => {
    const table = connector.streams[name];
    if (!table) throw definitionProblem(`stream ${name} is not a stream of ${connector.id}`);
    return table;
  };
  const ctx: WritebackContext = {
    connectionId: connection.id,
    timezone: connection.timezone,
    options: connection.options,
    settings,
    ...(sql ? { db: writebackDb(run, sql) } : {}),
    ...(run.api ? { api: run.api } : {}),
    sourceIdOf: run.sourceIdOf,
    now: run.now,
  };

  /** A framework id → its vendor key, checked to be a record of the stream the field names. */
  async function resolve(field: RefField, streamName: string, id: string): Promise<Step<ResolvedRef>> {
    const type = REF_FIELD_TYPES[field];
    const sourceId = await run.sourceIdOf(type, id);
    if (sourceId === undefined) {
      return writebackFailure(
        'not_found',
        `${field} is not a known ${type} of this connection (not yet polled, or deleted)`,
        { field },
      );
    }
    const table = stream(streamName);
    const parts = sourceIdComponents(sourceId);
    const prefix = table.sourceIdPrefix;
    const key = prefix === undefined ? parts : parts[0] === prefix ? parts.slice(1) : [];
    if (key.length !== table.key.length) {
      return writebackFailure(
        'validation_failed',
        `${field} names a ${type} that is not one of the ${streamName}`,
        {
          field,
        },
      );
    }
    return { id, sourceId, key };
  }

  /** A record of a stream, fresh from the EHR: through the transaction (locked if asked) or the vendor source. */
  async function read(
    streamName: string,
    key: readonly string[],
    lock: boolean,
    fields?: readonly string[],
  ): Promise<Step<WritebackRow | undefined>> {
    const table = stream(streamName);
    if (sql) {
      // Only the columns the check maps (`fields`); the whole row for the target the run step uses.
      const columns = fields ? { columns: columnsFor(table, fields) } : {};
      return (await sql.select(readTable(table), { ...columns, where: keyWhere(table, key), lock }))[0];
    }
    if (definition!.sources?.record) return definition!.sources.record(ctx, streamName, key);
    throw definitionProblem(`no way to read ${streamName} on the vendor-api path; declare sources.record`);
  }

  const present = (table: TableDefinition, row: WritebackRow | undefined): row is WritebackRow =>
    row !== undefined &&
    !matchesCondition(row, table.excludeWhen) &&
    !matchesCondition(row, table.deletedWhen);

  const broken = checkRules(declaration.rules ?? [], input, settings);
  if (broken) return broken;

  let target: ResolvedRecord | undefined;
  if (declaration.target) {
    const { field, stream: name, status } = declaration.target;
    const found = await resolve(field, name, String(input[field]));
    if (isWritebackFailure(found)) return found;
    const row = await read(name, found.key, true);
    if (isWritebackFailure(row)) return row;
    const table = stream(name);
    if (!present(table, row))
      return writebackFailure('not_found', `${field}: the record no longer exists in the EHR`, { field });
    const resource = mapFields(table, row, mapping);
    const current = cellText(resource['status']);
    if (
      status &&
      ((status.in && !(status.in as string[]).includes(current)) ||
        (status.notIn as string[] | undefined)?.includes(current))
    )
      return writebackFailure('validation_failed', status.message, { field });
    target = { ...found, row, resource };
  }

  if (declaration.match && definition.match) {
    const match = definition.match;
    const table = stream(match.stream);
    const name = input['name'] as { family: string; given: string[] };
    const query = {
      family: name.family.trim(),
      given: name.given[0]!.trim(),
      birthDate: String(input['birthDate']),
    };
    const candidates = sql
      ? await sql.select(readTable(table), {
          columns: columnsFor(table, MATCH_FIELDS),
          where: {
            [match.family]: query.family,
            [match.given]: query.given,
            [match.birthDate]: /^\s*date\s*$/i.test(table.columns[match.birthDate] ?? '')
              ? query.birthDate
              : dayRange(table.columns[match.birthDate], query.birthDate),
          },
          // Two creates of one person serialise: the second sees the first.
          lock: true,
        })
      : await definition.sources!.candidates!(ctx, query);
    if (isWritebackFailure(candidates)) return candidates;
    const decided = decideMatch(table, match, candidates, input as never, connection.id);
    if (decided) return decided;
  }

  const refs: Partial<Record<RefField, ResolvedRef | ResolvedRef[]>> = {};
  for (const [field, name] of Object.entries(declaration.refs ?? {}) as [RefField, string][]) {
    const value = input[field];
    if (value === undefined || value === null) continue;
    const resolved: ResolvedRef[] = [];
    for (const id of Array.isArray(value) ? (value as string[]) : [cellText(value)]) {
      const found = await resolve(field, name, id);
      if (isWritebackFailure(found)) return found;
      resolved.push(found);
    }
    refs[field] = Array.isArray(value) ? resolved : resolved[0]!;
  }
  // Fresh state (docs/writeback.md): on the sql path every reference is re-read through its stream.
  if (sql) {
    for (const [field, name] of Object.entries(declaration.refs ?? {}) as [RefField, string][]) {
      const table = stream(name);
      const current = refs[field];
      if (current === undefined) continue;
      const list = Array.isArray(current) ? [...current] : [current];
      for (const [i, ref] of list.entries()) {
        const row = await read(name, ref.key, false, REF_FIELDS);
        if (isWritebackFailure(row)) return row;
        const type = REF_FIELD_TYPES[field];
        if (!present(table, row))
          return writebackFailure('not_found', `${field}: not a ${type} of the EHR's ${name} any more`, {
            field,
          });
        const resource = mapFields(table, row, mapping);
        const why = inactive(type, resource);
        if (why) return writebackFailure('inactive', `${field}: ${why}`, { field });
        list[i] = { ...ref, resource };
      }
      refs[field] = Array.isArray(current) ? list : list[0]!;
    }
  }

  let slot: ResolvedSlot | undefined;
  if (declaration.slot && definition.slot) {
    const rules = definition.slot;
    const start = String(input['start']);
    const end = input['end'];
    if (typeof end !== 'string')
      return writebackFailure('validation_failed', 'end is required to check the slot', { field: 'end' });
    const time = checkSlotTime(rules, start, end, connection.timezone, run.now());
    if (isWritebackFailure(time)) return time;
    const table = stream(rules.stream);
    const rows = sql
      ? await sql.select(readTable(table), {
          columns: columnsFor(table, SLOT_FIELDS),
          where: { [rules.dayColumn!]: dayRange(table.columns[rules.dayColumn!], time.start.date) },
          lock: true,
        })
      : await definition.sources!.day!(ctx, time.start.date);
    if (isWritebackFailure(rows)) return rows;
    const practitionerIds =
      (input['practitionerIds'] as string[] | undefined) ??
      (target?.resource['practitionerIds'] as string[] | undefined) ??
      [];
    const operatoryId =
      (input['operatoryId'] as string | undefined) ?? (target?.resource['operatoryId'] as string | undefined);
    const conflict = slotConflict(
      rules,
      {
        start,
        end,
        practitionerIds,
        ...(operatoryId === undefined ? {} : { operatoryId }),
        ...(target ? { excludeId: target.id } : {}),
      },
      rows.map((row) => placeAppointment(table, row, mapping)),
      settings.providerDoubleBooking,
    );
    if (conflict) return conflict;
    slot = time;
  }

  const resolved: Resolved = { refs, ...(target ? { target } : {}), ...(slot ? { slot } : {}) };
  const outcome = await declaration.run(ctx, input as never, resolved);
  if (!outcome.ok || outcome.matched) return outcome;
  return { ...outcome, asserted: { ...defaultAssertions(run.command, input), ...outcome.asserted } };
}

/** What book and reschedule assert on read-back, from the input: the time, who and where. */
function defaultAssertions(
  command: WritebackCommand,
  input: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const given = (field: string) => (input[field] === undefined ? {} : { [field]: input[field] });
  if (command === 'Appointment.book')
    return {
      status: 'booked',
      start: input['start'],
      end: input['end'],
      patientId: input['patientId'],
      practitionerIds: input['practitionerIds'],
      ...given('operatoryId'),
    };
  if (command === 'Appointment.reschedule')
    return { start: input['start'], end: input['end'], ...given('operatoryId'), ...given('practitionerIds') };
  return {};
}

/**
 * The handler's view of the write transaction: the writeback's declared tables by name, each
 * statement checked against the command's `writes` and the table's declared columns; `undefined`
 * values written as the table's "no value"; the stream's cursor stamp set on every write.
 */
function writebackDb(run: DeclaredCommandInput, sql: WritebackSql): WritebackDb {
  const definition = run.connector.writeback!;
  const writes = run.declaration.writes ?? {};
  const table = (name: string, right?: WriteRight) => {
    const declared = definition.tables?.[name];
    if (!declared) throw definitionProblem(`table "${name}" is not declared in tables`);
    if (right && !writes[name]?.includes(right))
      throw definitionProblem(`${run.command} does not declare ${right} on "${name}" in writes`);
    const read = declared.stream === undefined ? undefined : run.connector.streams[declared.stream];
    const cursor = read?.cursor.mode === 'timestamp' ? read.cursor : undefined;
    const spec: WriteTable = {
      table: read?.table ?? declared.table!,
      columns: declaredColumns(declared, run.connector.streams),
      ...(read?.columnNames ? { columnNames: read.columnNames } : {}),
      ...(cursor
        ? { stamp: { column: cursor.column, clock: cursor.clock, precision: cursor.precision ?? 0 } }
        : {}),
    };
    const empty = (column: string) =>
      declared.nullable?.includes(column) ? null : (declared.emptyText ?? null);
    const fill = (values: Readonly<Record<string, WriteValue | undefined>>): Record<string, WriteValue> =>
      Object.fromEntries(Object.entries(values).map(([c, v]) => [c, v === undefined ? empty(c) : v]));
    return { spec, fill, defaults: declared.insertDefaults ?? {} };
  };
  return {
    dialect: sql.dialect,
    select: (name, query) => sql.select(table(name).spec, query),
    insert: (name, values) => {
      const { spec, fill, defaults } = table(name, 'INSERT');
      return sql.insert(spec, { ...defaults, ...fill(values) });
    },
    update: (name, set, where) => {
      const { spec, fill } = table(name, 'UPDATE');
      return sql.update(spec, fill(set), where);
    },
    async nextId(name, column, where) {
      const [row] = await sql.select(table(name).spec, {
        aggregate: { fn: 'max', column, as: 'NEXTID' },
        ...(where ? { where } : {}),
        lock: true,
      });
      const max = row?.['NEXTID'];
      return String(BigInt(max === null || max === undefined ? 0 : cellText(max)) + 1n);
    },
  };
}
