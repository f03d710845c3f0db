import {
  classify,
  classifyConfirmedAbsent,
  mapRow,
  mappingContext,
  rowSourceId,
  sha256Hex,
  sourceIdComponents,
  sourceIdOf,
  tombstone,
  TendrilError,
  TOMBSTONE_HASH,
  type ConnectionConfig,
  type ConnectorDefinition,
  type CursorMode,
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
  keysPageQuery,
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
  changeTrackingNeedsBaseline,
  changeTrackingPageQuery,
  changeTrackingRowKey,
  changeTrackingVersionsQuery,
  compareRowversion,
  CT_VERSION_ALIAS,
  ROWVERSION_ZERO,
  rowversionPageQuery,
  rowversionUpperQuery,
  type SqlClient,
} from '@tendril/sql';
import type {
  ChangeInProgress,
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
import { effectiveChangeMode } from './change-strategy-state.js';
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
  /**
   * Release the reconciliation guard for this run (`tendril reconcile --approve`): every confirmed
   * delete is emitted, however many. Each is still confirmed by a point lookup first.
   */
  readonly approveDeletes?: boolean;
  /**
   * Reconciliation of `timestamp` streams: the day number choosing the rolling re-hash slice
   * (`hash(pk) mod rehashSlices = day mod rehashSlices`). Default: days since 1970-01-01 (UTC) of
   * the agent clock. Tests inject it.
   */
  readonly rehashDay?: number;
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
  /** Keys-only reconciliation: keys scanned (rows read in full are in `read`). */
  readonly keysScanned?: number;
  /** Keys-only reconciliation: the re-hash slice read in full tonight, of `rehashSlices`. */
  readonly rehashSlice?: { readonly slice: number; readonly slices: number };
}

interface StreamRun {
  readonly deps: StreamSyncDeps;
  readonly input: StreamSyncInput;
  readonly table: TableDefinition;
  readonly ctx: MappingContext;
  readonly pageSize: number;
  /**
   * Re-read everything and confirm deletes of rows no longer present: a `full` run, or the
   * baseline after a change of change-detection mode (`baselineRequired`, sync-semantics.md §1).
   */
  readonly full: boolean;
  readonly counts: RunCounts;
  readonly log: Logger;
  readonly now: () => Date;
  state: StreamState;
  pages: number;
  guardTripped: boolean;
  /** Rows this run's full scan read from the vendor table itself (not static rows or lookups). */
  tableRowsScanned: number;
  keysScanned?: number;
  rehashSlice?: { slice: number; slices: number };
}

function isoNow(now: () => Date): string {
  return now()
    .toISOString()
    .replace(/\.\d{3}Z$/, (ms) => (ms === '.000Z' ? 'Z' : ms));
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
  /** Rows known to exist that were not read in full (keys-only reconciliation): only `lastSeenAt` moves. */
  alsoSeen: readonly SeenRecord[] = [],
): Promise<void> {
  const { store } = run.deps;
  const { connection, connector, stream } = run.input;
  const resourceType = run.table.resourceType;
  const ids = [...mapped.map((m) => m.sourceId), ...confirmedAbsent];
  const shadow = ids.length ? await store.getShadow(connection.id, resourceType, ids) : new Map();
  const changes: PendingChange[] = [];
  const seen: SeenRecord[] = [...alsoSeen];
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
  if (resume && !run.full) {
    // A crashed poll resumes with its own bounds: already-committed rows would classify as no-ops anyway.
    ({ lower, upper } = resume);
    after = resume.after;
  } else {
    const nowDb = await nowInClockDomain(run, cursor.clock);
    upper = truncateCursor(shiftCursor(nowDb, -settleSeconds, 6), precision);
    const watermark = run.full ? undefined : run.state.watermark;
    lower =
      watermark === undefined
        ? BEGINNING_OF_TIME
        : shiftCursor(minCursor(watermark, upper), -overlapSeconds, precision);
  }
  // A window that starts at the beginning of time covers the whole table: page it by key (index
  // range on the primary key) instead of re-sorting it by stamp for every page.
  const paging: 'cursor' | 'key' =
    resume && !run.full ? (resume.paging ?? 'cursor') : lower === BEGINNING_OF_TIME ? 'key' : 'cursor';
  const keyOnlyPaging = paging === 'key' || (cursor.also?.length ?? 0) > 0;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  run.state = {
    ...run.state,
    mode: 'timestamp',
    inProgress: { lower, upper, ...(after ? { after } : {}), scanStartedAt, paging },
  };
  await run.deps.store.saveStreamState(run.input.connection.id, run.input.stream, run.state);

  let skewWarned = false;
  const skewLimit =
    cursor.clock === 'client'
      ? shiftCursor(await nowInClockDomain(run, 'client'), SKEW_WARNING_SECONDS, 6)
      : undefined;
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
      const ahead = rows.some(
        (r) => r['__cursor'] != null && compareCursor(String(r['__cursor']), skewLimit) > 0,
      );
      if (ahead) {
        skewWarned = true;
        run.log.warn(
          { stream: run.input.stream, table: table.table },
          'client clock ahead of the database clock by more than 60 s',
        );
      }
    }
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    const state: StreamState = {
      ...run.state,
      inProgress: { lower, upper, after: last, scanStartedAt, paging },
    };
    await commitMapped(run, mapAll(run, rows, seenAt), [], state, seenAt);
  }

  if (table.deleteLog) await pollDeleteLog(run, seenAt);
  if (run.full) await confirmStaleDeletes(run, scanStartedAt, seenAt);
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
  const watermark = run.full ? undefined : run.state.deleteLogWatermark;
  const lower =
    watermark === undefined
      ? BEGINNING_OF_TIME
      : shiftCursor(minCursor(watermark, upper), -run.input.connection.sync.overlapSeconds, precision);
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(
          deleteLogPageQuery(run.deps.sql, log, {
            lower,
            upper,
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ) as Promise<Row[]>,
    {
      pageSize: run.pageSize,
      positionOf: (row) => ({ cursor: String(row['__cursor']), key: log.key.map((k) => String(row[k])) }),
      describe: `stream ${run.input.stream} (delete log ${log.table})`,
    },
  );
  for await (const { rows } of pages) {
    const candidates = [...new Set(rows.map((r) => String(r[log.deletedKeyColumn])))];
    const sourceIds = candidates.map((key) =>
      run.table.sourceIdPrefix ? `${run.table.sourceIdPrefix}:${key}` : key,
    );
    await confirmCandidates(run, sourceIds, seenAt, { ...run.state });
  }
  run.state = { ...run.state, deleteLogWatermark: upper };
}

/**
 * Point-looks-up delete candidates: rows still present are classified like any read row, rows
 * absent are confirmed deletes. Returns how many deletes were confirmed.
 */
async function confirmCandidates(
  run: StreamRun,
  sourceIds: readonly string[],
  seenAt: string,
  state: StreamState,
  dryRun = false,
): Promise<string[]> {
  if (sourceIds.length === 0) return [];
  const keys = sourceIds.map((id) => keyOf(run.table, id));
  const rows = (await query(run, () =>
    run.deps.sql.execute(lookupByKeysQuery(run.deps.sql, run.table, keys)),
  )) as Row[];
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
      ? await lookUpWindowCandidates(
          run,
          page.map((p) => p.sourceId),
          seenAt,
        )
      : await confirmCandidates(
          run,
          page.map((p) => p.sourceId),
          seenAt,
          run.state,
          true,
        );
    confirmed.push(...absent);
    if (
      !run.input.approveDeletes &&
      (confirmed.length > limit || (scanReadNothing && confirmed.length > 0))
    ) {
      tripped = true;
      break;
    }
    if (page.length < run.pageSize) break;
  }
  if (tripped) {
    run.guardTripped = true;
    run.log.warn(
      {
        stream,
        table: run.table.table,
        live,
        candidates: confirmed.length,
        event: 'reconciliation.guard_tripped',
      },
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
  if (run.input.approveDeletes && confirmed.length > 0) {
    run.log.warn(
      {
        stream,
        table: run.table.table,
        live,
        deletes: confirmed.length,
        event: 'reconciliation.guard_released',
      },
      'reconciliation guard released by the operator: emitting the confirmed deletes',
    );
  }
  for (let i = 0; i < confirmed.length; i += run.pageSize) {
    await commitMapped(run, [], confirmed.slice(i, i + run.pageSize), run.state, seenAt);
  }
}

/** Default number of rolling re-hash slices (sync-semantics.md §5 step 4): every row re-read within a week. */
export const DEFAULT_REHASH_SLICES = 7;

/** The re-hash slice of a row: SHA-256 of its source id, first 32 bits, mod `slices`. Stable across runs and hosts. */
export function rehashSliceOf(sourceId: string, slices: number): number {
  return parseInt(sha256Hex(sourceId).slice(0, 8), 16) % slices;
}

/**
 * Nightly reconciliation of a `timestamp` stream (sync-semantics.md §5), keys-only:
 * 1. scan every key in key order (`keysPageQuery`, `table.where` applied), paged;
 * 3. keys the shadow store does not know are read in full and classified (rows a cursor missed);
 * 4. rolling re-hash: keys whose `hash(sourceId) mod rehashSlices = day mod rehashSlices` are read
 *    in full and classified, so an update that did not touch the cursor column is caught within
 *    `rehashSlices` nights; every other key only has its `lastSeenAt` moved;
 * 2/5. live shadow rows the scan did not see are delete candidates, confirmed one by one by a point
 *    lookup, behind the guard.
 * The poll's watermark and any in-progress poll window are left as they are.
 */
async function reconcileKeys(run: StreamRun): Promise<void> {
  const { table } = run;
  const { connection, stream } = run.input;
  const slices = connection.sync.rehashSlices ?? DEFAULT_REHASH_SLICES;
  const day = run.input.rehashDay ?? Math.floor(run.now().getTime() / 86_400_000);
  const slice = ((day % slices) + slices) % slices;
  run.rehashSlice = { slice, slices };
  run.keysScanned = 0;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(
          keysPageQuery(run.deps.sql, table, {
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ) as Promise<Row[]>,
    {
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, false),
      describe: `stream ${stream} (key scan of ${table.table})`,
    },
  );
  for await (const { rows } of pages) {
    run.keysScanned += rows.length;
    run.tableRowsScanned += rows.length;
    const sourceIds = rows.map((row) => rowSourceId(table, row));
    const shadow = await run.deps.store.getShadow(connection.id, table.resourceType, sourceIds);
    const readInFull: string[] = [];
    const seen: SeenRecord[] = [];
    for (const sourceId of sourceIds) {
      if (!shadow.has(sourceId) || rehashSliceOf(sourceId, slices) === slice) readInFull.push(sourceId);
      else seen.push({ resourceType: table.resourceType, sourceId });
    }
    let mapped: MappedRow[] = [];
    if (readInFull.length > 0) {
      const found = (await query(run, () =>
        run.deps.sql.execute(
          lookupByKeysQuery(
            run.deps.sql,
            table,
            readInFull.map((id) => keyOf(table, id)),
          ),
        ),
      )) as Row[];
      run.counts.read += found.length;
      mapped = mapAll(run, found, seenAt);
    }
    // A key read in full but gone by now (deleted between the two queries) is left to the stale check below.
    await commitMapped(run, mapped, [], run.state, seenAt, undefined, seen);
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt);
}

/** A full scan paged by key; `mode` is the stream's mode as written into its state (baselines keep the declared one). */
async function scanSnapshot(run: StreamRun, mode: CursorMode = 'snapshot'): Promise<void> {
  const { table } = run;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  const pages = readPages(
    (position) =>
      query(run, () =>
        run.deps.sql.execute(
          snapshotPageQuery(run.deps.sql, table, {
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
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
    await commitMapped(run, mapAll(run, rows, seenAt), [], { ...run.state, mode }, seenAt);
  }
  const staticRows = table.staticRows ?? [];
  if (staticRows.length) {
    run.counts.read += staticRows.length;
    await commitMapped(run, mapAll(run, staticRows, seenAt), [], { ...run.state, mode }, seenAt);
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt);
  run.state = { ...run.state, mode, lastPollFinishedAt: seenAt };
}

/** Orders change-tracking positions: the version as a 64-bit integer, then the key. */
function compareVersionPosition(a: CursorPosition, b: CursorPosition): number {
  const x = BigInt(a.cursor ?? '0');
  const y = BigInt(b.cursor ?? '0');
  return x < y ? -1 : x > y ? 1 : comparePosition({ key: a.key }, { key: b.key });
}

/** Orders rowversion positions: the rowversion as an unsigned 64-bit value, then the key. */
function compareRowversionPosition(a: CursorPosition, b: CursorPosition): number {
  const byRowversion = compareRowversion(a.cursor ?? ROWVERSION_ZERO, b.cursor ?? ROWVERSION_ZERO);
  return byRowversion !== 0 ? byRowversion : comparePosition({ key: a.key }, { key: b.key });
}

/**
 * A baseline (sync-semantics.md §1, scenario 15): the snapshot scan, hash-diffed against the
 * shadow store (rows that did not change classify as unchanged and emit nothing), with every live
 * shadow row the scan did not see confirmed by point lookup behind the reconciliation guard. The
 * new mode's position was read by the caller BEFORE the scan, so nothing changed during the scan
 * is lost: it is read again by the next poll and classified by hash.
 */
async function runBaseline(
  run: StreamRun,
  position: Pick<StreamState, 'changeTrackingVersion' | 'rowversionWatermark'>,
): Promise<void> {
  await scanSnapshot(run, run.table.cursor.mode);
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, ...position };
}

/**
 * `change-tracking` (ladder rung 1, sync-semantics.md §1): `cur` and the table's minimum valid
 * version are read first. No stored version, a version older than the minimum valid one (CT
 * cleanup ran: scenario 15) or a `full` run → baseline, then the state is `cur`. Otherwise the
 * changes in `(state, cur]` are paged by (`SYS_CHANGE_VERSION`, key) from CHANGETABLE LEFT JOIN
 * the table: a row that came back is classified like any read row; a row that did not (operation
 * `D`, or it left the table's row filter) is a confirmed delete — the join is the point lookup.
 * The new state is `cur`.
 *
 * Consistency: `cur` is read first and every page is filtered `SYS_CHANGE_VERSION <= cur`, so a
 * change committed during the poll is read by the next one and classified by hash (the fallback
 * the spec gives when snapshot isolation is off). The single SNAPSHOT transaction is not used yet,
 * even where discovery found snapshot isolation on.
 */
async function pollChangeTracking(run: StreamRun): Promise<void> {
  const { table } = run;
  const { sql } = run.deps;
  const { stream } = run.input;
  const [versions] = await query(run, () => sql.execute(changeTrackingVersionsQuery(sql, table.table)));
  const current = versions?.['current_version'];
  const minValid = versions?.['min_valid_version'];
  if (current === null || current === undefined || minValid === null || minValid === undefined) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `stream ${stream}: change tracking is not enabled for table ${table.table} any more (or VIEW CHANGE TRACKING was revoked); run tendril discover to choose another mode`,
      { details: { table: table.table } },
    );
  }
  const resume =
    !run.full && run.state.changeInProgress?.mode === 'change-tracking'
      ? run.state.changeInProgress
      : undefined;
  const since = resume?.lower ?? run.state.changeTrackingVersion;
  if (since === undefined || run.full || changeTrackingNeedsBaseline(since, String(minValid))) {
    if (since !== undefined && !run.full) {
      run.log.warn(
        { stream, table: table.table, event: 'change_tracking.version_expired' },
        'the stored change-tracking version is older than the minimum valid version: running a baseline',
      );
    }
    await runBaseline(run, { changeTrackingVersion: String(current) });
    return;
  }
  const upper = resume?.upper ?? String(current);
  const inProgress = (after?: CursorPosition): ChangeInProgress => ({
    mode: 'change-tracking',
    lower: since,
    upper,
    ...(after ? { after } : {}),
  });
  const seenAt = isoNow(run.now);
  run.state = { ...run.state, mode: table.cursor.mode, changeInProgress: inProgress(resume?.after) };
  await run.deps.store.saveStreamState(run.input.connection.id, stream, run.state);
  const pages = readPages(
    (position) =>
      query(run, () =>
        sql.execute(
          changeTrackingPageQuery(sql, table, {
            sinceVersion: since,
            currentVersion: upper,
            ...(position ? { after: { version: position.cursor ?? since, key: position.key } } : {}),
            limit: run.pageSize,
          }),
        ),
      ) as Promise<Row[]>,
    {
      ...(resume?.after ? { start: resume.after } : {}),
      pageSize: run.pageSize,
      positionOf: (row) => ({
        cursor: String(row[CT_VERSION_ALIAS]),
        key: changeTrackingRowKey(table, row).key,
      }),
      compare: compareVersionPosition,
      describe: `stream ${stream} (change tracking of ${table.table})`,
    },
  );
  for await (const { rows, last } of pages) {
    run.counts.read += rows.length;
    const present: Row[] = [];
    const gone: string[] = [];
    for (const row of rows) {
      const { key, present: found } = changeTrackingRowKey(table, row);
      if (found) present.push(row);
      else gone.push(sourceIdOf(table.sourceIdPrefix ? [table.sourceIdPrefix, ...key] : key));
    }
    await commitMapped(
      run,
      mapAll(run, present, seenAt),
      gone,
      { ...run.state, changeInProgress: inProgress(last) },
      seenAt,
    );
  }
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, changeTrackingVersion: upper };
}

/**
 * `rowversion` (ladder rung 2, sync-semantics.md §1): `upper = MIN_ACTIVE_ROWVERSION()` is read
 * FIRST — every row below it is committed, and a transaction still open holds a rowversion at or
 * above it, so nothing can appear below `upper` later. Then `state <= rv < upper`, paged by
 * (rv, key), rowversions bound as `binary(8)`; the new state is `upper`. No stored watermark, a
 * `full` run, or an `upper` below the watermark (a restored database) → baseline. Deletes are not
 * seen here: the nightly reconciliation's key scan finds them.
 */
async function pollRowversion(run: StreamRun): Promise<void> {
  const { table } = run;
  const { sql } = run.deps;
  const { stream } = run.input;
  const column = run.state.changeStrategy?.column;
  if (!column) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `stream ${stream}: the recorded rowversion strategy names no column; run tendril discover again`,
    );
  }
  const resume =
    !run.full && run.state.changeInProgress?.mode === 'rowversion' ? run.state.changeInProgress : undefined;
  let lower: string;
  let upper: string;
  if (resume) {
    ({ lower, upper } = resume);
  } else {
    const [row] = await query(run, () => sql.execute(rowversionUpperQuery(sql)));
    const read = row?.['upper_rowversion'];
    if (read === null || read === undefined) {
      throw new TendrilError(
        'TENDRIL_E_CURSOR_STATE',
        `stream ${stream}: MIN_ACTIVE_ROWVERSION() returned nothing; check the connection's database`,
      );
    }
    upper = String(read);
    const watermark = run.state.rowversionWatermark;
    if (watermark === undefined || run.full || compareRowversion(upper, watermark) < 0) {
      if (watermark !== undefined && !run.full) {
        run.log.warn(
          { stream, table: table.table, event: 'rowversion.went_backwards' },
          'MIN_ACTIVE_ROWVERSION() is below the stored watermark (a restored database?): running a baseline',
        );
      }
      await runBaseline(run, { rowversionWatermark: upper });
      return;
    }
    lower = watermark;
  }
  const inProgress = (after?: CursorPosition): ChangeInProgress => ({
    mode: 'rowversion',
    lower,
    upper,
    ...(after ? { after } : {}),
  });
  const seenAt = isoNow(run.now);
  run.state = { ...run.state, mode: table.cursor.mode, changeInProgress: inProgress(resume?.after) };
  await run.deps.store.saveStreamState(run.input.connection.id, stream, run.state);
  const pages = readPages(
    (position) =>
      query(run, () =>
        sql.execute(
          rowversionPageQuery(sql, table, {
            column,
            lower,
            upper,
            ...(position ? { after: { cursor: position.cursor ?? lower, key: position.key } } : {}),
            limit: run.pageSize,
          }),
        ),
      ) as Promise<Row[]>,
    {
      ...(resume?.after ? { start: resume.after } : {}),
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, true),
      compare: compareRowversionPosition,
      describe: `stream ${stream} (rowversion of ${table.table})`,
    },
  );
  for await (const { rows, last } of pages) {
    run.counts.read += rows.length;
    await commitMapped(
      run,
      mapAll(run, rows, seenAt),
      [],
      { ...run.state, changeInProgress: inProgress(last) },
      seenAt,
    );
  }
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, rowversionWatermark: upper };
}

/** Maps window rows and commits them with their business dates; returns their source ids. */
async function commitWindowRows(
  run: StreamRun,
  rows: readonly Row[],
  state: StreamState,
  seenAt: string,
): Promise<string[]> {
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
async function lookUpWindowCandidates(
  run: StreamRun,
  sourceIds: readonly string[],
  seenAt: string,
): Promise<string[]> {
  const keys = sourceIds.map((id) => keyOf(run.table, id));
  const rows = (await query(run, () =>
    run.deps.sql.execute(windowLookupQuery(run.deps.sql, run.table, keys)),
  )) as Row[];
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
  const full = run.full || startMax === undefined;
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
    if (maxSeenKey === undefined || comparePosition({ key: last.key }, { key: maxSeenKey }) > 0)
      maxSeenKey = last.key;
    await commitWindowRows(
      run,
      rows,
      { ...run.state, mode: 'window', ...(maxSeenKey ? { maxSeenKey } : {}) },
      seenAt,
    );
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
    throw new TendrilError(
      'TENDRIL_E_STREAM_UNKNOWN',
      `connector ${input.connector.id} has no stream "${input.stream}"; streams: ${Object.keys(input.connector.streams).join(', ')}`,
    );
  }
  const now = input.now ?? (() => new Date());
  const started = Date.now();
  const state = (await deps.store.getStreamState(input.connection.id, input.stream)) ?? {
    mode: table.cursor.mode,
  };
  // The mode discovery recorded (SQL Server change tracking / rowversion), else the declared one.
  const mode = effectiveChangeMode(table, state);
  const full = input.full === true || state.baselineRequired !== undefined;
  // A nightly reconciliation scans keys only, unless a baseline is due (then it is the baseline).
  const keysOnly = input.reconcile === true && state.baselineRequired === undefined;
  const kind: RunKind = input.reconcile
    ? 'reconcile'
    : full ||
        (mode === 'timestamp' && state.watermark === undefined) ||
        (mode === 'window' && state.maxSeenKey === undefined) ||
        (mode === 'change-tracking' && state.changeTrackingVersion === undefined) ||
        (mode === 'rowversion' && state.rowversionWatermark === undefined)
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
    full,
    counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
    log: deps.logger.child({ stream: input.stream }),
    now,
    state: { ...state, lastPollStartedAt: isoNow(now) },
    pages: 0,
    guardTripped: false,
    tableRowsScanned: 0,
  };
  const runId = await deps.store.startRun({
    connectionId: input.connection.id,
    stream: input.stream,
    kind,
    startedAt: isoNow(now),
  });
  try {
    switch (mode) {
      case 'timestamp':
        // The nightly reconciliation of a timestamp stream scans keys (+ rolling re-hash); `--full` re-reads everything.
        if (keysOnly) await reconcileKeys(run);
        else await pollTimestamp(run);
        break;
      case 'snapshot':
        await scanSnapshot(run);
        break;
      case 'window':
        await scanWindow(run);
        break;
      case 'change-tracking':
        // CT sees updates and deletes itself; the nightly key scan is the cheap cross-check.
        if (keysOnly) await reconcileKeys(run);
        else await pollChangeTracking(run);
        break;
      case 'rowversion':
        // rowversion does not see deletes: the nightly key scan confirms them.
        if (keysOnly) await reconcileKeys(run);
        else await pollRowversion(run);
        break;
      default:
        throw new Error(`unsupported change mode ${mode satisfies never as string}`);
    }
    const guardTripped = run.guardTripped;
    const { lastError: _cleared, ...clean } = run.state;
    const kept = guardTripped ? run.state : clean;
    // A run that read everything was the baseline a change of mode asked for.
    const { baselineRequired: _baselineDone, ...baselined } = kept;
    const finalState: StreamState = { ...(keysOnly ? kept : baselined), lastPollFinishedAt: isoNow(now) };
    await deps.store.saveStreamState(input.connection.id, input.stream, finalState);
    await deps.store.finishRun(runId, { status: 'succeeded', finishedAt: isoNow(now), counts: run.counts });
    run.log.info({ event: 'stream.synced', kind, ...run.counts }, 'stream synced');
    return {
      stream: input.stream,
      kind,
      durationMs: Date.now() - started,
      guardTripped,
      ...run.counts,
      ...(run.keysScanned !== undefined ? { keysScanned: run.keysScanned } : {}),
      ...(run.rehashSlice ? { rehashSlice: run.rehashSlice } : {}),
    };
  } catch (error) {
    // A foreign error's message may carry row values, so it travels only as `cause`.
    const failure =
      error instanceof TendrilError
        ? error
        : new TendrilError(
            'TENDRIL_E_INTERNAL',
            `stream ${input.stream} failed unexpectedly; the cause is attached`,
            { cause: error },
          );
    const lastError = { code: failure.code, message: failure.message, at: isoNow(now) };
    await deps.store
      .saveStreamState(input.connection.id, input.stream, { ...run.state, lastError })
      .catch(() => undefined);
    await deps.store
      .finishRun(runId, {
        status: 'failed',
        finishedAt: isoNow(now),
        counts: run.counts,
        error: { code: failure.code, message: failure.message },
      })
      .catch(() => undefined);
    run.log.error(
      { event: 'stream.failed', code: failure.code, retryable: failure.retryable },
      failure.message,
    );
    throw failure;
  }
}
