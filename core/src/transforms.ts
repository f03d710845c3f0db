import type { FieldShape, FieldSpec, RefSpec } from './sdk.js';
import type { ResourceType } from './model/index.js';
import type { MappingContext } from './mapping-context.js';
import type { Address, Coding, ContactPoint, Money } from './model/index.js';
import { localTextToInstant, toIsoDate, utcTextToInstant } from './time.js';
import { dateOfParts, timeOfParts, type PartsOutcome } from './date-parts.js';

/**
 * One step of a field's transform chain. Returning `undefined` means "unknown": the chain stops
 * and the field is omitted (docs/standard-model.md, "Conventions": no null, "" or sentinel).
 */
export type Transform = (value: unknown, ctx: MappingContext) => unknown;

function present(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.trim() !== '';
  // A binary-collated column comes back from the driver as bytes: empty (or blank) bytes are no value.
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8').trim() !== '';
  return true;
}

/** Trimmed text; empty text is unknown. */
export const str = (): Transform => (v) => (present(v) ? String(v).trim() : undefined);
export const upper = (): Transform => (v) => (present(v) ? String(v).trim().toUpperCase() : undefined);
export const int = (): Transform => (v) => {
  if (!present(v)) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
};
export const num = (): Transform => (v) => {
  if (!present(v)) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};
/** 0/1, `Y`/`N` and booleans. */
export const bool = (): Transform => (v) => {
  if (!present(v)) return undefined;
  if (typeof v === 'boolean') return v;
  const text = String(v).trim().toUpperCase();
  if (text === '1' || text === 'Y' || text === 'T' || text === 'TRUE') return true;
  if (text === '0' || text === 'N' || text === 'F' || text === 'FALSE') return false;
  return undefined;
};
export const not = (): Transform => (v) => (typeof v === 'boolean' ? !v : undefined);
/** A numeric or text value that means "none" (`0` foreign keys, sentinel codes). */
export const nullIf =
  (...sentinels: readonly (string | number)[]): Transform =>
  (v) =>
    present(v) && !sentinels.some((s) => String(s) === String(v).trim()) ? v : undefined;
/** `YYYY-MM-DD`; sentinel dates are unknown. */
export const date = (): Transform => (v) => toIsoDate(v);
/** A column stored in UTC. */
export const utcInstant = (): Transform => (v) => utcTextToInstant(v);
/** A vendor local wall time, converted with the connection's IANA zone. */
export const localInstant = (): Transform => (v, ctx) => localTextToInstant(v, ctx.timezone);
/** Looks the value up in a table of vendor codes; values not listed are unknown unless a fallback is given. */
export const lookup =
  <T>(table: Readonly<Record<string | number, T>>, fallback?: T): Transform =>
  (v) => {
    if (!present(v)) return fallback;
    const key = String(v).trim();
    return Object.hasOwn(table, key) ? table[key] : fallback;
  };
/**
 * Part of a code, by character position (like `String.slice`): `t.slice(0, 1)` is the first
 * character. Applied to the trimmed text; an empty result is unknown. Put a `lookup` after it for
 * a status held in one position of a code.
 */
export const slice =
  (start: number, end?: number): Transform =>
  (v) => {
    if (!present(v)) return undefined;
    const part = String(v).trim().slice(start, end);
    return part === '' ? undefined : part;
  };
/**
 * Looks a code up by its beginning: the longest key of `table` the value starts with wins
 * (`{ D: 'cdt', D9: 'adjunctive' }` maps `D9230` to `adjunctive`, `D0120` to `cdt`). Case-sensitive,
 * on the trimmed text; no matching key gives the fallback (unknown without one).
 */
export const lookupPrefix = <T>(table: Readonly<Record<string, T>>, fallback?: T): Transform => {
  // Longest first, so a more specific prefix always beats a shorter one.
  const prefixes = Object.keys(table).sort((a, b) => b.length - a.length);
  return (v) => {
    if (!present(v)) return fallback;
    const text = String(v).trim();
    const hit = prefixes.find((p) => text.startsWith(p));
    return hit === undefined ? fallback : table[hit];
  };
};
/** The vendor value kept as a Coding (`urn:tendril:<connector>:<lookup>`). */
export const vendorCoding =
  (lookupName: string, displays?: Readonly<Record<string | number, string>>): Transform =>
  (v, ctx) => {
    if (!present(v)) return undefined;
    const code = String(v).trim();
    const coding: Coding = { system: `urn:tendril:${ctx.connectorId}:${lookupName}`, code };
    const display = displays?.[code];
    return display ? { ...coding, display } : coding;
  };
/**
 * The vendor value of a site-configurable lookup (Open Dental `definition` rows, appointment
 * types) as a Coding in `urn:tendril:<connector>:<connectionId>:<lookup>`: the same number means
 * different things in two databases, so the system names the connection (docs/standard-model.md, "Conventions").
 */
export const siteCoding =
  (lookupName: string): Transform =>
  (v, ctx) =>
    present(v)
      ? ({
          system: `urn:tendril:${ctx.connectorId}:${ctx.connectionId}:${lookupName}`,
          code: String(v).trim(),
        } satisfies Coding)
      : undefined;
/** A Coding in a standard system (CDT, CPT, ICD-10-CM…). */
export const coding =
  (system: string): Transform =>
  (v) =>
    present(v) ? ({ system, code: String(v).trim() } satisfies Coding) : undefined;
export const codeableConcept = (): Transform => (v) =>
  v && typeof v === 'object' ? { coding: [v as Coding] } : undefined;

function roundMoney(value: number): number {
  return Math.round(value * 100) / 100;
}
export const money = {
  /** Amounts stored in major units (Open Dental `ProcFee`). */
  dollars: (): Transform => (v, ctx) => {
    if (!present(v)) return undefined;
    const n = Number(v);
    return Number.isFinite(n)
      ? ({ value: roundMoney(n), currency: ctx.currency } satisfies Money)
      : undefined;
  },
  /** Amounts stored in cents (Dentrix Enterprise `AMOUNT`). */
  cents: (): Transform => (v, ctx) => {
    if (!present(v)) return undefined;
    const n = Number(v);
    return Number.isFinite(n)
      ? ({ value: roundMoney(n / 100), currency: ctx.currency } satisfies Money)
      : undefined;
  },
};

/** E.164 for North American numbers (default country US); other shapes are kept as digits with `+`. */
export function toE164(raw: string): string | undefined {
  const digits = raw.replace(/\D/g, '');
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits.startsWith('1')) return `+${digits}`;
  if (digits.length >= 8 && digits.length <= 15 && raw.trim().startsWith('+')) return `+${digits}`;
  return undefined;
}
export const phone = (): Transform => (v, ctx) => {
  if (!present(v)) return undefined;
  const e164 = toE164(String(v));
  if (e164 === undefined) ctx.warn?.('TENDRIL_W_PHONE_UNPARSEABLE');
  return e164;
};

/** Runs transforms left to right, stopping at the first unknown. */
export function pipe(value: unknown, transforms: readonly Transform[], ctx: MappingContext): unknown {
  let current = value;
  for (const transform of transforms) {
    if (current === undefined) return undefined;
    current = transform(current, ctx);
  }
  return current;
}

/** A field from one column and a chain of transforms. */
export function col(column: string, ...transforms: Transform[]): FieldSpec {
  return {
    kind: 'field',
    columns: [column],
    apply: ([value], ctx) => pipe(value, transforms, ctx),
    shape: { kind: 'column', column },
  };
}

/** A computed field that keeps the meaning of its columns (the structured helpers below). */
function shaped(spec: FieldSpec, shape: FieldShape): FieldSpec {
  return { ...spec, shape };
}

/** The escape hatch: a typed function over several columns, for the rare field that needs code. */
export function compute(
  columns: readonly string[],
  fn: (values: readonly unknown[], ctx: MappingContext) => unknown,
): FieldSpec {
  return { kind: 'field', columns, apply: fn };
}

/** Reports a dropped value for outcome `impossible`, and returns the value of `valid`. */
function settle(outcome: PartsOutcome, ctx: MappingContext): string | undefined {
  if (outcome.kind === 'impossible') ctx.warn?.('TENDRIL_W_IMPOSSIBLE_DATE');
  return outcome.kind === 'valid' ? outcome.value : undefined;
}

/** The columns of {@link dateFromParts}. */
export interface DatePartColumns {
  year: string;
  month: string;
  day: string;
}
/**
 * A date (`YYYY-MM-DD`) kept in three number columns. All parts blank, NULL or 0, or a year before
 * 1800, mean "no date" (omitted). Parts that name no real day (February 30, month 13, a part that
 * is not a whole number) are omitted too, and reported as `TENDRIL_W_IMPOSSIBLE_DATE`.
 */
export function dateFromParts(columns: DatePartColumns): FieldSpec {
  return compute([columns.year, columns.month, columns.day], ([year, month, day], ctx) =>
    settle(dateOfParts(year, month, day), ctx),
  );
}

/** The columns of {@link localInstantFromParts}: the day as one date column or as three parts. */
export type LocalInstantPartColumns = (
  | { date: string; year?: never; month?: never; day?: never }
  | { date?: never; year: string; month: string; day: string }
) & { hour: string; minute?: string; second?: string };
/**
 * An instant from an office-local day and time kept in separate columns (Dentrix Enterprise
 * `APPTDATE` + `TIME_HOUR` + `TIME_MINUTE`), converted with the connection's zone like
 * {@link localInstant} (DST gap → forward, overlap → the earlier instant). A missing day or hour is
 * unknown; a day or time that does not exist (hour 24, minute 60, April 31) is omitted and reported
 * as `TENDRIL_W_IMPOSSIBLE_DATE`. A missing minute or second counts as 0.
 */
export function localInstantFromParts(columns: LocalInstantPartColumns): FieldSpec {
  const dayColumns = columns.date !== undefined ? [columns.date] : [columns.year, columns.month, columns.day];
  const timeColumns = [columns.hour, columns.minute, columns.second].filter(
    (c): c is string => c !== undefined,
  );
  return compute([...dayColumns, ...timeColumns], (values, ctx) => {
    const day =
      columns.date !== undefined ? dateOfDateColumn(values[0]) : dateOfParts(values[0], values[1], values[2]);
    if (day.kind !== 'valid') return settle(day, ctx);
    const time = values.slice(dayColumns.length);
    const clock = timeOfParts(
      time[0],
      columns.minute !== undefined ? time[1] : 0,
      columns.second !== undefined ? time[columns.minute !== undefined ? 2 : 1] : 0,
    );
    if (clock.kind !== 'valid') return settle(clock, ctx);
    return localTextToInstant(`${day.value} ${clock.value}`, ctx.timezone);
  });
}

function dateOfDateColumn(value: unknown): PartsOutcome {
  const iso = toIsoDate(value);
  return iso === undefined ? { kind: 'none' } : { kind: 'valid', value: iso };
}

/** Options of {@link ref} and {@link refs}. */
export interface RefOptions {
  /** Fixed key prefix of the referenced resource (`'op'` for Open Dental operatories). */
  prefix?: string;
  /** The key a `0` stands for, when `0` is a real record in the vendor's logic (see `RefSpec.zeroMeans`). */
  zeroMeans?: string;
}

function refOptions(options: RefOptions): Pick<RefSpec, 'prefix' | 'zeroMeans'> {
  return {
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.zeroMeans !== undefined ? { zeroMeans: options.zeroMeans } : {}),
  };
}

/** A reference to another resource; `0`, `''` and NULL mean none (unless `zeroMeans` says otherwise). */
export function ref(
  resourceType: ResourceType,
  column: string | readonly string[],
  options: RefOptions = {},
): RefSpec {
  const columns = typeof column === 'string' ? [column] : column;
  return { kind: 'ref', resourceType, columns, many: false, ...refOptions(options) };
}

/** Several single-column references into one ordered, de-duplicated list (primary first). */
export function refs(
  resourceType: ResourceType,
  columns: readonly string[],
  options: RefOptions = {},
): RefSpec {
  return { kind: 'ref', resourceType, columns, many: true, ...refOptions(options) };
}

export interface NameColumns {
  family?: string;
  given?: readonly string[];
  prefix?: string;
  suffix?: string;
}
/** A HumanName from name columns; a column with several words stays one `given` entry. */
export function humanName(columns: NameColumns): FieldSpec {
  const list = [columns.family, ...(columns.given ?? []), columns.prefix, columns.suffix].filter(
    (c): c is string => c !== undefined,
  );
  const spec = compute(list, (values) => {
    let i = 0;
    const take = () => {
      const v = values[i++];
      return present(v) ? String(v).trim() : undefined;
    };
    const family = columns.family ? take() : undefined;
    const given = (columns.given ?? []).map(take).filter((g): g is string => g !== undefined);
    const prefix = columns.prefix ? take() : undefined;
    const suffix = columns.suffix ? take() : undefined;
    const name: Record<string, unknown> = {};
    if (family) name['family'] = family;
    if (given.length) name['given'] = given;
    if (prefix) name['prefix'] = [prefix];
    if (suffix) name['suffix'] = [suffix];
    return Object.keys(name).length ? name : undefined;
  });
  return shaped(spec, { kind: 'humanName', ...columns });
}

export interface ContactColumn {
  column: string;
  system: ContactPoint['system'];
  use?: ContactPoint['use'];
  /** A column holding this number's extension (Dentrix Enterprise `HOMEPHONEEXT`). */
  ext?: string;
}
/**
 * ContactPoints from several column groups (a number and its extension column; columns of joined
 * tables as `alias.column`), in the given order of preference; `rank` follows that order,
 * duplicates (same system and value) dropped.
 */
export function contactPoints(columns: readonly ContactColumn[]): FieldSpec {
  const read = columns.flatMap((c) => (c.ext ? [c.column, c.ext] : [c.column]));
  const spec = compute(read, (values, ctx) => {
    const out: ContactPoint[] = [];
    const seen = new Set<string>();
    let i = 0;
    for (const spec of columns) {
      const raw = values[i++];
      const extRaw = spec.ext ? values[i++] : undefined;
      if (!present(raw)) continue;
      const value = spec.system === 'email' ? String(raw).trim().toLowerCase() : toE164(String(raw));
      if (!value) ctx.warn?.('TENDRIL_W_PHONE_UNPARSEABLE');
      if (!value || seen.has(`${spec.system}:${value}`)) continue;
      seen.add(`${spec.system}:${value}`);
      const ext = spec.system !== 'email' && present(extRaw) ? String(extRaw).trim() : undefined;
      out.push({
        system: spec.system,
        value,
        ...(spec.use ? { use: spec.use } : {}),
        rank: out.length + 1,
        ...(ext ? { ext } : {}),
      });
    }
    return out.length ? out : undefined;
  });
  return shaped(spec, { kind: 'contactPoints', columns });
}

export interface AddressColumns {
  line: readonly string[];
  city?: string;
  state?: string;
  postalCode?: string;
  country?: string;
  use?: Address['use'];
}
function addressColumnList(columns: AddressColumns): string[] {
  const named = [columns.city, columns.state, columns.postalCode, columns.country] as const;
  return [...columns.line, ...named.filter((c): c is string => c !== undefined)];
}

/** One Address from the values of {@link addressColumnList}, or undefined when every part is blank. */
function addressOf(columns: AddressColumns, values: readonly unknown[]): Address | undefined {
  let i = 0;
  const take = () => {
    const v = values[i++];
    return present(v) ? String(v).trim() : undefined;
  };
  const line = columns.line.map(take).filter((l): l is string => l !== undefined);
  const result: Record<string, unknown> = {};
  if (columns.use) result['use'] = columns.use;
  result['line'] = line;
  for (const key of ['city', 'state', 'postalCode', 'country'] as const) {
    if (columns[key] !== undefined) {
      const v = take();
      if (v) result[key] = v;
    }
  }
  if (line.length === 0 && Object.keys(result).length <= (columns.use ? 2 : 1)) return undefined;
  return result as Address;
}

/** One Address from address columns; wrapped in a list with `asList` for `addresses`. */
export function address(columns: AddressColumns, options: { asList?: boolean } = {}): FieldSpec {
  const spec = compute(addressColumnList(columns), (values) => {
    const result = addressOf(columns, values);
    if (result === undefined) return undefined;
    return options.asList ? [result] : result;
  });
  const { use: _use, ...placed } = columns;
  return shaped(spec, { kind: 'address', ...placed });
}

/**
 * Several Addresses from several column groups (a home group on the main table, a billing group
 * from a joined table as `alias.column`…), in the given order. A group whose parts are all blank
 * is left out; a group identical to an earlier one (same use and parts) too.
 */
export function addresses(groups: readonly AddressColumns[]): FieldSpec {
  const lists = groups.map(addressColumnList);
  return compute(lists.flat(), (values) => {
    const out: Address[] = [];
    const seen = new Set<string>();
    let offset = 0;
    groups.forEach((group, g) => {
      const width = lists[g]!.length;
      const result = addressOf(group, values.slice(offset, offset + width));
      offset += width;
      if (result === undefined) return;
      const identity = JSON.stringify(result);
      if (seen.has(identity)) return;
      seen.add(identity);
      out.push(result);
    });
    return out.length ? out : undefined;
  });
}
