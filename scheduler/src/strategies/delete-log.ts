import { deleteLogPageQuery, minCursor, shiftCursor, truncateCursor } from '@tendril/sql';
import { confirmCandidates } from '../confirm-deletes.js';
import { readPages } from '../page-reader.js';
import { BEGINNING_OF_TIME, nowInClockDomain, query, type StreamRun } from '../stream-run.js';

/**
 * Reads the vendor's delete log (Open Dental `deletedobject`) like a `timestamp` stream of its
 * own, with its own watermark, and confirms each key it names by a point lookup before a `deleted`
 * is emitted (docs/sync-semantics.md, "Change-detection modes" and "Classification").
 */
export async function pollDeleteLog(run: StreamRun, seenAt: string): Promise<void> {
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
      query(() =>
        run.deps.sql.execute(
          deleteLogPageQuery(run.deps.sql, log, {
            lower,
            upper,
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
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
