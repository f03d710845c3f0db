import {
  classify,
  classifyConfirmedAbsent,
  mapRow,
  mappingContext,
  sourceIdComponents,
  tombstone,
  TendrilError,
  TOMBSTONE_HASH,
  type ConnectionConfig,
  type ConnectorDefinition,
  type MappedRow,
  type MappingContext,
  type Row,
  type TableDefinition,
} from '@tendril/core';
import {
  classifyDbError,
  compareCursor,
  dbNowUtc,
  deleteLogPageQuery,
  lookupByKeysQuery,
  minCursor,
  shiftCursor,
  snapshotPageQuery,
  timestampPageQuery,
  truncateCursor,
  utcToZoneCursor,
  businessDateOf,
  windowBounds,
  windowLookupQuery,
  windowPageQuery,
  type SqlClient,
} from '@tendril/sql';
import type {
  CursorPosition,
  PendingChange,
  RunCounts,
  RunKind,
  SeenRecord,
  Store,
  StreamState,
} from '@tendril/store';
import { readPages } from './page-reader.js';
import { comparePosition } from './key-order.js';
import type { Logger } from './logger.js';

/** Lower bound of a first read: older than any real change stamp, and valid in every engine. */
const BEGINNING_OF_TIME = '1000-01-01 00:00:00';
/** A `client` stamp more than this far ahead of the database clock is a skew worth a warning (§2). */
const SKEW_WARNING_SECONDS = 60;

export interface StreamSyncDeps {
  readonly sql: SqlClient;
  readonly store: Store;
  readonly logger: Logger;
}

export interface StreamSyncInput {
  readonly connection: ConnectionConfig;
  readonly connector: ConnectorDefinition;
  readonly stream: string;
  /** Re-read everything (a backload) and confirm deletes of rows no longer present. */
  readonly full?: boolean;
  /** Record the run as the nightly reconciliation (a `full` run whose kind is `reconcile`; reconcile-stream.ts). */
  readonly reconcile?: boolean;
  /** The agent clock, for `syncedAt` and run times. Cursors always use the database clock. */
  readonly now?: () => Date;
  /** Called after each committed page with the running count of rows read. */
  readonly onProgress?: (read: number) => void;
  /** Called after each page commit; tests use it to crash a poll between pages. */
  readonly afterPageCommit?: (pageIndex: number) => void | Promise<void>;
}

export interface StreamSyncResult extends RunCounts {
  readonly stream: string;
  readonly kind: RunKind;
  readonly durationMs: number;
  /** Deletes held back by the reconciliation guard (nothing emitted for them). */
  readonly guardTripped: boolean;
}

interface StreamRun {
  readonly deps: StreamSyncDeps;
  readonly input: StreamSyncInput;
  readonly table: TableDefinition;
  readonly ctx: MappingContext;
  readonly pageSize: number;
  readonly counts: RunCounts;
  readonly log: Logger;
  readonly now: () => Date;
  state: StreamState;
  pages: number;
  guardTripped: boolean;
  /** Rows this run's full scan read from the vendor table itself (not static rows or lookups). */
  tableRowsScanned: number;
}

function isoNow(now: () => Date): string {
  return now().toISOString().replace(/\.\d{3}Z$/, (ms) => (ms === '.000Z' ? 'Z' : ms));
}

function positionOf(table: TableDefinition, row: Row, withCursor: boolean): CursorPosition {
  const key = table.key.map((column) => String(row[column]));
  const cursor = row['__cursor'];
  return withCursor && cursor !== undefined && cursor !== null ? { cursor: String(cursor), key } : { key };
}

/** Key components of a source id, without the table's constant prefix. */
function keyOf(table: TableDefinition, sourceId: string): string[] {
  const parts = sourceIdComponents(sourceId);
  return table.sourceIdPrefix ? parts.slice(1) : parts;
}

async function query<T>(run: StreamRun, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof TendrilError ? error : classifyDbError(error);
  }
}

/**
 * Classifies mapped rows against the shadow store and commits them, with the new stream state,
 * in one local transaction (sync-semantics.md §7).
 */
async function commitMapped(
  run: StreamRun,
  mapped: readonly MappedRow[],
  confirmedAbsent: readonly string[],
  state: StreamState,
  seenAt: string,
  /** Window streams: source id → business date, kept in the shadow. */
  businessDates?: ReadonlyMap<string, string>,
): Promise<void> {
  const { store } = run.deps;
  const { connection, connector, stream } = run.input;
  const resourceType = run.table.resourceType;
  const ids = [...mapped.map((m) => m.sourceId), ...confirmedAbsent];
  const shadow = ids.length ? await store.getShadow(connection.id, resourceType, ids) : new Map();
  const changes: PendingChange[] = [];
  const seen: SeenRecord[] = [];
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
  await store.commitPage({ connectionId: connection.id, connectorId: connector.id, stream, changes, seen, state, seenAt });
  run.state = state;
  run.pages++;
  run.input.onProgress?.(run.counts.read);
  await run.input.afterPageCommit?.(run.pages);
}

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

function mapAll(run: StreamRun, rows: readonly Row[], syncedAt: string): MappedRow[] {
  return rows.map((row) => mapRow(run.table, row, run.ctx, syncedAt));
}

/** The current database time in the cursor column's clock domain, at full precision. */
async function nowInClockDomain(run: StreamRun, clock: 'db-utc' | 'db-local' | 'client'): Promise<string> {
  const utc = await query(run, () => dbNowUtc(run.deps.sql));
  return clock === 'db-utc' ? utc : utcToZoneCursor(utc, run.input.connection.timezone, 6);
}

async function pollTimestamp(run: StreamRun): Promise<void> {
  const { table } = run;
  if (table.cursor.mode !== 'timestamp') throw new Error('unreachable');
  const cursor = table.cursor;
  const precision = cursor.precision ?? 0;

  const { settleSeconds, overlapSeconds } = run.input.connection.sync;

  let lower: string;
  let upper: string;
  let after: CursorPosition | undefined;
  const resume = run.state.inProgress;
  if (resume && !run.input.full) {
    // A crashed poll resumes with its own bounds: already-committed rows would classify as no-ops anyway.
    ({ lower, upper } = resume);
    after = resume.after;
  } else {
    const nowDb = await nowInClockDomain(run, cursor.clock);
    upper = truncateCursor(shiftCursor(nowDb, -settleSeconds, 6), precision);
    const watermark = run.input.full ? undefined : run.state.watermark;
    lower = watermark === undefined ? BEGINNING_OF_TIME : shiftCursor(minCursor(watermark, upper), -overlapSeconds, precision);
  }
  // A window that starts at the beginning of time covers the whole table: page it by key (index
  // range on the primary key) instead of re-sorting it by stamp for every page.
  const paging: 'cursor' | 'key' = resume && !run.input.full ? (resume.paging ?? 'cursor') : lower === BEGINNING_OF_TIME ? 'key' : 'cursor';
  const keyOnlyPaging = paging === 'key' || (cursor.also?.length ?? 0) > 0;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  run.state = { ...run.state, mode: 'timestamp', inProgress: { lower, upper, ...(after ? { after } : {}), scanStartedAt, paging } };
  await run.deps.store.saveStreamState(run.input.connection.id, run.input.stream, run.state);

  let skewWarned = false;
  const skewLimit =
    cursor.clock === 'client' ? shiftCursor(await nowInClockDomain(run, 'client'), SKEW_WARNING_SECONDS, 6) : undefined;
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(
          timestampPageQuery(run.deps.sql, table, {
            lower,
            upper,
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
            order: paging,
          }),
        ),
      ) as Promise<Row[]>,
    {
      ...(after ? { start: after } : {}),
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, !keyOnlyPaging),
      describe: `stream ${run.input.stream} (table ${table.table})`,
    },
  );
  for await (const { rows, last } of pages) {
    if (skewLimit && !skewWarned) {
      const ahead = rows.some((r) => r['__cursor'] != null && compareCursor(String(r['__cursor']), skewLimit) > 0);
      if (ahead) {
        skewWarned = true;
        run.log.warn({ stream: run.input.stream, table: table.table }, 'client clock ahead of the database clock by more than 60 s');
      }
    }
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    const state: StreamState = { ...run.state, inProgress: { lower, upper, after: last, scanStartedAt, paging } };
    await commitMapped(run, mapAll(run, rows, seenAt), [], state, seenAt);
  }

  if (table.deleteLog) await pollDeleteLog(run, seenAt);
  if (run.input.full) await confirmStaleDeletes(run, scanStartedAt, seenAt);
  const { inProgress: _done, ...rest } = run.state;
  run.state = { ...rest, mode: 'timestamp', watermark: upper };
  await run.deps.store.saveStreamState(run.input.connection.id, run.input.stream, run.state);
}

/** Reads the vendor's delete log and confirms each candidate by a point lookup (§4). */
async function pollDeleteLog(run: StreamRun, seenAt: string): Promise<void> {
  const log = run.table.deleteLog!;
  const precision = log.cursor.precision ?? 0;
  const nowDb = await nowInClockDomain(run, log.cursor.clock);
  const upper = truncateCursor(shiftCursor(nowDb, -run.input.connection.sync.settleSeconds, 6), precision);
  const watermark = run.input.full ? undefined : run.state.deleteLogWatermark;
  const lower =
    watermark === undefined ? BEGINNING_OF_TIME : shiftCursor(minCursor(watermark, upper), -run.input.connection.sync.overlapSeconds, precision);
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(deleteLogPageQuery(run.deps.sql, log, { lower, upper, ...(position ? { after: position } : {}), limit: run.pageSize })),
      ) as Promise<Row[]>,
    {
      pageSize: run.pageSize,
      positionOf: (row) => ({ cursor: String(row['__cursor']), key: log.key.map((k) => String(row[k])) }),
      describe: `stream ${run.input.stream} (delete log ${log.table})`,
    },
  );
  for await (const { rows } of pages) {
    const candidates = [...new Set(rows.map((r) => String(r[log.deletedKeyColumn])))];
    const sourceIds = candidates.map((key) => (run.table.sourceIdPrefix ? `${run.table.sourceIdPrefix}:${key}` : key));
    await confirmCandidates(run, sourceIds, seenAt, { ...run.state });
  }
  run.state = { ...run.state, deleteLogWatermark: upper };
}

/**
 * Point-looks-up delete candidates: rows still present are classified like any read row, rows
 * absent are confirmed deletes. Returns how many deletes were confirmed.
 */
async function confirmCandidates(run: StreamRun, sourceIds: readonly string[], seenAt: string, state: StreamState, dryRun = false): Promise<string[]> {
  if (sourceIds.length === 0) return [];
  const keys = sourceIds.map((id) => keyOf(run.table, id));
  const rows = (await query(run, () => run.deps.sql.execute(lookupByKeysQuery(run.deps.sql, run.table, keys)))) as Row[];
  const mapped = mapAll(run, rows, seenAt);
  const found = new Set(mapped.map((m) => m.sourceId));
  const absent = sourceIds.filter((id) => !found.has(id));
  if (!dryRun) {
    run.counts.read += rows.length;
    await commitMapped(run, mapped, absent, state, seenAt);
  }
  return absent;
}

/**
 * After a full scan, live shadow rows the scan did not see are delete candidates. Each is
 * confirmed by a point lookup; if too many would be deleted at once the guard emits nothing
 * (sync-semantics.md §5, scenario 13).
 */
async function confirmStaleDeletes(
  run: StreamRun,
  scanStartedAt: string,
  seenAt: string,
  /** Window polls: only shadow rows dated inside the window are candidates (sync-semantics.md §1). */
  window?: { from: string; until: string },
): Promise<void> {
  const { store } = run.deps;
  const { connection, stream } = run.input;
  const live = await store.countLive(connection.id, stream);
  const limit = Math.max(50, Math.floor(live * 0.2));
  const confirmed: string[] = [];
  let afterSourceId: string | undefined;
  let tripped = false;
  // An emptied table is more likely a wrong database or lost rights than a mass delete (scenario 13).
  const scanReadNothing = run.tableRowsScanned === 0 && live > 0;
  for (;;) {
    const page = await store.staleLiveSourceIds(connection.id, stream, scanStartedAt, {
      ...(afterSourceId !== undefined ? { afterSourceId } : {}),
      limit: run.pageSize,
      ...(window ? { businessDate: window } : {}),
    });
    if (page.length === 0) break;
    afterSourceId = page[page.length - 1]!.sourceId;
    const absent = window
      ? await lookUpWindowCandidates(run, page.map((p) => p.sourceId), seenAt)
      : await confirmCandidates(run, page.map((p) => p.sourceId), seenAt, run.state, true);
    confirmed.push(...absent);
    if (confirmed.length > limit || (scanReadNothing && confirmed.length > 0)) {
      tripped = true;
      break;
    }
    if (page.length < run.pageSize) break;
  }
  if (tripped) {
    run.guardTripped = true;
    run.log.warn(
      { stream, table: run.table.table, live, candidates: confirmed.length, event: 'reconciliation.guard_tripped' },
      'reconciliation guard tripped: too many deletes at once, nothing emitted',
    );
    run.state = {
      ...run.state,
      lastError: {
        code: 'TENDRIL_E_RECONCILE_GUARD',
        message: `stream ${stream}: ${confirmed.length}+ rows vanished at once (live ${live}); deletes held back. Check the database and permissions.`,
        at: seenAt,
      },
    };
    return;
  }
  for (let i = 0; i < confirmed.length; i += run.pageSize) {
    await commitMapped(run, [], confirmed.slice(i, i + run.pageSize), run.state, seenAt);
  }
}

async function scanSnapshot(run: StreamRun): Promise<void> {
  const { table } = run;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(snapshotPageQuery(run.deps.sql, table, { ...(position ? { after: position } : {}), limit: run.pageSize })),
      ) as Promise<Row[]>,
    {
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, false),
      describe: `stream ${run.input.stream} (snapshot of ${table.table})`,
    },
  );
  for await (const { rows } of pages) {
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    await commitMapped(run, mapAll(run, rows, seenAt), [], { ...run.state, mode: 'snapshot' }, seenAt);
  }
  const staticRows = table.staticRows ?? [];
  if (staticRows.length) {
    run.counts.read += staticRows.length;
    await commitMapped(run, mapAll(run, staticRows, seenAt), [], { ...run.state, mode: 'snapshot' }, seenAt);
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt);
  run.state = { ...run.state, mode: 'snapshot', lastPollFinishedAt: seenAt };
}

/** Maps window rows and commits them with their business dates; returns their source ids. */
async function commitWindowRows(run: StreamRun, rows: readonly Row[], state: StreamState, seenAt: string): Promise<string[]> {
  const mapped = mapAll(run, rows, seenAt);
  const dates = new Map<string, string>();
  mapped.forEach((m, i) => {
    const day = businessDateOf(rows[i]!);
    if (day) dates.set(m.sourceId, day);
  });
  await commitMapped(run, mapped, [], state, seenAt, dates);
  return mapped.map((m) => m.sourceId);
}

/**
 * Point-looks-up the delete candidates of a window poll. Rows still present (typically moved
 * outside the window: scenario 16) are classified and committed with their new business date, so
 * they stop being candidates; the keys returned are the confirmed absences.
 */
async function lookUpWindowCandidates(run: StreamRun, sourceIds: readonly string[], seenAt: string): Promise<string[]> {
  const keys = sourceIds.map((id) => keyOf(run.table, id));
  const rows = (await query(run, () => run.deps.sql.execute(windowLookupQuery(run.deps.sql, run.table, keys)))) as Row[];
  run.counts.read += rows.length;
  const found = new Set(rows.length > 0 ? await commitWindowRows(run, rows, run.state, seenAt) : []);
  return sourceIds.filter((id) => !found.has(id));
}

/**
 * `window` mode (sync-semantics.md §1, ladder 4): reads every row whose business date is in
 * [today − pastDays, today + futureDays] (today in the connection's zone, from the database clock)
 * plus every row keyed above the largest key of an earlier poll, paged by key. Live shadow rows
 * dated inside the window that this read did not see are delete candidates, each confirmed by a
 * point lookup. The first scan (and a backload) reads the whole table and confirms every unseen row.
 *
 * New rows are read by key: `newKeysAfter` is the largest key as it stood when the previous poll
 * started, so an insert that commits after a higher key was read is still found one poll later.
 */
async function scanWindow(run: StreamRun): Promise<void> {
  const { table } = run;
  const today = (await nowInClockDomain(run, 'db-local')).slice(0, 10);
  const window = windowBounds(table, today);
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  const startMax = run.state.maxSeenKey;
  const full = run.input.full === true || startMax === undefined;
  const newKeysAfter = full ? undefined : (run.state.newKeysAfter ?? startMax);
  let maxSeenKey = full ? undefined : startMax;
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(
          windowPageQuery(run.deps.sql, table, {
            ...window,
            ...(newKeysAfter ? { newKeysAfter } : {}),
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ) as Promise<Row[]>,
    {
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, false),
      describe: `stream ${run.input.stream} (window of ${table.table})`,
    },
  );
  for await (const { rows, last } of pages) {
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    // Pages go up in key order, so every key up to `last` has been committed once this page is.
    if (maxSeenKey === undefined || comparePosition({ key: last.key }, { key: maxSeenKey }) > 0) maxSeenKey = last.key;
    await commitWindowRows(run, rows, { ...run.state, mode: 'window', ...(maxSeenKey ? { maxSeenKey } : {}) }, seenAt);
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt, full ? undefined : window);
  const nextNewKeysAfter = full ? maxSeenKey : startMax;
  run.state = {
    ...run.state,
    mode: 'window',
    ...(maxSeenKey ? { maxSeenKey } : {}),
    ...(nextNewKeysAfter ? { newKeysAfter: nextNewKeysAfter } : {}),
    lastPollFinishedAt: seenAt,
  };
}

/**
 * Runs one poll (or backload, with `full`) of one stream: reads pages outside any local
 * transaction, then commits each page's events and cursor together.
 */
export async function syncStream(deps: StreamSyncDeps, input: StreamSyncInput): Promise<StreamSyncResult> {
  const table = input.connector.streams[input.stream];
  if (!table) {
    throw new TendrilError('TENDRIL_E_STREAM_UNKNOWN', `connector ${input.connector.id} has no stream "${input.stream}"; streams: ${Object.keys(input.connector.streams).join(', ')}`);
  }
  const now = input.now ?? (() => new Date());
  const started = Date.now();
  const state = (await deps.store.getStreamState(input.connection.id, input.stream)) ?? { mode: table.cursor.mode };
  const kind: RunKind = input.reconcile
    ? 'reconcile'
    : input.full ||
    (table.cursor.mode === 'timestamp' && state.watermark === undefined) ||
    (table.cursor.mode === 'window' && state.maxSeenKey === undefined)
      ? 'backload'
      : 'poll';
  const run: StreamRun = {
    deps,
    input,
    table,
    ctx: mappingContext({
      connectionId: input.connection.id,
      connectorId: input.connector.id,
      timezone: input.connection.timezone,
      currency: input.connection.currency,
      options: input.connection.options,
    }),
    pageSize: input.connection.sync.pageSize,
    counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
    log: deps.logger.child({ stream: input.stream }),
    now,
    state: { ...state, lastPollStartedAt: isoNow(now) },
    pages: 0,
    guardTripped: false,
    tableRowsScanned: 0,
  };
  const runId = await deps.store.startRun({ connectionId: input.connection.id, stream: input.stream, kind, startedAt: isoNow(now) });
  try {
    switch (table.cursor.mode) {
      case 'timestamp':
        await pollTimestamp(run);
        break;
      case 'snapshot':
        await scanSnapshot(run);
        break;
      case 'window':
        await scanWindow(run);
        break;
      default:
        throw new Error(`unsupported cursor mode ${(table.cursor satisfies never as { mode: string }).mode}`);
    }
    const guardTripped = run.guardTripped;
    const { lastError: _cleared, ...clean } = run.state;
    const finalState: StreamState = { ...(guardTripped ? run.state : clean), lastPollFinishedAt: isoNow(now) };
    await deps.store.saveStreamState(input.connection.id, input.stream, finalState);
    await deps.store.finishRun(runId, { status: 'succeeded', finishedAt: isoNow(now), counts: run.counts });
    run.log.info({ event: 'stream.synced', kind, ...run.counts }, 'stream synced');
    return { stream: input.stream, kind, durationMs: Date.now() - started, guardTripped, ...run.counts };
  } catch (error) {
    // A foreign error's message may carry row values, so it travels only as `cause`.
    const failure =
      error instanceof TendrilError
        ? error
        : new TendrilError('TENDRIL_E_INTERNAL', `stream ${input.stream} failed unexpectedly; the cause is attached`, { cause: error });
    const lastError = { code: failure.code, message: failure.message, at: isoNow(now) };
    await deps.store.saveStreamState(input.connection.id, input.stream, { ...run.state, lastError }).catch(() => undefined);
    await deps.store
      .finishRun(runId, { status: 'failed', finishedAt: isoNow(now), counts: run.counts, error: { code: failure.code, message: failure.message } })
      .catch(() => undefined);
    run.log.error({ event: 'stream.failed', code: failure.code, retryable: failure.retryable }, failure.message);
    throw failure;
  }
}
