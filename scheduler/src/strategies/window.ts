import type { Row } from '@tendril/core';
import { windowBounds, windowLookupQuery, windowPageQuery } from '@tendril/sql';
import { confirmStaleDeletes } from '../confirm-deletes.js';
import { comparePosition } from '../key-order.js';
import { readPages } from '../page-reader.js';
import { commitRows } from '../stream-page.js';
import { isoNow, keyOf, nowInClockDomain, positionOf, query, type StreamRun } from '../stream-run.js';
import type { ChangeDetectionStrategy } from './strategy.js';

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
  const rows = (await query(() =>
    run.deps.sql.execute(windowLookupQuery(run.deps.sql, run.table, keys)),
  )) as Row[];
  run.counts.read += rows.length;
  const found = new Set(
    rows.length > 0
      ? (await commitRows(run, rows, { state: run.state, seenAt }, true)).mapped.map((m) => m.sourceId)
      : [],
  );
  return sourceIds.filter((id) => !found.has(id));
}

/**
 * `window` (docs/sync.md, "Window streams"): reads every row whose business date is in
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
      query(() =>
        run.deps.sql.execute(
          windowPageQuery(run.deps.sql, table, {
            ...window,
            ...(newKeysAfter ? { newKeysAfter } : {}),
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
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
    await commitRows(
      run,
      rows,
      { state: { ...run.state, mode: 'window', ...(maxSeenKey ? { maxSeenKey } : {}) }, seenAt },
      true,
    );
  }
  await confirmStaleDeletes(
    run,
    scanStartedAt,
    seenAt,
    full ? {} : { window, lookUp: (sourceIds) => lookUpWindowCandidates(run, sourceIds, seenAt) },
  );
  const nextNewKeysAfter = full ? maxSeenKey : startMax;
  run.state = {
    ...run.state,
    mode: 'window',
    ...(maxSeenKey ? { maxSeenKey } : {}),
    ...(nextNewKeysAfter ? { newKeysAfter: nextNewKeysAfter } : {}),
    lastPollFinishedAt: seenAt,
  };
}

export const windowStrategy: ChangeDetectionStrategy = {
  mode: 'window',
  isFirstRead: (state) => state.maxSeenKey === undefined,
  poll: scanWindow,
  // A full re-read: it also confirms deletes of rows dated outside the window.
  reconcile: scanWindow,
};
