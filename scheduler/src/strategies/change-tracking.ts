import { cellText, sourceIdOf, TendrilError, type Row } from '@tendril/core';
import {
  changeTrackingNeedsBaseline,
  changeTrackingPageQuery,
  changeTrackingRowKey,
  changeTrackingVersionsQuery,
  CT_VERSION_ALIAS,
} from '@tendril/sql';
import type { ChangeInProgress, CursorPosition } from '@tendril/store';
import { comparePosition } from '../key-order.js';
import { readPages } from '../page-reader.js';
import { commitRows } from '../stream-page.js';
import { isoNow, query, type StreamRun } from '../stream-run.js';
import { runBaseline } from './baseline.js';
import { reconcileKeys } from './key-reconcile.js';
import type { ChangeDetectionStrategy } from './strategy.js';

/** Orders change-tracking positions: the version as a 64-bit integer, then the key. */
function compareVersionPosition(a: CursorPosition, b: CursorPosition): number {
  const x = BigInt(a.cursor ?? '0');
  const y = BigInt(b.cursor ?? '0');
  return x < y ? -1 : x > y ? 1 : comparePosition({ key: a.key }, { key: b.key });
}

/**
 * `change-tracking` (SQL Server; docs/sync.md, "SQL Server: change tracking and rowversion"):
 * `cur` and the table's minimum valid version are read first. No stored version, a version older
 * than the minimum valid one (CT cleanup ran: scenario 15) or a `full` run → baseline, then the
 * state is `cur`. Otherwise the changes in `(state, cur]` are paged by (`SYS_CHANGE_VERSION`, key)
 * from CHANGETABLE LEFT JOIN the table: a row that came back is classified like any read row; a
 * row that did not (operation `D`, or it left the table's row filter) is a confirmed delete — the
 * join is the point lookup. The new state is `cur`.
 *
 * Consistency: `cur` is read first and every page is filtered `SYS_CHANGE_VERSION <= cur`, so a
 * change committed during the poll is read by the next one and classified by hash (the fallback
 * for a database without snapshot isolation). The single SNAPSHOT transaction is not used yet,
 * even where discovery found snapshot isolation on.
 */
async function pollChangeTracking(run: StreamRun): Promise<void> {
  const { table } = run;
  const { sql } = run.deps;
  const { stream } = run.input;
  const [versions] = await query(() => sql.execute(changeTrackingVersionsQuery(sql, table.table)));
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
  if (since === undefined || run.full || changeTrackingNeedsBaseline(since, cellText(minValid))) {
    if (since !== undefined && !run.full) {
      run.log.warn(
        { stream, table: table.table, event: 'change_tracking.version_expired' },
        'the stored change-tracking version is older than the minimum valid version: running a baseline',
      );
    }
    await runBaseline(run, { changeTrackingVersion: cellText(current) });
    return;
  }
  const upper = resume?.upper ?? cellText(current);
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
      query(() =>
        sql.execute(
          changeTrackingPageQuery(sql, table, {
            sinceVersion: since,
            currentVersion: upper,
            ...(position ? { after: { version: position.cursor ?? since, key: position.key } } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
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
    await commitRows(run, present, {
      confirmedAbsent: gone,
      state: { ...run.state, changeInProgress: inProgress(last) },
      seenAt,
    });
  }
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, changeTrackingVersion: upper };
}

export const changeTrackingStrategy: ChangeDetectionStrategy = {
  mode: 'change-tracking',
  isFirstRead: (state) => state.changeTrackingVersion === undefined,
  poll: pollChangeTracking,
  // CT sees updates and deletes itself; the nightly key scan is the cheap cross-check.
  reconcile: reconcileKeys,
};
