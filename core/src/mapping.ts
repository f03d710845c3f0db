import { TendrilError, type WarningCode } from './errors.js';
import { resourceHash, TOMBSTONE_HASH } from './hash.js';
import { resourceId, sourceIdOf } from './ids.js';
import type { MappingContext } from './mapping-context.js';
import { publishMappingWarning, type MappingWarning } from './mapping-warnings.js';
import { RESOURCE_SCHEMAS, type ResourceType } from './model/index.js';
import type { FieldMapping, RowCondition, TableDefinition } from './sdk.js';
import { localTextToInstant, utcTextToInstant } from './time.js';
import { cellText } from './cell-text.js';

export type Row = Readonly<Record<string, unknown>>;
/** Source ids of the references a resource holds, by field name (the `flat` format needs them). */
export type ReferenceSourceIds = Record<string, string | string[]>;

export type MappedRow =
  | {
      readonly kind: 'live';
      readonly sourceId: string;
      readonly resource: Record<string, unknown> & { resourceType: ResourceType; id: string };
      readonly hash: string;
      readonly refs: ReferenceSourceIds;
      /** Values dropped for a coded reason while the row was mapped (field and code, never the value). */
      readonly warnings?: readonly MappingWarning[];
    }
  /** Soft-deleted in the vendor's terms. */
  | { readonly kind: 'deleted'; readonly sourceId: string }
  /** The row exists but is not this resource (excluded); treated like a confirmed absence. */
  | { readonly kind: 'absent'; readonly sourceId: string };

export function matchesCondition(row: Row, condition: RowCondition | undefined): boolean {
  if (!condition) return false;
  return Object.entries(condition).every(([column, expected]) => {
    const actual = row[column];
    const text = cellText(actual);
    if (typeof expected === 'object') {
      const list = 'in' in expected ? expected.in : expected.notIn;
      const found = list.some((e) => String(e) === text);
      return 'in' in expected ? found : !found;
    }
    return String(expected) === text;
  });
}

function noReference(value: unknown): boolean {
  const text = cellText(value).trim();
  return text === '' || text === '0';
}

export function rowSourceId(table: TableDefinition, row: Row): string {
  const parts = table.key.map((column) => {
    const value = row[column];
    if (value === null || value === undefined) {
      throw new TendrilError('TENDRIL_E_MAPPING', `table ${table.table}: key column ${column} is NULL`, {
        details: { table: table.table, column },
      });
    }
    return cellText(value).trim();
  });
  return sourceIdOf(table.sourceIdPrefix ? [table.sourceIdPrefix, ...parts] : parts);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  setSegments(target, path.split('.'), value);
}

function setSegments(target: Record<string, unknown>, segments: readonly string[], value: unknown): void {
  let node = target;
  const last = segments.length - 1;
  for (let i = 0; i < last; i += 1) {
    const segment = segments[i]!;
    const next = node[segment];
    if (next === undefined) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[segments[last]!] = value;
}

/** A table's constants and field mappings with their paths split once: {@link mapRow} runs per row read. */
interface TablePlan {
  readonly constants: readonly (readonly [segments: readonly string[], value: unknown])[];
  readonly fields: readonly (readonly [path: string, segments: readonly string[], mapping: FieldMapping])[];
}

/** Table definitions are never changed once built (overrides make new ones), so a plan per object holds. */
const plans = new WeakMap<TableDefinition, TablePlan>();

function tablePlan(table: TableDefinition): TablePlan {
  let plan = plans.get(table);
  if (plan === undefined) {
    plan = {
      constants: Object.entries(table.constants ?? {}).map(
        ([path, value]) => [path.split('.'), value] as const,
      ),
      fields: Object.entries(table.fields).map(
        ([path, mapping]) => [path, path.split('.'), mapping] as const,
      ),
    };
    plans.set(table, plan);
  }
  return plan;
}

function isEmpty(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    (typeof value === 'string' && value === '') ||
    (Array.isArray(value) && value.length === 0)
  );
}

/**
 * When the vendor last changed the row, from the cursor column (its `fallback` column when the
 * stamp is NULL), as a UTC instant.
 */
export function sourceUpdatedAt(table: TableDefinition, row: Row, ctx: MappingContext): string | undefined {
  if (table.cursor.mode !== 'timestamp') return undefined;
  const stamp = row[table.cursor.column];
  const value =
    (stamp === null || stamp === undefined) && table.cursor.fallback !== undefined
      ? row[table.cursor.fallback]
      : stamp;
  return table.cursor.clock === 'db-utc' ? utcTextToInstant(value) : localTextToInstant(value, ctx.timezone);
}

/** The cells a mapping reads, in its column order. */
function cells(columns: readonly string[], row: Row): unknown[] {
  const values = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) values[i] = row[columns[i]!];
  return values;
}

type RefMapping = Extract<FieldMapping, { kind: 'ref' }>;

/** A reference field's value (framework id or ids) and the source key(s) it holds. */
function refValue(
  mapping: RefMapping,
  row: Row,
  ctx: MappingContext,
): { value: unknown; ref?: string | string[] } {
  const keyOf = (parts: unknown[]) =>
    sourceIdOf(mapping.prefix ? [mapping.prefix, ...(parts as string[])] : (parts as string[]));
  // One key component, or undefined for "no reference". With `zeroMeans`, the vendor's 0 is a
  // real record (Open Dental's default office), not "none".
  const component = (v: unknown): string | undefined => {
    if (mapping.zeroMeans !== undefined && cellText(v).trim() === '0') return mapping.zeroMeans;
    return noReference(v) ? undefined : String(v).trim();
  };
  if (mapping.many) {
    const present = mapping.columns.map((c) => component(row[c])).filter((v): v is string => v !== undefined);
    const keys = [...new Set(present.map((v) => keyOf([v])))];
    return keys.length
      ? { value: keys.map((key) => ctx.refId(mapping.resourceType, key)), ref: keys }
      : { value: undefined };
  }
  const parts = mapping.columns.map((c) => component(row[c]));
  if (parts.some((p) => p === undefined)) return { value: undefined };
  const key = keyOf(parts);
  return { value: ctx.refId(mapping.resourceType, key), ref: key };
}

/** One field's value from a row, and for a reference the source key(s) it holds. Throws what the mapping throws. */
function fieldValue(
  mapping: FieldMapping,
  row: Row,
  ctx: MappingContext,
): { value: unknown; ref?: string | string[] } {
  return mapping.kind === 'ref'
    ? refValue(mapping, row, ctx)
    : { value: mapping.apply(cells(mapping.columns, row), ctx) };
}

/**
 * Some model fields of a row, each mapped on its own: a field whose mapping throws, or whose value
 * is empty, is left out, and the result is not validated as a whole resource. For reading a few
 * facts of rows that may be dirty (writeback's slot check and re-reads), never for emitting events.
 */
export function mapFields(
  table: TableDefinition,
  row: Row,
  ctx: MappingContext,
  fields: readonly string[] = Object.keys(table.fields),
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(table.constants ?? {})) setPath(out, path, value);
  for (const path of fields) {
    const mapping = table.fields[path];
    if (!mapping) continue;
    try {
      const { value } = fieldValue(mapping, row, ctx);
      if (!isEmpty(value)) setPath(out, path, value);
    } catch {
      // A dirty value is unknown here; the row itself is still placed by its other fields.
    }
  }
  return out;
}

/**
 * The row being mapped, as its transforms see it: the context with a `warn` that attributes each
 * dropped value to the field being mapped. One per mapping context, reset for each row — not a
 * copy of the context and a closure per row (their garbage was a fifth of mapping's CPU, in GC;
 * docs/performance.md, "The pipeline"). `mapRow` is synchronous and never re-entered, so one
 * scope per context is enough.
 */
interface RowScope {
  readonly rowCtx: MappingContext;
  readonly warn: (code: WarningCode, field?: string) => void;
  table: TableDefinition;
  field: string;
  warnings: MappingWarning[] | undefined;
}

const rowScopes = new WeakMap<MappingContext, RowScope>();

function rowScope(ctx: MappingContext, table: TableDefinition): RowScope {
  let scope = rowScopes.get(ctx);
  if (scope === undefined) {
    const warn = (code: WarningCode, field = created.field): void => {
      (created.warnings ??= []).push({ code, field });
      publishMappingWarning({
        code,
        field,
        connectionId: ctx.connectionId,
        connectorId: ctx.connectorId,
        table: created.table.table,
        resourceType: created.table.resourceType,
      });
    };
    const created: RowScope = { rowCtx: { ...ctx, warn }, warn, table, field: '', warnings: undefined };
    rowScopes.set(ctx, created);
    scope = created;
  }
  scope.table = table;
  scope.field = '';
  scope.warnings = undefined;
  return scope;
}

/**
 * Maps one vendor row to a validated standard-model resource and its content hash. Errors name
 * the table, field and rule, never the value: values can be PHI.
 */
/** How {@link mapRow} treats an invalid value of an optional field. */
export interface MapRowOptions {
  /**
   * Fail the row instead of dropping the value with a warning: for `tendril map`, where a value
   * failing validation means the proposed column is wrong.
   */
  readonly strict?: boolean;
}

export function mapRow(
  table: TableDefinition,
  row: Row,
  ctx: MappingContext,
  syncedAt: string,
  options: MapRowOptions = {},
): MappedRow {
  const sourceId = rowSourceId(table, row);
  if (matchesCondition(row, table.excludeWhen)) return { kind: 'absent', sourceId };
  if (matchesCondition(row, table.deletedWhen)) return { kind: 'deleted', sourceId };

  const id = resourceId(ctx.connectionId, table.resourceType, sourceId);
  const resource: Record<string, unknown> = { resourceType: table.resourceType, id, sourceId };
  const refs: ReferenceSourceIds = {};
  const scope = rowScope(ctx, table);
  const { rowCtx, warn } = scope;
  const plan = tablePlan(table);
  for (const [segments, value] of plan.constants) setSegments(resource, segments, value);
  for (const [path, segments, mapping] of plan.fields) {
    scope.field = path;
    let value: unknown;
    try {
      if (mapping.kind !== 'ref') value = mapping.apply(cells(mapping.columns, row), rowCtx);
      else {
        const mapped = refValue(mapping, row, rowCtx);
        value = mapped.value;
        if (mapped.ref !== undefined) refs[path] = mapped.ref;
      }
    } catch (cause) {
      throw new TendrilError('TENDRIL_E_MAPPING', `table ${table.table}: field ${path} could not be mapped`, {
        cause: cause instanceof TendrilError ? cause : undefined,
        details: { table: table.table, field: path, sourceId },
      });
    }
    if (!isEmpty(value)) setSegments(resource, segments, value);
  }

  const schema = RESOURCE_SCHEMAS[table.resourceType];
  let parsed = schema.safeParse(resource);
  if (!parsed.success && options.strict !== true) {
    // Field-level tolerance (docs/quarantine.md, "Field-level tolerance"): a value of an optional
    // field that fails validation is dropped with a warning; the row fails only when a required
    // field is wrong, and then it is quarantined by the engine, not mapped.
    if (dropInvalidOptionalValues(resource, parsed.error.issues, schema.shape, warn)) {
      parsed = schema.safeParse(resource);
    }
  }
  if (!parsed.success) {
    // Paths and zod issue codes only: a zod message can quote the value ("received '99'").
    const issues = parsed.error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || '(root)',
      reason: issue.code,
    }));
    const first = issues[0]!;
    throw new TendrilError(
      'TENDRIL_E_VALIDATION',
      `table ${table.table}: the mapped ${table.resourceType} is not valid (${issues
        .map((i) => `${i.field}: ${i.reason}`)
        .join(
          '; ',
        )}); the row is skipped into quarantine (docs/quarantine.md). If most rows fail, the table's field mapping is wrong.`,
      {
        details: {
          table: table.table,
          resourceType: table.resourceType,
          sourceId,
          field: first.field,
          reason: first.reason,
          issues,
        },
      },
    );
  }
  const hash = resourceHash(resource);
  const updatedAt = sourceUpdatedAt(table, row, ctx);
  resource['meta'] = {
    source: { system: ctx.connectorId, connectionId: ctx.connectionId },
    ...(updatedAt ? { sourceUpdatedAt: updatedAt } : {}),
    syncedAt,
    hash,
  };
  return {
    kind: 'live',
    sourceId,
    // The schema just parsed it: it is a resource of this table's type, with its id.
    resource: resource as Extract<MappedRow, { kind: 'live' }>['resource'],
    hash,
    refs,
    ...(scope.warnings ? { warnings: scope.warnings } : {}),
  };
}

/** What {@link dropInvalidOptionalValues} needs of a zod issue and of a resource schema's fields. */
interface FieldIssue {
  readonly path: readonly PropertyKey[];
}
type FieldShape = Readonly<Record<string, { isOptional(): boolean }>>;

/**
 * Drops the values that make these issues, where the model allows it: an element of an optional
 * list (the list goes when it is left empty) or an optional field; each with the warning
 * `TENDRIL_W_INVALID_VALUE` on the top-level field. True when something was dropped; an issue on
 * a required field is left for validation to report.
 */
function dropInvalidOptionalValues(
  resource: Record<string, unknown>,
  issues: readonly FieldIssue[],
  shape: FieldShape,
  warn: (code: 'TENDRIL_W_INVALID_VALUE', field?: string) => void,
): boolean {
  const fields = new Map<string, Set<number> | 'whole'>();
  for (const issue of issues) {
    const [key, index] = issue.path;
    if (typeof key !== 'string' || !shape[key]?.isOptional() || !(key in resource)) return false;
    const list = resource[key];
    if (Array.isArray(list) && typeof index === 'number') {
      const known = fields.get(key);
      if (known !== 'whole') fields.set(key, (known ?? new Set()).add(index));
    } else fields.set(key, 'whole');
  }
  for (const [key, drop] of fields) {
    warn('TENDRIL_W_INVALID_VALUE', key);
    const list = resource[key];
    if (drop === 'whole' || !Array.isArray(list)) {
      delete resource[key];
      continue;
    }
    const kept = list.filter((_, i) => !drop.has(i));
    if (kept.length > 0) resource[key] = kept;
    else delete resource[key];
  }
  return fields.size > 0;
}

/** A tombstone resource for a deleted record (docs/standard-model.md, "Conventions"). */
export function tombstone(
  resourceType: ResourceType,
  sourceId: string,
  ctx: Pick<MappingContext, 'connectionId' | 'connectorId'>,
  syncedAt: string,
): Record<string, unknown> {
  return {
    resourceType,
    id: resourceId(ctx.connectionId, resourceType, sourceId),
    sourceId,
    meta: {
      source: { system: ctx.connectorId, connectionId: ctx.connectionId },
      syncedAt,
      hash: TOMBSTONE_HASH,
      deleted: true,
    },
  };
}

export function mappingContext(options: {
  connectionId: string;
  connectorId: string;
  timezone: string;
  currency?: string;
  options?: Readonly<Record<string, unknown>>;
}): MappingContext {
  return {
    connectionId: options.connectionId,
    connectorId: options.connectorId,
    timezone: options.timezone,
    currency: options.currency ?? 'USD',
    options: options.options ?? {},
    refId: referenceIds(options.connectionId),
  };
}

/** Referenced ids remembered per context, at most this many (then forgotten all at once). */
const REFERENCE_IDS_LIMIT = 10_000;

/**
 * A context's `refId`: the same few practitioners, locations and guarantors are referenced by row
 * after row, and each id is a SHA-1 (ids.ts), so the ids are remembered, a bounded number of them.
 * The id is a pure function of its inputs: remembering it changes nothing but the time.
 */
function referenceIds(connectionId: string): MappingContext['refId'] {
  const known = new Map<string, string>();
  return (resourceType, sourceId) => {
    const key = `${resourceType}\u0000${sourceId}`;
    let id = known.get(key);
    if (id === undefined) {
      id = resourceId(connectionId, resourceType, sourceId);
      if (known.size >= REFERENCE_IDS_LIMIT) known.clear();
      known.set(key, id);
    }
    return id;
  };
}
