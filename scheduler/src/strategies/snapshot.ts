import type { CursorMode } from '@tendril/core';
import { snapshotPageQuery } from '@tendril/sql';
import { confirmStaleDeletes } from '../confirm-deletes.js';
import { readPages } from '../page-reader.js';
import { commitRows, pageCommitter } from '../stream-page.js';
import { isoNow, positionOf, query, type StreamRun } from '../stream-run.js';
import type { ChangeDetectionStrategy } from './strategy.js';

/**
 * A full scan paged by key, hash-diffed against the shadow store, then every live shadow row the
 * scan did not see confirmed by point lookup behind the guard (docs/sync.md, "Snapshot streams
 * and `--full`"). `mode` is the stream's mode as written into its state (a baseline keeps the
 * declared one).
 */
export async function scanSnapshot(run: StreamRun, mode: CursorMode = 'snapshot'): Promise<void> {
  const { table } = run;
  const seenAt = isoNow(run.now);
  const scanStartedAt = seenAt;
  const pages = readPages(
    (position) =>
      query(() =>
        run.deps.sql.execute(
          snapshotPageQuery(run.deps.sql, table, {
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
    {
      pageSize: run.pageSize,
      positionOf: (row) => positionOf(table, row, false),
      describe: `stream ${run.input.stream} (snapshot of ${table.table})`,
    },
  );
  // Each page is mapped while the one before it commits (stream-page.ts, `pageCommitter`).
  const committer = pageCommitter(run);
  for await (const { rows } of pages) {
    run.counts.read += rows.length;
    run.tableRowsScanned += rows.length;
    await committer.add(rows, { state: { ...run.state, mode }, seenAt });
  }
  await committer.finish();
  const staticRows = table.staticRows ?? [];
  if (staticRows.length) {
    run.counts.read += staticRows.length;
    await commitRows(run, staticRows, { state: { ...run.state, mode }, seenAt });
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt);
  run.state = { ...run.state, mode, lastPollFinishedAt: seenAt };
}

export const snapshotStrategy: ChangeDetectionStrategy = {
  mode: 'snapshot',
  // Every snapshot poll reads the whole table: none is a backload unless asked (`--full`).
  isFirstRead: () => false,
  poll: (run) => scanSnapshot(run),
  reconcile: (run) => scanSnapshot(run),
};
