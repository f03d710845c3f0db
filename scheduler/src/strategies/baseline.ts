import type { StreamState } from '@tendril/store';
import type { StreamRun } from '../stream-run.js';
import { scanSnapshot } from './snapshot.js';

/**
 * A baseline (docs/sync.md, "SQL Server: change tracking and rowversion"; scenario 15): the
 * snapshot scan, hash-diffed against the shadow store (rows that did not change classify as
 * unchanged and emit nothing), with every live shadow row the scan did not see confirmed by point
 * lookup behind the reconciliation guard. The new mode's position was read by the caller BEFORE
 * the scan, so nothing changed during the scan is lost: it is read again by the next poll and
 * classified by hash.
 */
export async function runBaseline(
  run: StreamRun,
  position: Pick<StreamState, 'changeTrackingVersion' | 'rowversionWatermark'>,
): Promise<void> {
  await scanSnapshot(run, run.table.cursor.mode);
  const { changeInProgress: _done, ...rest } = run.state;
  run.state = { ...rest, ...position };
}
