import {
  classify,
  classifyConfirmedAbsent,
  isTendrilError,
  mapRow,
  TendrilError,
  tombstone,
  TOMBSTONE_HASH,
  type MappedRow,
  type Row,
  type ShadowEntry,
} from '@tendril/core';
import { businessDateOf } from '@tendril/sql';
import type { PendingChange, QuarantinedRow, SeenRecord, StreamState } from '@tendril/store';
import type { StreamRun } from './stream-run.js';

/** Default of `sync.quarantineMaxShare` (docs/quarantine.md, "When the stream stops"). */
export const DEFAULT_QUARANTINE_MAX_SHARE = 0.5;
/** The share is judged on pages of at least this many rows: one bad row alone never stops a stream. */
export const QUARANTINE_SHARE_MIN_ROWS = 10;

/**
 * The per-row path every change-detection strategy sends its rows through, in one place:
 * map → validate → hash (core's `mapRow`), then classify against the shadow store and commit with
 * the page's stream state in one local transaction (docs/sync.md, "One poll of a `timestamp`
 * stream", steps 4–5). Row-level concerns (quarantining a row that fails to map, timing each
 * stage) belong here, not in a strategy.
 */

/** A source id's business date, for `window` streams (the shadow keeps it). */
export type BusinessDates = ReadonlyMap<string, string>;

/** A page of rows mapped to the standard model, with their business dates for window streams. */
export interface MappedPage {
  readonly mapped: readonly MappedRow[];
  readonly businessDates?: BusinessDates;
  /** Rows that failed mapping or validation: skipped into quarantine (docs/quarantine.md). */
  readonly quarantined: readonly QuarantinedRow[];
}

/** Source ids the page read (mapped or quarantined): they exist in the EHR, whatever their content. */
export function readSourceIds(page: MappedPage): string[] {
  return [...page.mapped.map((m) => m.sourceId), ...page.quarantined.map((q) => q.sourceId)];
}

/**
 * The quarantine entry of a row whose mapping failed, or undefined when the failure is not the
 * row's (then the stream fails as before). Names and codes only, never the row's values.
 */
function quarantineEntry(run: StreamRun, error: unknown): QuarantinedRow | undefined {
  if (!isTendrilError(error)) return undefined;
  if (error.code !== 'TENDRIL_E_MAPPING' && error.code !== 'TENDRIL_E_VALIDATION') return undefined;
  const sourceId = error.details?.['sourceId'];
  if (typeof sourceId !== 'string') return undefined;
  const field = error.details?.['field'];
  const reason = error.details?.['reason'];
  return {
    resourceType: run.table.resourceType,
    sourceId,
    errorCode: error.code,
    ...(typeof field === 'string' ? { field } : {}),
    reason: typeof reason === 'string' ? reason : 'mapping-failed',
  };
}

/**
 * Maps each row read to the standard model: the connector's field mapping, validation against the
 * model, and the content hash. With `withBusinessDates` (window streams) each row's business date
 * is collected by source id as well.
 */
export function mapRows(
  run: StreamRun,
  rows: readonly Row[],
  syncedAt: string,
  withBusinessDates = false,
): MappedPage {
  const mapped: MappedRow[] = [];
  const quarantined: QuarantinedRow[] = [];
  const dates = withBusinessDates ? new Map<string, string>() : undefined;
  for (const row of rows) {
    let one: MappedRow;
    try {
      one = mapRow(run.table, row, run.ctx, syncedAt);
    } catch (error) {
      const entry = quarantineEntry(run, error);
      if (!entry) throw error;
      quarantined.push(entry);
      continue;
    }
    if (one.kind === 'live' && one.warnings)
      run.counts.warnings = (run.counts.warnings ?? 0) + one.warnings.length;
    mapped.push(one);
    if (dates) {
      const day = businessDateOf(row);
      if (day) dates.set(one.sourceId, day);
    }
  }
  return dates ? { mapped, businessDates: dates, quarantined } : { mapped, quarantined };
}

/** What is committed with a page besides its rows. */
export interface PageCommit {
  /** Source ids confirmed absent (a point lookup found nothing, or change tracking said so). */
  readonly confirmedAbsent?: readonly string[];
  /** Rows known to exist that were not read in full (keys-only reconciliation): only `lastSeenAt` moves. */
  readonly alsoSeen?: readonly SeenRecord[];
  /** The stream state to commit with the page (its position, for a resumed run). */
  readonly state: StreamState;
  /** The agent time of this run's reads: `syncedAt` of the resources and `lastSeenAt` of the shadow. */
  readonly seenAt: string;
}

/**
 * Maps a page of rows read in full, classifies them and commits them with `commit`; returns the
 * mapped page. `withBusinessDates`: a window stream, whose shadow keeps each row's business date.
 */
export async function commitRows(
  run: StreamRun,
  rows: readonly Row[],
  commit: PageCommit,
  withBusinessDates = false,
): Promise<MappedPage> {
  const page = mapRows(run, rows, commit.seenAt, withBusinessDates);
  await commitMapped(run, page, commit);
  return page;
}

/**
 * Classifies mapped rows against the shadow store (docs/sync-semantics.md, "Classification") and commits
 * them, with the new stream state, in one local transaction (docs/sync-semantics.md, "The commit rule").
 */
export async function commitMapped(run: StreamRun, page: MappedPage, commit: PageCommit): Promise<void> {
  const { store } = run.deps;
  const { connection, connector, stream } = run.input;
  const { mapped, businessDates, quarantined } = page;
  const { state, seenAt } = commit;
  const confirmedAbsent = commit.confirmedAbsent ?? [];
  const resourceType = run.table.resourceType;
  await refuseMostlyFailingPage(run, page, seenAt);
  const ids = [...mapped.map((m) => m.sourceId), ...confirmedAbsent];
  const shadow = ids.length
    ? await store.getShadow(connection.id, resourceType, ids)
    : new Map<string, ShadowEntry>();
  const changes: PendingChange[] = [];
  const seen: SeenRecord[] = [...(commit.alsoSeen ?? [])];
  const syncedAt = seenAt;
  for (const row of mapped) {
    const verdict = classify(shadow.get(row.sourceId), row);
    if (verdict === 'unchanged') {
      run.counts.unchanged++;
      if (row.kind === 'live') {
        const businessDate = businessDates?.get(row.sourceId);
        seen.push({ resourceType, sourceId: row.sourceId, ...(businessDate ? { businessDate } : {}) });
      }
      continue;
    }
    run.counts[verdict]++;
    if (row.kind === 'live') {
      changes.push({
        resourceType,
        sourceId: row.sourceId,
        resourceId: row.resource.id,
        kind: verdict,
        hash: row.hash,
        data: row.resource,
        refs: row.refs,
        ...(businessDates?.has(row.sourceId) ? { businessDate: businessDates.get(row.sourceId)! } : {}),
      });
    } else {
      changes.push(deletion(run, row.sourceId, syncedAt));
    }
  }
  for (const sourceId of confirmedAbsent) {
    const verdict = classifyConfirmedAbsent(shadow.get(sourceId));
    if (verdict === 'deleted') {
      run.counts.deleted++;
      changes.push(deletion(run, sourceId, syncedAt));
    }
  }
  // A quarantined row exists in the EHR: it is seen (never a delete candidate), its last good
  // version stays in the shadow, and nothing is emitted for it until it maps again.
  for (const row of quarantined) seen.push({ resourceType, sourceId: row.sourceId });
  if (quarantined.length > 0) {
    run.counts.quarantined = (run.counts.quarantined ?? 0) + quarantined.length;
    run.quarantineSeen = true;
  }
  await store.commitPage({
    connectionId: connection.id,
    connectorId: connector.id,
    stream,
    changes,
    seen,
    state,
    seenAt,
    ...(quarantined.length > 0 ? { quarantined } : {}),
    // Rows that map again (or are gone) leave quarantine; skipped while the stream has none.
    ...(run.quarantineSeen
      ? { released: { resourceType, sourceIds: [...mapped.map((m) => m.sourceId), ...confirmedAbsent] } }
      : {}),
  });
  run.state = state;
  run.pages++;
  run.input.onProgress?.(run.counts.read);
  await run.input.afterPageCommit?.(run.pages);
}

/**
 * Stops the stream when more than `sync.quarantineMaxShare` of a page's rows failed (pages of at
 * least {@link QUARANTINE_SHARE_MIN_ROWS} rows): then the mapping, not the data, is wrong
 * (docs/quarantine.md, "When the stream stops"). The failing rows are still recorded, so
 * `tendril quarantine list` names their fields; the page and the cursor are not committed.
 */
async function refuseMostlyFailingPage(run: StreamRun, page: MappedPage, seenAt: string): Promise<void> {
  const failed = page.quarantined.length;
  const total = failed + page.mapped.length;
  if (failed === 0 || total < QUARANTINE_SHARE_MIN_ROWS) return;
  const share = run.input.connection.sync.quarantineMaxShare ?? DEFAULT_QUARANTINE_MAX_SHARE;
  if (failed <= share * total) return;
  const { connection, stream } = run.input;
  await run.deps.store.recordQuarantine(connection.id, stream, page.quarantined, seenAt);
  const fields = [...new Set(page.quarantined.map((q) => q.field ?? '(row)'))].slice(0, 5);
  const percent = (n: number) => `${Math.round(n * 100)} %`;
  throw new TendrilError(
    'TENDRIL_E_QUARANTINE_SHARE',
    `stream ${stream}: ${failed} of ${total} rows of a page (${percent(failed / total)}) failed mapping or validation, more than sync.quarantineMaxShare (${percent(share)}); the stream stopped because its mapping, not its data, looks wrong. Failing fields: ${fields.join(', ')}. See tendril quarantine list --connection ${connection.id} and fix the connector's table file or the connection's tableMap (docs/quarantine.md).`,
    { details: { connectionId: connection.id, stream, failed, total, share, fields } },
  );
}

/** The `deleted` change of a source id: its tombstone (docs/standard-model.md, "Conventions"). */
function deletion(run: StreamRun, sourceId: string, syncedAt: string): PendingChange {
  const data = tombstone(run.table.resourceType, sourceId, run.ctx, syncedAt);
  return {
    resourceType: run.table.resourceType,
    sourceId,
    resourceId: String(data['id']),
    kind: 'deleted',
    hash: TOMBSTONE_HASH,
    data,
    refs: {},
  };
}
