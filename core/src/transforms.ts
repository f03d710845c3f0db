import type { FieldShape, FieldSpec, RefSpec } from './sdk.js';
import type { ResourceType } from './model/index.js';
import type { MappingContext } from './mapping-context.js';
import type { Address, Coding, ContactPoint, Money } from './model/index.js';
import { localTextToInstant, toIsoDate, utcTextToInstant } from './time.js';

/**
 * One step of a field's transform chain. Returning `undefined` means "unknown": the chain stops
 * and the field is omitted (standard-model.md §1: no null, "" or sentinel).
 */
export type Transform = (value: unknown, ctx: MappingContext) => unknown;

function present(value: unknown): boolean {
  return value !== undefined && value !== null && !(typeof value === 'string' && value.trim() === '');
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
 * different things in two databases, so the system names the connection (standard-model.md §1).
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
export const phone = (): Transform => (v) => (present(v) ? toE164(String(v)) : undefined);

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
}
/** ContactPoints in the given order of preference; `rank` follows that order, duplicates dropped. */
export function contactPoints(columns: readonly ContactColumn[]): FieldSpec {
  const spec = compute(
    columns.map((c) => c.column),
    (values) => {
      const out: ContactPoint[] = [];
      const seen = new Set<string>();
      columns.forEach((spec, index) => {
        const raw = values[index];
        if (!present(raw)) return;
        const value = spec.system === 'email' ? String(raw).trim().toLowerCase() : toE164(String(raw));
        if (!value || seen.has(`${spec.system}:${value}`)) return;
        seen.add(`${spec.system}:${value}`);
        out.push({
          system: spec.system,
          value,
          ...(spec.use ? { use: spec.use } : {}),
          rank: out.length + 1,
        });
      });
      return out.length ? out : undefined;
    },
  );
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
/** One Address from address columns; wrapped in a list with `asList` for `addresses`. */
export function address(columns: AddressColumns, options: { asList?: boolean } = {}): FieldSpec {
  const named = [columns.city, columns.state, columns.postalCode, columns.country] as const;
  const list = [...columns.line, ...named.filter((c): c is string => c !== undefined)];
  const spec = compute(list, (values) => {
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
    return options.asList ? [result] : result;
  });
  const { use: _use, ...placed } = columns;
  return shaped(spec, { kind: 'address', ...placed });
}
