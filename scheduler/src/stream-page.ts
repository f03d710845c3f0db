import {
  classify,
  classifyConfirmedAbsent,
  mapRow,
  tombstone,
  TOMBSTONE_HASH,
  type MappedRow,
  type Row,
  type ShadowEntry,
} from '@tendril/core';
import { businessDateOf } from '@tendril/sql';
import type { PendingChange, SeenRecord, StreamState } from '@tendril/store';
import type { StreamRun } from './stream-run.js';

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
  const dates = withBusinessDates ? new Map<string, string>() : undefined;
  for (const row of rows) {
    const one = mapRow(run.table, row, run.ctx, syncedAt);
    mapped.push(one);
    if (dates) {
      const day = businessDateOf(row);
      if (day) dates.set(one.sourceId, day);
    }
  }
  return dates ? { mapped, businessDates: dates } : { mapped };
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
  const { mapped, businessDates } = page;
  const { state, seenAt } = commit;
  const confirmedAbsent = commit.confirmedAbsent ?? [];
  const resourceType = run.table.resourceType;
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
  await store.commitPage({
    connectionId: connection.id,
    connectorId: connector.id,
    stream,
    changes,
    seen,
    state,
    seenAt,
  });
  run.state = state;
  run.pages++;
  run.input.onProgress?.(run.counts.read);
  await run.input.afterPageCommit?.(run.pages);
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
