import { rowSourceId, sha256Hex, type Row } from '@tendril/core';
import { keysPageQuery, lookupByKeysQuery } from '@tendril/sql';
import type { SeenRecord } from '@tendril/store';
import { confirmStaleDeletes } from '../confirm-deletes.js';
import { readPages } from '../page-reader.js';
import { commitRows } from '../stream-page.js';
import { isoNow, keyOf, positionOf, query, type StreamRun } from '../stream-run.js';

/**
 * Default number of rolling re-hash slices: every row is re-read within a week
 * (docs/sync-semantics.md, "Nightly reconciliation").
 */
export const DEFAULT_REHASH_SLICES = 7;

/**
 * The re-hash slice of a row: SHA-256 of its source id, first 32 bits, mod `slices`. Stable across
 * runs and hosts.
 */
export function rehashSliceOf(sourceId: string, slices: number): number {
  return parseInt(sha256Hex(sourceId).slice(0, 8), 16) % slices;
}

/**
 * The nightly reconciliation of a cursor stream (`timestamp`, `change-tracking`, `rowversion`),
 * keys only (docs/sync.md, "Nightly reconciliation"):
 * 1. scan every key in key order (`keysPageQuery`, `table.where` applied), paged;
 * 2. keys the shadow store does not know are read in full and classified (rows a cursor missed);
 * 3. rolling re-hash: keys whose `hash(sourceId) mod rehashSlices = day mod rehashSlices` are read
 *    in full and classified, so an update that did not touch the cursor column is caught within
 *    `rehashSlices` nights; every other key only has its `lastSeenAt` moved;
 * 4. live shadow rows the scan did not see are delete candidates, confirmed one by one by a point
 *    lookup, behind the guard.
 * The poll's watermark and any in-progress poll window are left as they are.
 */
export async function reconcileKeys(run: StreamRun): Promise<void> {
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
      query(() =>
        run.deps.sql.execute(
          keysPageQuery(run.deps.sql, table, {
            ...(position ? { after: position } : {}),
            limit: run.pageSize,
          }),
        ),
      ),
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
    let found: Row[] = [];
    if (readInFull.length > 0) {
      found = await query(() =>
        run.deps.sql.execute(
          lookupByKeysQuery(
            run.deps.sql,
            table,
            readInFull.map((id) => keyOf(table, id)),
          ),
        ),
      );
      run.counts.read += found.length;
    }
    // A key read in full but gone by now (deleted between the two queries) is left to the stale check below.
    await commitRows(run, found, { alsoSeen: seen, state: run.state, seenAt });
  }
  await confirmStaleDeletes(run, scanStartedAt, seenAt);
}
