import { RECORDED_CHANGE_MODES } from '@tendril/store';
import { describe, expect, it } from 'vitest';
import { CHANGE_DETECTION_STRATEGIES, strategyFor } from './registry.js';

describe('change-detection strategy registry', () => {
  it('has one strategy for every mode the store records, registered under its own mode', () => {
    expect(Object.keys(CHANGE_DETECTION_STRATEGIES).sort()).toEqual([...RECORDED_CHANGE_MODES].sort());
    for (const mode of RECORDED_CHANGE_MODES) expect(strategyFor(mode).mode).toBe(mode);
  });

  it('counts a run as a backload until the stream holds a position in that mode', () => {
    expect(strategyFor('timestamp').isFirstRead({ mode: 'timestamp' })).toBe(true);
    expect(
      strategyFor('timestamp').isFirstRead({ mode: 'timestamp', watermark: '2025-01-01 00:00:00' }),
    ).toBe(false);
    expect(strategyFor('window').isFirstRead({ mode: 'window', maxSeenKey: ['7'] })).toBe(false);
    expect(
      strategyFor('change-tracking').isFirstRead({ mode: 'timestamp', changeTrackingVersion: '12' }),
    ).toBe(false);
    expect(strategyFor('rowversion').isFirstRead({ mode: 'timestamp' })).toBe(true);
    expect(strategyFor('snapshot').isFirstRead({ mode: 'snapshot' })).toBe(false);
  });

  it('refuses a mode it does not know', () => {
    expect(() => strategyFor('trigger' as never)).toThrow('unsupported change mode trigger');
  });
});
