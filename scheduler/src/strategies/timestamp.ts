import type { WarningCode } from '@tendril/core';
import {
  minCursor,
  ROWS_AHEAD_ALIAS,
  shiftCursor,
  timestampAheadQuery,
  timestampPageQuery,
  truncateCursor,
} from '@tendril/sql';
import type { CursorPosition, StreamState } from '@tendril/store';
import { confirmStaleDeletes } from '../confirm-deletes.js';
import { readPages } from '../page-reader.js';
import { pageCommitter } from '../stream-page.js';
import {
  BEGINNING_OF_TIME,
  isoNow,
  nowInClockDomain,
  positionOf,
  query,
  type StreamRun,
} from '../stream-run.js';
import { pollDeleteLog } from './delete-log.js';
import { reconcileKeys } from './key-reconcile.js';
import type { ChangeDetectionStrategy } from './strategy.js';

/** A stamp more than this far ahead of the database clock is a skew worth a warning. */
const SKEW_WARNING_SECONDS = 60;

/**
 * Counts the rows stamped more than {@link SKEW_WARNING_SECONDS} ahead of the database clock (in
 * the cursor's clock domain) and warns `TENDRIL_W_CLOCK_SKEW` when there are any. The window ends
 * at the database clock, so those rows are never among the rows a poll reads: only a query of its
 * own can see them (docs/sync-semantics.md, "Timestamp cursors"). Names and counts only, no values.
 */
async function warnOfStampsAhead(run: StreamRun, clock: 'db-utc' | 'db-local' | 'client', precision: number) {
  const { table } = run;
  const from = truncateCursor(
    shiftCursor(await nowInClockDomain(run, clock), SKEW_WARNING_SECONDS, 6),
    precision,
  );
  const [row] = await query(() => run.deps.sql.execute(timestampAheadQuery(run.deps.sql, table, from)));
  const ahead = Number(row?.[ROWS_AHEAD_ALIAS] ?? 0);
  if (ahead === 0) return;
  run.rowsAhead = ahead;
  run.log.warn(
    {
      event: 'sync.clock_skew',
      code: 'TENDRIL_W_CLOCK_SKEW' satisfies WarningCode,
      stream: run.input.stream,
      table: table.table,
      column: table.cursor.mode === 'timestamp' ? table.cursor.column : undefined,
      clock,
      rowsAhead: ahead,
    },
    `${ahead} row(s) stamped more than ${SKEW_WARNING_SECONDS} s ahead of the database clock are not read until the clock catches up (see docs/errors.md)`,
  );
}

/**
 * `timestamp` (docs/sync.md, "One poll of a `timestamp` stream"): reads `lower <= stamp < upper`,
 * `upper` = the database clock minus the settle delay, `lower` = the last watermark (or `upper`,
 * whichever is earlier) minus the overlap, keyset-paged by (stamp, key). The new watermark is
 * `upper`, never the largest stamp seen. A delete log, if declared, is read after the table.
 */
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

  const pages = readPages(
    (position) =>
      query(() =>
        run.deps.sql.execute(
          timestampPageQuery(run.deps.sql, table, {
            lower,
            upper,
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
            order: paging,
          }),
        ),
      ),
    {
      ...(after ? { start: after } : {}),
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, !keyOnlyPaging),
      describe: `stream ${run.input.stream} (table ${table.table})`,
    },
  );
  // Each page is mapped while the one before it commits (stream-page.ts, `pageCommitter`).
  const committer = pageCommitter(run);
  for await (const { rows, last } of pages) {
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    const state: StreamState = {
      ...run.state,
      inProgress: { lower, upper, after: last, scanStartedAt, paging },
    };
    await committer.add(rows, { state, seenAt });
  }
  await committer.finish();

  await warnOfStampsAhead(run, cursor.clock, precision);
  if (table.deleteLog) await pollDeleteLog(run, seenAt);
  if (run.full) await confirmStaleDeletes(run, scanStartedAt, seenAt);
  const { inProgress: _done, ...rest } = run.state;
  run.state = { ...rest, mode: 'timestamp', watermark: upper };
  await run.deps.store.saveStreamState(run.input.connection.id, run.input.stream, run.state);
}

export const timestampStrategy: ChangeDetectionStrategy = {
  mode: 'timestamp',
  isFirstRead: (state) => state.watermark === undefined,
  poll: pollTimestamp,
  // The nightly key scan with the rolling re-hash; `--full` re-reads everything instead.
  reconcile: reconcileKeys,
};
