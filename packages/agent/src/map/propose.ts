import type { MappingContext, TableDefinition } from '@tendril/core';
import {
  findLiveTable,
  lookupByKeysQuery,
  snapshotPageQuery,
  typeFits,
  type LiveSchema,
  type LiveTable,
  type SqlClient,
} from '@tendril/sql';
import { nameSimilarity } from './name-similarity.js';

/**
 * `tendril map`'s proposals: for a stream, the live tables ranked as its main table, then for each
 * declared main-table column (and so for each model field it feeds) the live columns ranked by
 * three kinds of evidence:
 * - **name**: `nameSimilarity` of the declared and the live name;
 * - **type**: the live type must fit the declared one the way discovery checks it (`typeFits`:
 *   same family; exact base type for a cursor, signedness for an integer key);
 * - **values**, read from a sample of the live rows: for a column behind a reference, the share of
 *   its values that are keys of the referenced stream's table ("keys that join"); for a key, the
 *   share of distinct values; for a change stamp, the share that parse as timestamps; for any
 *   other column, the share of values the connector's own transforms turn into a field value
 *   (dates that parse, phone-shaped strings, codes the lookups know).
 * Only metadata and sampled values are read, never written; values never leave this process.
 */

/** One live column offered for a declared column. */
export interface ColumnCandidate {
  readonly column: string;
  readonly type: string;
  /** 0–1; the list is sorted by it. */
  readonly score: number;
  readonly name: number;
  /** Share of sampled values that passed this column's value check, when one applies. */
  readonly values?: number;
  /** Which value check ran: `join`, `unique`, `timestamp`, `maps`. */
  readonly check?: 'join' | 'unique' | 'timestamp' | 'maps';
}

export interface ColumnProposal {
  readonly declared: string;
  readonly declaredType: string;
  readonly role: 'key' | 'cursor' | 'column';
  /** Model fields that read the column. */
  readonly fields: readonly string[];
  readonly candidates: readonly ColumnCandidate[];
}

export interface TableCandidate {
  readonly table: string;
  readonly score: number;
  /** Declared columns that have a candidate of a fitting type and a similar name here. */
  readonly matchedColumns: number;
}

/** Rows read from a live table for value evidence and the preview. */
export const SAMPLE_ROWS = 200;

const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/;

function present(value: unknown): boolean {
  return value !== null && value !== undefined && !(typeof value === 'string' && value.trim() === '');
}

/** A live table as a table definition, so core builds the sample query (never hand-written SQL). */
export function liveTableDefinition(
  table: LiveTable,
  resourceType: TableDefinition['resourceType'],
): TableDefinition {
  return {
    resourceType,
    table: table.name,
    key: table.primaryKey.length > 0 ? table.primaryKey : [table.columns[0]!.name],
    columns: Object.fromEntries(table.columns.map((c) => [c.name, c.type])),
    cursor: { mode: 'snapshot' },
    fields: {},
  };
}

/** Up to `limit` rows of a live table, in key order. */
export async function sampleLiveRows(
  client: SqlClient,
  table: LiveTable,
  resourceType: TableDefinition['resourceType'],
  limit = SAMPLE_ROWS,
): Promise<Record<string, unknown>[]> {
  return client.execute(snapshotPageQuery(client, liveTableDefinition(table, resourceType), { limit }));
}

function roleOf(table: TableDefinition, column: string): ColumnProposal['role'] {
  if (table.key.includes(column)) return 'key';
  if (
    table.cursor.mode === 'timestamp' &&
    (table.cursor.column === column || table.cursor.fallback === column)
  )
    return 'cursor';
  return 'column';
}

/** The live tables ranked as the stream's main table. */
export function rankTables(table: TableDefinition, schema: LiveSchema): TableCandidate[] {
  const declared = Object.entries(table.columns);
  return schema.tables
    .map((live) => {
      const matchedColumns = declared.filter(([name, type]) =>
        live.columns.some(
          (c) => typeFits(type, c.type, roleOf(table, name)) && nameSimilarity(name, c.name) >= 0.5,
        ),
      ).length;
      const score = 0.4 * nameSimilarity(table.table, live.name) + 0.6 * (matchedColumns / declared.length);
      return { table: live.name, score, matchedColumns };
    })
    .sort((a, b) => b.score - a.score || a.table.localeCompare(b.table));
}

/** Keys of the referenced stream's table that exist, for "keys that join". */
export interface KeyProbe {
  /** The share of `values` found as keys of the table of `resourceType`; undefined when none can be checked. */
  (resourceType: string, values: readonly string[]): Promise<number | undefined>;
}

/** A KeyProbe over the streams of a connector as this site names them (one-column keys). */
export function keyProbe(client: SqlClient, streams: readonly TableDefinition[]): KeyProbe {
  return async (resourceType, values) => {
    const targets = streams.filter((s) => s.resourceType === resourceType && s.key.length === 1);
    if (targets.length === 0 || values.length === 0) return undefined;
    let best: number | undefined;
    for (const target of targets) {
      try {
        const rows = await client.execute(
          lookupByKeysQuery(
            client,
            target,
            values.map((v) => [v]),
          ),
        );
        const found = new Set(rows.map((r) => String(r[target.key[0]!])));
        const share = values.filter((v) => found.has(v)).length / values.length;
        best = best === undefined ? share : Math.max(best, share);
      } catch {
        // The referenced table is not mapped yet at this site: no evidence either way.
      }
    }
    return best;
  };
}

/** The share of a candidate's sampled values that the fields reading `declared` turn into a value. */
function mappedShare(
  table: TableDefinition,
  declared: string,
  values: readonly unknown[],
  ctx: MappingContext,
): number | undefined {
  const fields = Object.values(table.fields).filter(
    (f) => f.kind === 'field' && f.columns.includes(declared),
  );
  const filled = values.filter(present);
  if (fields.length === 0 || filled.length === 0) return undefined;
  let mapped = 0;
  for (const value of filled) {
    const ok = fields.some((field) => {
      if (field.kind !== 'field') return false;
      try {
        const out = field.apply(
          field.columns.map((c) => (c === declared ? value : undefined)),
          ctx,
        );
        return out !== undefined && out !== null && !(Array.isArray(out) && out.length === 0);
      } catch {
        return false;
      }
    });
    if (ok) mapped += 1;
  }
  return mapped / filled.length;
}

/**
 * Ranks the live columns of `live` for every declared main-table column of `table`. `rows` is a
 * sample of `live`; `probe` checks reference values against the referenced streams' keys.
 */
export async function rankColumns(
  table: TableDefinition,
  live: LiveTable,
  rows: readonly Record<string, unknown>[],
  ctx: MappingContext,
  probe: KeyProbe,
): Promise<ColumnProposal[]> {
  const proposals: ColumnProposal[] = [];
  for (const [declared, declaredType] of Object.entries(table.columns)) {
    const role = roleOf(table, declared);
    const fields = Object.entries(table.fields)
      .filter(([, m]) => m.columns.includes(declared))
      .map(([path]) => path);
    const refs = Object.values(table.fields).filter(
      (m) => m.kind === 'ref' && m.columns.length === 1 && m.columns[0] === declared,
    );
    const candidates: ColumnCandidate[] = [];
    for (const column of live.columns) {
      if (!typeFits(declaredType, column.type, role)) continue;
      const name = nameSimilarity(declared, column.name);
      const values = rows.map((r) => r[column.name]);
      const filled = values.filter(present).map((v) => String(v).trim());
      let check: ColumnCandidate['check'];
      let share: number | undefined;
      if (role === 'key') {
        check = 'unique';
        share = filled.length === 0 ? 0 : new Set(filled).size / rows.length;
      } else if (role === 'cursor') {
        check = 'timestamp';
        share = filled.length === 0 ? 0 : filled.filter((v) => TIMESTAMP_TEXT.test(v)).length / filled.length;
      } else if (refs.length > 0) {
        check = 'join';
        const keys = [...new Set(filled.filter((v) => v !== '0'))].slice(0, 500);
        share = await probe(refs[0]!.kind === 'ref' ? refs[0]!.resourceType : '', keys);
      } else {
        check = 'maps';
        share = mappedShare(table, declared, values, ctx);
      }
      const score = share === undefined ? name : 0.55 * name + 0.45 * share;
      candidates.push({
        column: column.name,
        type: column.type,
        score,
        name,
        ...(share !== undefined ? { values: share, check } : {}),
      });
    }
    candidates.sort((a, b) => b.score - a.score || a.column.localeCompare(b.column));
    proposals.push({ declared, declaredType, role, fields, candidates });
  }
  return proposals;
}

/**
 * One live column per declared column, best scores first, so two declared columns never take the
 * same live column. `fixed` holds the engineer's choices, which are taken as given.
 */
export function assignColumns(
  proposals: readonly ColumnProposal[],
  fixed: Readonly<Record<string, string>> = {},
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const taken = new Set(Object.values(fixed).map((c) => c.toLowerCase()));
  for (const [declared, column] of Object.entries(fixed)) out[declared] = column;
  const open = proposals
    .filter((p) => fixed[p.declared] === undefined)
    .flatMap((p) => p.candidates.map((c) => ({ declared: p.declared, ...c })))
    .sort((a, b) => b.score - a.score);
  for (const pick of open) {
    if (pick.declared in out || taken.has(pick.column.toLowerCase())) continue;
    out[pick.declared] = pick.column;
    taken.add(pick.column.toLowerCase());
  }
  for (const p of proposals) if (!(p.declared in out)) out[p.declared] = undefined;
  return out;
}

export { findLiveTable };
