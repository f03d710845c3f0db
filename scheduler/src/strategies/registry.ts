import type { RecordedChangeMode } from '@tendril/store';
import { changeTrackingStrategy } from './change-tracking.js';
import { rowversionStrategy } from './rowversion.js';
import { snapshotStrategy } from './snapshot.js';
import type { ChangeDetectionStrategy } from './strategy.js';
import { timestampStrategy } from './timestamp.js';
import { windowStrategy } from './window.js';

/**
 * Every change-detection strategy, by the mode a stream runs in (declared by its table, or
 * recorded by `tendril discover`). Adding a mode to the store's list without a strategy here fails
 * to compile.
 */
export const CHANGE_DETECTION_STRATEGIES = {
  timestamp: timestampStrategy,
  window: windowStrategy,
  snapshot: snapshotStrategy,
  'change-tracking': changeTrackingStrategy,
  rowversion: rowversionStrategy,
} as const satisfies Record<RecordedChangeMode, ChangeDetectionStrategy>;

/** The strategy that runs a stream in `mode`. */
export function strategyFor(mode: RecordedChangeMode): ChangeDetectionStrategy {
  const strategy: ChangeDetectionStrategy | undefined = CHANGE_DETECTION_STRATEGIES[mode];
  if (!strategy) throw new Error(`unsupported change mode ${String(mode)}`);
  return strategy;
}
