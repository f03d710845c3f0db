import {
  classify,
  classifyConfirmedAbsent,
  TendrilError,
  tombstone,
  TOMBSTONE_HASH,
  type Row,
  type ShadowEntry,
} from '@tendril/core';
import { businessDateOf } from '@tendril/sql';
import type { PendingChange, SeenRecord, StreamState } from '@tendril/store';
import { mapPageRows, tableSignature, type MappedPage, type MappedPageResult } from './map-page.js';
import type { StreamRun } from './stream-run.js';

/** Default of `sync.quarantineMaxShare` (docs/quarantine.md, "When the stream stops"). */
export const DEFAULT_QUARANTINE_MAX_SHARE = 0.5;
/** The share is judged on pages of at least this many rows: one bad row alone never stops a stream. */
export const QUARANTINE_SHARE_MIN_ROWS = 10;

/**
 * The per-row path every change-detection strategy sends its rows through, in one place:
 * map → validate → hash (map-page.ts, inline or in the map pool), then classify against the shadow store and commit with
 * the page's stream state in one local transaction (docs/sync.md, "One poll of a `timestamp`
 * stream", steps 4–5). Row-level concerns (quarantining a row that fails to map, timing each
 * stage) belong here, not in a strategy.
 */

export type { BusinessDates, MappedPage } from './map-page.js';

/** Source ids the page read (mapped or quarantined): they exist in the EHR, whatever their content. */
export function readSourceIds(page: MappedPage): string[] {
  return [...page.mapped.map((m) => m.sourceId), ...page.quarantined.map((q) => q.sourceId)];
}

/** Counts a mapped page's warnings into the run. */
function counted(run: StreamRun, page: MappedPageResult): MappedPage {
  if (page.warnings > 0) run.counts.warnings = (run.counts.warnings ?? 0) + page.warnings;
  const { warnings: _counted, ...mapped } = page;
  return mapped;
}

/**
 * Maps each row read to the standard model: the connector's field mapping, validation against the
 * model, and the content hash (map-page.ts). With `withBusinessDates` (window streams) each row's
 * business date is collected by source id as well.
 */
export function mapRows(
  run: StreamRun,
  rows: readonly Row[],
  syncedAt: string,
  withBusinessDates = false,
): MappedPage {
  return counted(
    run,
    mapPageRows(run.table, run.ctx, rows, syncedAt, withBusinessDates ? businessDateOf : undefined),
  );
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

/** Pages smaller than this are mapped inline: the hop to a worker thread costs more than it saves. */
const POOL_MIN_ROWS = 64;

/** Commits a stream's pages in order, each mapped while the page before it commits. */
export interface PageCommitter {
  /**
   * Starts mapping `rows` (in the map pool when the run has one) and commits the page added before
   * it; the caller reads the next page meanwhile. Resolves when that earlier page is committed.
   */
  add(rows: readonly Row[], commit: PageCommit): Promise<void>;
  /** Commits the page added last. Call it once the last page is added. */
  finish(): Promise<void>;
}

/**
 * The pipeline of a stream's full reads (docs/sync.md, "The map pool"): page n is mapped in a
 * worker while page n − 1 is classified and committed on this thread and page n + 1 is read, so at
 * most two pages are held beyond the one being read. Pages commit one after another, in order,
 * each in its own transaction, exactly as {@link commitRows} commits them; a page's mapping error
 * (a non-row failure) surfaces after the pages before it committed. Without a pool (or for a
 * page of a few rows) a page is mapped inline, still one page behind.
 */
export function pageCommitter(run: StreamRun): PageCommitter {
  const pool = run.deps.mapPool;
  if (!pool) {
    return {
      add: async (rows, commit) => void (await commitRows(run, rows, commit)),
      finish: async () => undefined,
    };
  }
  const { connection, connector, stream } = run.input;
  const spec = {
    connectorId: connector.id,
    stream,
    ...(connection.tableMap ? { tableMap: connection.tableMap } : {}),
    context: {
      connectionId: connection.id,
      connectorId: connector.id,
      timezone: connection.timezone,
      ...(connection.currency !== undefined ? { currency: connection.currency } : {}),
      ...(connection.options !== undefined ? { options: connection.options } : {}),
    },
  };
  const signature = tableSignature(run.table);
  let usePool = true;
  const map = async (rows: readonly Row[], syncedAt: string): Promise<MappedPage> => {
    if (!usePool || rows.length < POOL_MIN_ROWS) return mapRows(run, rows, syncedAt);
    const mapped = await pool.mapPage(spec, rows, syncedAt);
    if (mapped.signature === signature) return counted(run, mapped.page);
    // The pool's connector module does not give this run's table (a connector not in the
    // registry, a table built by hand): map inline from now on, as without a pool.
    usePool = false;
    run.log.warn(
      { event: 'sync.map_pool_mismatch', stream, table: run.table.table },
      "the map pool does not know this stream's table; its pages are mapped on the engine thread",
    );
    return mapRows(run, rows, syncedAt);
  };
  let previous: { mapping: Promise<MappedPage>; commit: PageCommit } | undefined;
  return {
    async add(rows, commit) {
      const mapping = map(rows, commit.seenAt);
      // Surfaced when its turn to commit comes, not before the pages ahead of it are committed.
      mapping.catch(() => undefined);
      const before = previous;
      previous = { mapping, commit };
      if (before) await commitMapped(run, await before.mapping, before.commit);
    },
    async finish() {
      const last = previous;
      previous = undefined;
      if (last) await commitMapped(run, await last.mapping, last.commit);
    },
  };
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
