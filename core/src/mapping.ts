import { TendrilError } from './errors.js';
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
  const segments = path.split('.');
  let node = target;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (next === undefined) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[segments[segments.length - 1]!] = value;
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

/** One field's value from a row, and for a reference the source key(s) it holds. Throws what the mapping throws. */
function fieldValue(
  mapping: FieldMapping,
  row: Row,
  ctx: MappingContext,
): { value: unknown; ref?: string | string[] } {
  if (mapping.kind !== 'ref')
    return {
      value: mapping.apply(
        mapping.columns.map((c) => row[c]),
        ctx,
      ),
    };
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
 * Maps one vendor row to a validated standard-model resource and its content hash. Errors name
 * the table, field and rule, never the value: values can be PHI.
 */
export function mapRow(table: TableDefinition, row: Row, ctx: MappingContext, syncedAt: string): MappedRow {
  const sourceId = rowSourceId(table, row);
  if (matchesCondition(row, table.excludeWhen)) return { kind: 'absent', sourceId };
  if (matchesCondition(row, table.deletedWhen)) return { kind: 'deleted', sourceId };

  const id = resourceId(ctx.connectionId, table.resourceType, sourceId);
  const resource: Record<string, unknown> = { resourceType: table.resourceType, id, sourceId };
  const refs: ReferenceSourceIds = {};
  // Transforms report dropped values through `warn`; each is attributed to the field being mapped.
  let warnings: MappingWarning[] | undefined;
  let currentField = '';
  const rowCtx: MappingContext = {
    ...ctx,
    warn: (code) => {
      (warnings ??= []).push({ code, field: currentField });
      publishMappingWarning({
        code,
        field: currentField,
        connectionId: ctx.connectionId,
        connectorId: ctx.connectorId,
        table: table.table,
        resourceType: table.resourceType,
      });
    },
  };
  for (const [path, value] of Object.entries(table.constants ?? {})) setPath(resource, path, value);
  for (const [path, mapping] of Object.entries(table.fields)) {
    currentField = path;
    let value: unknown;
    try {
      const mapped = fieldValue(mapping, row, rowCtx);
      value = mapped.value;
      if (mapped.ref !== undefined) refs[path] = mapped.ref;
    } catch (cause) {
      throw new TendrilError('TENDRIL_E_MAPPING', `table ${table.table}: field ${path} could not be mapped`, {
        cause: cause instanceof TendrilError ? cause : undefined,
        details: { table: table.table, field: path, sourceId },
      });
    }
    if (!isEmpty(value)) setPath(resource, path, value);
  }

  const parsed = RESOURCE_SCHEMAS[table.resourceType].safeParse(resource);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new TendrilError(
      'TENDRIL_E_VALIDATION',
      `table ${table.table}: the mapped ${table.resourceType} is not valid (${issues.join('; ')}). Fix the table file's field mapping.`,
      { details: { table: table.table, resourceType: table.resourceType, sourceId, issues } },
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
    ...(warnings ? { warnings } : {}),
  };
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
    refId: (resourceType, sourceId) => resourceId(options.connectionId, resourceType, sourceId),
  };
}
