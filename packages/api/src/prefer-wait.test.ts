import { describe, expect, it } from 'vitest';
import { MAX_PREFER_WAIT_SECONDS, preferredWaitSeconds } from './writeback-routes.js';

describe('preferredWaitSeconds (RFC 7240 Prefer: wait)', () => {
  it('reads wait=N among other preferences, quoted or not, in one header or several', () => {
    expect(preferredWaitSeconds('wait=5')).toBe(5);
    expect(preferredWaitSeconds('respond-async, wait=7')).toBe(7);
    expect(preferredWaitSeconds('WAIT = "3"')).toBe(3);
    expect(preferredWaitSeconds(['return=minimal', 'wait=2'])).toBe(2);
  });

  it('caps a long wait and ignores what is not a whole number of seconds', () => {
    expect(preferredWaitSeconds('wait=3600')).toBe(MAX_PREFER_WAIT_SECONDS);
    expect(preferredWaitSeconds(undefined)).toBe(0);
    expect(preferredWaitSeconds('wait=-1')).toBe(0);
    expect(preferredWaitSeconds('wait=1.5')).toBe(0);
    expect(preferredWaitSeconds('nowait=5')).toBe(0);
    expect(preferredWaitSeconds('wait=99999999')).toBe(0);
  });
});
