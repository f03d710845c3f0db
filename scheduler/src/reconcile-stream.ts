import {
  syncStream,
  type StreamSyncDeps,
  type StreamSyncInput,
  type StreamSyncResult,
} from './sync-stream.js';

/**
 * The nightly reconciliation of one stream (docs/sync-semantics.md, "Nightly reconciliation"), recorded as a
 * `reconcile` run.
 *
 * `timestamp` streams: a keys-only scan of the table (new keys read in full and classified), a
 * rolling re-hash that reads one of `sync.rehashSlices` (default 7) slices of the rows in full each
 * night (so an update that did not touch the cursor column is caught within that many nights),
 * and every live shadow row the scan did not see is a delete candidate, confirmed by a point
 * lookup. `snapshot` and `window` streams: a full re-read (what their polls already do; for
 * `window` it also covers rows dated outside the window). In every mode the guard holds the
 * deletes back when more than max(50, 20 %) of the live rows would go at once, or the table reads
 * as empty (`reconciliation.guard_tripped`); `approveDeletes` (`tendril reconcile --approve`)
 * releases it for one run.
 *
 * Run it under the stream's lease: the scheduler makes the stream's polls wait meanwhile.
 */
export function reconcileStream(
  deps: StreamSyncDeps,
  input: Omit<StreamSyncInput, 'full' | 'reconcile'>,
): Promise<StreamSyncResult> {
  return syncStream(deps, { ...input, full: true, reconcile: true });
}
