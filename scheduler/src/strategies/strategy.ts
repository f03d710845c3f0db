import type { RecordedChangeMode, StreamState } from '@tendril/store';
import type { StreamRun } from '../stream-run.js';

/**
 * One way of finding a stream's new, changed and deleted rows (docs/sync-semantics.md,
 * "Change-detection modes"), like a knex dialect: the engine (sync-stream.ts) picks one from the
 * registry by the stream's mode and runs it; the strategy reads pages and hands their rows to
 * stream-page.ts, which maps, classifies and commits them, and confirms delete candidates through
 * confirm-deletes.ts.
 */
export interface ChangeDetectionStrategy {
  readonly mode: RecordedChangeMode;
  /**
   * Whether this stream has not been read in this mode yet, so the run is recorded as a backload
   * rather than a poll.
   */
  isFirstRead(state: StreamState): boolean;
  /** One poll; with `run.full` a backload, or the baseline a change of mode asks for. */
  poll(run: StreamRun): Promise<void>;
  /**
   * The nightly reconciliation (the run is `full`): a keys-only scan with the rolling re-hash for
   * the cursor modes, a full re-read for the modes that scan anyway.
   */
  reconcile(run: StreamRun): Promise<void>;
}
