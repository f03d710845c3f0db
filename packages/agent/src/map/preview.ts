import {
  cellText,
  applyTableOverrides,
  isTendrilError,
  mapRow,
  type MappingContext,
  type TableDefinition,
  type TableOverride,
} from '@tendril/core';
import { snapshotPageQuery, type SqlClient } from '@tendril/sql';

/** Keys whose values are vocabulary, not patient data: shown as they are in a preview. */
const VOCABULARY_KEYS = new Set([
  'resourceType',
  'status',
  'system',
  'use',
  'kind',
  'gender',
  'currency',
  'rank',
  'type',
  'payerType',
  'relationship',
]);

/**
 * A resource with every value that could be patient data replaced by its shape: letters by `x`/`X`,
 * digits by `9`, other characters kept (`Rivera` → `Xxxxxx`, `1987-04-12` → `9999-99-99`,
 * `+15555550142` → `+99999999999`). Field names, vocabulary values (status, code systems, uses),
 * numbers and booleans stay, references show as `(ref)`, so an engineer sees which fields fill and
 * in what format, never what they hold.
 */
export function maskResource(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskResource(v, key));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'meta' && k !== 'id')
        .map(([k, v]) => [k, maskResource(v, k)]),
    );
  }
  if (typeof value === 'boolean' || typeof value === 'number' || value === null || value === undefined)
    return value;
  // A reference holds a framework id (a UUID): say that it is one, not which.
  if (/Ids?$/.test(key)) return '(ref)';
  if (VOCABULARY_KEYS.has(key)) return value;
  return cellText(value).replace(/[A-Z]/g, 'X').replace(/[a-z]/g, 'x').replace(/[0-9]/g, '9');
}

export interface MappingPreview {
  readonly sampleRows: number;
  readonly failedRows: number;
  /** Failures grouped by error code and PHI-free message (a row value is never in a message). */
  readonly failures: readonly { code: string; message: string; rows: number }[];
  /** Values dropped with a warning code, by code and field. */
  readonly warnings: readonly { code: string; field: string; rows: number }[];
  /** How many mapped rows fill each field. */
  readonly filled: Readonly<Record<string, number>>;
  /** The first mapped resources, masked. */
  readonly examples: readonly unknown[];
}

/**
 * Maps a sample of the live rows through the connector's transforms and the model's validation,
 * with the proposed override applied exactly as the agent would apply it (queries select
 * `site AS declared`). Reads in key order; deleted and excluded rows count as mapped.
 */
export async function previewMapping(
  client: SqlClient,
  declared: TableDefinition,
  override: TableOverride,
  ctx: MappingContext,
  options: { sampleRows: number; examples?: number; syncedAt: string },
): Promise<MappingPreview> {
  const table = applyTableOverrides(declared, override);
  const rows = await client.execute(snapshotPageQuery(client, table, { limit: options.sampleRows }));
  const failures = new Map<string, { code: string; message: string; rows: number }>();
  const warnings = new Map<string, { code: string; field: string; rows: number }>();
  const filled: Record<string, number> = {};
  const examples: unknown[] = [];
  let failedRows = 0;
  for (const row of rows) {
    try {
      const mapped = mapRow(table, row, ctx, options.syncedAt);
      if (mapped.kind !== 'live') continue;
      for (const w of mapped.warnings ?? []) {
        const key = `${w.code} ${w.field}`;
        const entry = warnings.get(key) ?? { code: w.code, field: w.field, rows: 0 };
        entry.rows += 1;
        warnings.set(key, entry);
      }
      for (const field of Object.keys(declared.fields)) {
        const top = field.split('.')[0]!;
        if (mapped.resource[top] !== undefined) filled[field] = (filled[field] ?? 0) + 1;
      }
      if (examples.length < (options.examples ?? 3)) examples.push(maskResource(mapped.resource));
    } catch (error) {
      failedRows += 1;
      const code = isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
      // TendrilError messages name tables, fields and rules only; anything else is not shown.
      const message = isTendrilError(error) ? error.message : 'unexpected failure';
      const key = `${code} ${message}`;
      const entry = failures.get(key) ?? { code, message, rows: 0 };
      entry.rows += 1;
      failures.set(key, entry);
    }
  }
  return {
    sampleRows: rows.length,
    failedRows,
    failures: [...failures.values()],
    warnings: [...warnings.values()],
    filled,
    examples,
  };
}
