import { TendrilError } from './errors.js';
import type { FieldShape, TableDefinition } from './sdk.js';
import type { WritebackInput } from './writeback-inputs.js';
import { cellText } from './cell-text.js';

/**
 * Model values laid out in vendor columns, derived from the read declaration of the stream that
 * polls the table (`t.humanName`, `t.contactPoints`, `t.address`, `t.col`): the columns a field
 * reads are the columns its value is written to, so a column's meaning is declared once.
 * A column whose value is `undefined` means "no value": the write path writes the table's empty
 * value there (`emptyText` of its declaration, or NULL; '' for an API body).
 */

type Telecom = WritebackInput<'Patient.create'>['telecom'];
type Addresses = WritebackInput<'Patient.create'>['addresses'];
type Name = WritebackInput<'Patient.create'>['name'];

function shape<K extends FieldShape['kind']>(
  table: TableDefinition,
  field: string,
  kind: K,
): Extract<FieldShape, { kind: K }> {
  const mapping = table.fields[field];
  const found = mapping?.kind === 'field' ? mapping.shape : undefined;
  if (found?.kind !== kind) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `writeback: ${table.table}.${field} is not declared with the ${kind} helper, so its columns cannot be derived`,
      { details: { table: table.table, field } },
    );
  }
  return found as Extract<FieldShape, { kind: K }>;
}

/** The single column a `t.col` field reads (`birthDate` → `DOB`). */
export function columnOf(table: TableDefinition, field: string): string {
  return shape(table, field, 'column').column;
}

/**
 * Every column a structured field reads, each set to `empty`: writing these first clears the
 * field (a `telecom` or `addresses` list replaces the old one). `undefined` = the table's empty value.
 */
export function blankColumns(
  table: TableDefinition,
  field: string,
  empty?: string | null,
): Record<string, string | null | undefined> {
  const mapping = table.fields[field];
  if (mapping?.kind !== 'field' || !mapping.shape) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `writeback: ${table.table}.${field} is not declared with a structured helper, so its columns cannot be derived`,
      { details: { table: table.table, field } },
    );
  }
  return Object.fromEntries(mapping.columns.map((column) => [column, empty]));
}

/**
 * Contact points in the columns of a `t.contactPoints` field. A point goes to the column of the
 * same system and use; a phone (or SMS number) without one goes to the mobile column, else to a
 * phone column without a use. The first value of each column wins, as the read side ranks them.
 */
export function contactColumns(
  table: TableDefinition,
  field: string,
  telecom: Telecom,
): Record<string, string> {
  const columns = shape(table, field, 'contactPoints').columns;
  const values: Record<string, string> = {};
  for (const point of telecom) {
    const system = point.system === 'sms' ? 'phone' : point.system;
    const candidates = columns.filter((c) => c.system === system);
    const target =
      candidates.find((c) => c.use === point.use) ??
      (system === 'phone'
        ? (candidates.find((c) => c.use === 'mobile') ?? candidates.find((c) => c.use === undefined))
        : candidates[0]);
    if (target) values[target.column] ??= point.value;
  }
  return values;
}

/** The address a single-address EHR keeps: the home one (or one without a use), else the first. */
export function primaryAddress(addresses: Addresses): Addresses[number] | undefined {
  return addresses.find((a) => a.use === undefined || a.use === 'home') ?? addresses[0];
}

/**
 * The primary address in the columns of a `t.address` field: every column of the field, the
 * parts the address lacks as "no value". Empty when there is no address.
 */
export function addressColumns(
  table: TableDefinition,
  field: string,
  addresses: Addresses,
): Record<string, string | undefined> {
  const columns = shape(table, field, 'address');
  const home = primaryAddress(addresses);
  if (!home) return {};
  const values: Record<string, string | undefined> = {};
  columns.line.forEach((column, i) => (values[column] = home.line[i]));
  for (const part of ['city', 'state', 'postalCode', 'country'] as const) {
    const column = columns[part];
    if (column !== undefined) values[column] = home[part];
  }
  return values;
}

/**
 * A name in the columns of a `t.humanName` field: family, the first given name, further given
 * names joined in the last given column; prefix and suffix only when the name has them.
 */
export function nameColumns(table: TableDefinition, field: string, name: Name): Record<string, string> {
  const columns = shape(table, field, 'humanName');
  const values: Record<string, string> = {};
  if (columns.family !== undefined) values[columns.family] = name.family.trim();
  const given = columns.given ?? [];
  given.forEach((column, i) => {
    values[column] =
      i < given.length - 1
        ? (name.given[i] ?? '').trim()
        : name.given
            .slice(i)
            .map((g) => g.trim())
            .join(' ');
  });
  if (columns.prefix !== undefined && name.prefix) values[columns.prefix] = name.prefix.join(' ');
  if (columns.suffix !== undefined && name.suffix) values[columns.suffix] = name.suffix.join(' ');
  return values;
}

/** Options of {@link modelColumns}. */
export interface ModelColumnsOptions {
  /** Vendor codes of coded fields, model value → column value (`gender: { male: 'Male', … }`). */
  readonly codes?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** "No value" of blanked columns: `undefined` (the table's own, on the sql path) or '' (an API body). */
  readonly empty?: string | null;
}

/**
 * The model fields of a command's input in the columns the table's read declaration maps them
 * from: `t.humanName`/`t.contactPoints`/`t.address` fields through their shapes (a list replaces
 * the old one), references through their key columns (`null` clears them), single-column coded
 * fields through `codes`, and `t.col` fields as is. Other `t.compute` fields are left to the
 * handler; input fields the table does not map are skipped.
 */
export function modelColumns(
  table: TableDefinition,
  input: Readonly<Record<string, unknown>>,
  refs: Readonly<Partial<Record<string, { readonly key: readonly string[] } | readonly unknown[]>>>,
  options: ModelColumnsOptions = {},
): Record<string, string | null | undefined> {
  const values: Record<string, string | null | undefined> = {};
  for (const [field, value] of Object.entries(input)) {
    const mapping = table.fields[field];
    if (!mapping || value === undefined) continue;
    if (mapping.kind === 'ref') {
      const resolved = refs[field];
      const key =
        resolved && !Array.isArray(resolved) ? (resolved as { key: readonly string[] }).key : undefined;
      if (mapping.many || (value !== null && key === undefined)) continue;
      mapping.columns.forEach((column, i) => (values[column] = key?.[i] ?? null));
      continue;
    }
    const shape = mapping.shape?.kind;
    if (shape === 'humanName') Object.assign(values, nameColumns(table, field, value as Name));
    else if (shape === 'contactPoints')
      Object.assign(
        values,
        blankColumns(table, field, options.empty),
        contactColumns(table, field, value as Telecom),
      );
    else if (shape === 'address')
      Object.assign(
        values,
        blankColumns(table, field, options.empty),
        addressColumns(table, field, value as Addresses),
      );
    else {
      // A coded field needs its codes; a plain `t.col` field takes the model value as is.
      const codes = options.codes?.[field];
      const column = mapping.columns.length === 1 ? mapping.columns[0]! : undefined;
      if (column === undefined || (!codes && shape !== 'column')) continue;
      values[column] = value === null ? null : codes ? codes[cellText(value)] : cellText(value);
    }
  }
  return values;
}
