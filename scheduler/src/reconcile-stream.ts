import {
  syncStream,
  type StreamSyncDeps,
  type StreamSyncInput,
  type StreamSyncResult,
} from './sync-stream.js';

/**
 * The nightly reconciliation of one stream (sync-semantics.md §5), recorded as a `reconcile` run.
 *
 * It reuses the engine's full pass rather than a second implementation: every row is read again
 * and classified against the shadow (so rows a cursor missed, and updates that did not touch the
 * cursor column, are caught), then every live shadow row the scan did not see is a delete
 * candidate, confirmed by a point lookup, behind the guard (more than max(50, 20 %) of live rows
 * at once → nothing emitted, `reconciliation.guard_tripped`).
 *
 * Not yet: the cheaper keys-only scan with a rolling re-hash of one seventh of the rows per night
 * (§5 steps 1 and 4). The full read is a superset of it (every row is re-hashed every night), so
 * the results are the same; only the nightly read volume is larger.
 *
 * Run it under the stream's lease: the scheduler makes the stream's polls wait meanwhile.
 */
export function reconcileStream(
  deps: StreamSyncDeps,
  input: Omit<StreamSyncInput, 'full' | 'reconcile'>,
): Promise<StreamSyncResult> {
  return syncStream(deps, { ...input, full: true, reconcile: true });
}
