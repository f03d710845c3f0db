import { cellText, TendrilError } from '@tendril/core';
import { compareRowversion, ROWVERSION_ZERO, rowversionPageQuery, rowversionUpperQuery } from '@tendril/sql';
import type { ChangeInProgress, CursorPosition } from '@tendril/store';
import { comparePosition } from '../key-order.js';
import { readPages } from '../page-reader.js';
import { commitRows } from '../stream-page.js';
import { isoNow, positionOf, query, type StreamRun } from '../stream-run.js';
import { runBaseline } from './baseline.js';
import { reconcileKeys } from './key-reconcile.js';
import type { ChangeDetectionStrategy } from './strategy.js';

/** Orders rowversion positions: the rowversion as an unsigned 64-bit value, then the key. */
function compareRowversionPosition(a: CursorPosition, b: CursorPosition): number {
  const byRowversion = compareRowversion(a.cursor ?? ROWVERSION_ZERO, b.cursor ?? ROWVERSION_ZERO);
  return byRowversion !== 0 ? byRowversion : comparePosition({ key: a.key }, { key: b.key });
}

/**
 * `rowversion` (SQL Server; docs/sync.md, "SQL Server: change tracking and rowversion"):
 * `upper = MIN_ACTIVE_ROWVERSION()` is read FIRST — every row below it is committed, and a
 * transaction still open holds a rowversion at or above it, so nothing can appear below `upper`
 * later. Then `state <= rv < upper`, paged by (rv, key), rowversions bound as `binary(8)`; the new
 * state is `upper`. No stored watermark, a `full` run, or an `upper` below the watermark (a
 * restored database) → baseline. Deletes are not seen here: the nightly reconciliation's key scan
 * finds them.
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
    const [row] = await query(() => sql.execute(rowversionUpperQuery(sql)));
    const read = row?.['upper_rowversion'];
    if (read === null || read === undefined) {
      throw new TendrilError(
        'TENDRIL_E_CURSOR_STATE',
        `stream ${stream}: MIN_ACTIVE_ROWVERSION() returned nothing; check the connection's database`,
      );
    }
    upper = cellText(read);
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
      query(() =>
        sql.execute(
          rowversionPageQuery(sql, table, {
            column,
            lower,
            upper,
            ...(position ? { after: { cursor: position.cursor ?? lower, key: position.key } } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
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
    await commitRows(run, rows, { state: { ...run.state, changeInProgress: inProgress(last) }, seenAt });
  }
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, rowversionWatermark: upper };
}

export const rowversionStrategy: ChangeDetectionStrategy = {
  mode: 'rowversion',
  isFirstRead: (state) => state.rowversionWatermark === undefined,
  poll: pollRowversion,
  // rowversion does not see deletes: the nightly key scan confirms them.
  reconcile: reconcileKeys,
};
