import { describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import { parseDeliveryPolicy, type BackoffFunction, type DeliveryPolicy } from './policy.js';
import {
  applyRetryAfter,
  attemptEndMs,
  jitteredDelayMs,
  lifetimeExceeded,
  nextAttempt,
  nominalRetryDelaysSeconds,
  retryDelaysMs,
} from './schedule.js';

function policy(healthyRetryPolicy: Record<string, unknown>): DeliveryPolicy {
  const result = parseDeliveryPolicy({ healthyRetryPolicy });
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.policy;
}

/** Seconds rounded to 0.1, the precision docs/delivery.md prints. */
const roundTenth = (seconds: number): number => Math.round(seconds * 10) / 10;
const tenths = (ms: number): number => roundTenth(ms / 1000);
const sumMs = (delays: number[]): number => delays.reduce((a, b) => a + b, 0);

// docs/delivery.md, "Delivery policy", golden vectors: numRetries 10, all backoff, no jitter; seconds.
const GOLDEN: ReadonlyArray<[number, number, BackoffFunction, number[], number]> = [
  [5, 260, 'linear', [5, 33.3, 61.7, 90, 118.3, 146.7, 175, 203.3, 231.7, 260], 1325],
  [5, 260, 'arithmetic', [5, 10.7, 22, 39, 61.7, 90, 124, 163.7, 209, 260], 985],
  [5, 260, 'geometric', [5, 7.8, 12.0, 18.7, 28.9, 44.9, 69.7, 108.1, 167.6, 260], 722.6],
  [5, 260, 'exponential', [5, 10, 20, 40, 80, 160, 260, 260, 260, 260], 1355],
  [1, 60, 'linear', [1, 7.6, 14.1, 20.7, 27.2, 33.8, 40.3, 46.9, 53.4, 60], 305],
  [1, 60, 'arithmetic', [1, 2.3, 4.9, 8.9, 14.1, 20.7, 28.5, 37.7, 48.2, 60], 226.3],
  [1, 60, 'geometric', [1, 1.6, 2.5, 3.9, 6.2, 9.7, 15.3, 24.2, 38.1, 60], 162.4],
  [1, 60, 'exponential', [1, 2, 4, 8, 16, 32, 60, 60, 60, 60], 303],
  [10, 600, 'linear', [10, 75.6, 141.1, 206.7, 272.2, 337.8, 403.3, 468.9, 534.4, 600], 3050],
  [10, 600, 'arithmetic', [10, 23.1, 49.3, 88.7, 141.1, 206.7, 285.3, 377.1, 482, 600], 2263.3],
  [10, 600, 'geometric', [10, 15.8, 24.8, 39.1, 61.7, 97.2, 153.3, 241.5, 380.7, 600], 1624.2],
  [10, 600, 'exponential', [10, 20, 40, 80, 160, 320, 600, 600, 600, 600], 3030],
];

describe('retryDelaysMs — docs/delivery.md, "Delivery policy" golden vectors', () => {
  it.each(GOLDEN)('m %d, M %d, %s', (m, M, backoffFunction, expected, expectedSum) => {
    const p = policy({ minDelayTarget: m, maxDelayTarget: M, numRetries: 10, backoffFunction });
    const exact = nominalRetryDelaysSeconds(p.healthyRetryPolicy);
    const delays = retryDelaysMs(p);
    // The table rounds the exact values to 0.1 s.
    expect(exact.map(roundTenth)).toEqual(expected);
    expect(roundTenth(exact.reduce((a, b) => a + b, 0))).toBe(expectedSum);
    // The schedule is those values to the nearest ms: integers within 0.5 ms of exact, so within 50.5 ms of the table.
    expect(delays).toHaveLength(10);
    expect(delays).toEqual(exact.map((seconds) => Math.round(seconds * 1000)));
    delays.forEach((ms, i) => expect(Math.abs(ms - expected[i]! * 1000)).toBeLessThanOrEqual(50.5));
    expect(Math.abs(sumMs(delays) - expectedSum * 1000)).toBeLessThanOrEqual(50 + 5);
  });

  it.each(GOLDEN)('m %d, M %d, %s starts at m, ends at M and never decreases', (m, M, backoffFunction) => {
    const delays = retryDelaysMs(
      policy({ minDelayTarget: m, maxDelayTarget: M, numRetries: 10, backoffFunction }),
    );
    expect(delays[0]).toBe(m * 1000);
    expect(delays.at(-1)).toBe(M * 1000);
    for (let i = 1; i < delays.length; i += 1) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
  });
});

describe('retryDelaysMs — more vectors', () => {
  it.each(['linear', 'arithmetic', 'geometric', 'exponential'] as const)(
    'm = M = 20 gives 20 s for every retry (%s)',
    (backoffFunction) => {
      expect(
        retryDelaysMs(policy({ minDelayTarget: 20, maxDelayTarget: 20, numRetries: 10, backoffFunction })),
      ).toEqual(Array(10).fill(20_000));
    },
  );

  it('the SNS default gives 20, 20, 20', () => {
    const result = parseDeliveryPolicy({});
    expect(result.ok && retryDelaysMs(result.policy)).toEqual([20_000, 20_000, 20_000]);
  });

  it('four phases (m 1, M 60, N 50, a 3, b 2, c 35, exponential)', () => {
    const delays = retryDelaysMs(
      policy({
        minDelayTarget: 1,
        maxDelayTarget: 60,
        numRetries: 50,
        numNoDelayRetries: 3,
        numMinDelayRetries: 2,
        numMaxDelayRetries: 35,
        backoffFunction: 'exponential',
      }),
    );
    expect(delays.map(tenths)).toEqual([
      0,
      0,
      0,
      1,
      1,
      1,
      2,
      4,
      8,
      16,
      32,
      60,
      60,
      60,
      60,
      ...Array<number>(35).fill(60),
    ]);
    expect(tenths(sumMs(delays))).toBe(2405);
  });

  it('over the cap (m 1, M 2399, N 5, a 1, linear)', () => {
    const delays = retryDelaysMs(
      policy({
        minDelayTarget: 1,
        maxDelayTarget: 2399,
        numRetries: 5,
        numNoDelayRetries: 1,
        backoffFunction: 'linear',
      }),
    );
    expect(delays.map(tenths)).toEqual([0, 1, 800.3, 1599.7, 2399]);
    expect(delays).toEqual([0, 1000, 800_333, 1_599_667, 2_399_000]);
    expect(tenths(sumMs(delays))).toBe(4800);
  });

  it('AWS published linear example: min 20, max 40, 3 retries → 20, 30, 40', () => {
    expect(retryDelaysMs(policy({ minDelayTarget: 20, maxDelayTarget: 40, numRetries: 3 }))).toEqual([
      20_000, 30_000, 40_000,
    ]);
  });

  it('a single backoff retry (n = 1) waits m', () => {
    for (const backoffFunction of ['linear', 'arithmetic', 'geometric', 'exponential']) {
      expect(
        retryDelaysMs(policy({ minDelayTarget: 3, maxDelayTarget: 90, numRetries: 1, backoffFunction })),
      ).toEqual([3000]);
    }
  });

  it('no backoff phase at all (n = 0), and no retries', () => {
    expect(
      retryDelaysMs(
        policy({
          minDelayTarget: 3,
          maxDelayTarget: 90,
          numRetries: 4,
          numNoDelayRetries: 1,
          numMinDelayRetries: 1,
          numMaxDelayRetries: 2,
        }),
      ),
    ).toEqual([0, 3000, 90_000, 90_000]);
    expect(retryDelaysMs(policy({ minDelayTarget: 3, maxDelayTarget: 90, numRetries: 0 }))).toEqual([]);
  });

  it('exponential with a ratio above 2 still ends exactly at M', () => {
    // (3600/1)^(1/3) ≈ 15.3 > 2, so R is the curve's own ratio.
    const delays = nominalRetryDelaysSeconds(
      policy({ minDelayTarget: 1, maxDelayTarget: 3600, numRetries: 4, backoffFunction: 'exponential' })
        .healthyRetryPolicy,
    );
    expect(delays[0]).toBe(1);
    expect(delays[1]).toBeCloseTo(3600 ** (1 / 3), 9);
    expect(delays[3]).toBe(3600);
  });
});

describe('jitteredDelayMs', () => {
  const p = policy({
    minDelayTarget: 5,
    maxDelayTarget: 260,
    numRetries: 10,
    backoffFunction: 'exponential',
  });

  it('is the nominal delay with j = 0', () => {
    expect(jitteredDelayMs(40_000, p, () => 0.99, 0)).toBe(40_000);
  });

  it('spreads D by ±j: U = 0 gives D·(1 − j), U → 1 gives D·(1 + j), U = 0.5 gives D', () => {
    expect(jitteredDelayMs(40_000, p, () => 0)).toBe(36_000);
    expect(jitteredDelayMs(40_000, p, () => 0.5)).toBe(40_000);
    expect(jitteredDelayMs(40_000, p, () => 0.75)).toBe(42_000);
    expect(jitteredDelayMs(40_000, p, () => 0.999_999)).toBe(44_000);
    expect(jitteredDelayMs(40_000, p, () => 0.25, 0.2)).toBe(36_000);
  });

  it('clamps to [m, M]', () => {
    expect(jitteredDelayMs(5000, p, () => 0)).toBe(5000);
    expect(jitteredDelayMs(260_000, p, () => 0.999)).toBe(260_000);
    expect(jitteredDelayMs(260_000, p, () => 0)).toBe(234_000);
  });

  it('keeps zero delays zero, without consulting the random source', () => {
    expect(jitteredDelayMs(0, p, () => 0.999)).toBe(0);
    expect(
      jitteredDelayMs(0, p, () => {
        throw new Error('not called');
      }),
    ).toBe(0);
  });

  it('rounds to the nearest ms', () => {
    expect(Number.isInteger(jitteredDelayMs(33_333, p, () => 0.123_456_7))).toBe(true);
  });

  it('rejects a jitter outside [0, 1) and a random source outside [0, 1)', () => {
    expect(() => jitteredDelayMs(1000, p, () => 0.5, 1)).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
    );
    expect(() => jitteredDelayMs(1000, p, () => 0.5, -0.1)).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
    );
    expect(() => jitteredDelayMs(1000, p, () => 1)).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
    );
  });
});

describe('applyRetryAfter', () => {
  const p = policy({ minDelayTarget: 5, maxDelayTarget: 260, numRetries: 10 });

  it('is max(D, min(Retry-After, M))', () => {
    expect(applyRetryAfter(10_000, 120, p)).toBe(120_000);
    expect(applyRetryAfter(10_000, 5, p)).toBe(10_000); // never speeds up
    expect(applyRetryAfter(10_000, 86_400, p)).toBe(260_000); // capped at M
    expect(applyRetryAfter(300_000, 86_400, p)).toBe(300_000); // never below D
    expect(applyRetryAfter(0, 30, p)).toBe(30_000); // slows down even a no-delay retry
    expect(applyRetryAfter(10_000, 0.5, p)).toBe(10_000);
  });

  it('leaves D alone without a usable Retry-After', () => {
    expect(applyRetryAfter(10_000, undefined, p)).toBe(10_000);
    expect(applyRetryAfter(10_000, Number.NaN, p)).toBe(10_000);
    expect(applyRetryAfter(10_000, -50, p)).toBe(10_000);
  });
});

describe('lifetimeExceeded', () => {
  it('is (now − eligibleAt) + next delay > maxLifetimeSeconds', () => {
    expect(lifetimeExceeded(0, 3_000_000, 600_000)).toBe(false); // exactly 3600 s
    expect(lifetimeExceeded(0, 3_000_001, 600_000)).toBe(true);
    expect(lifetimeExceeded(1_000, 1_000, 3_600_001)).toBe(true);
    expect(lifetimeExceeded(0, 50_000, 10_000, 60)).toBe(false);
    expect(lifetimeExceeded(0, 50_001, 10_000, 60)).toBe(true);
  });
});

describe('attemptEndMs', () => {
  it('ends a timed-out attempt at start + timeoutSeconds', () => {
    expect(attemptEndMs({ startedAtMs: 1000, endedAtMs: 17_250, timedOut: true, timeoutSeconds: 15 })).toBe(
      16_000,
    );
    expect(attemptEndMs({ startedAtMs: 1000, endedAtMs: 1_250, timedOut: false, timeoutSeconds: 15 })).toBe(
      1_250,
    );
  });
});

describe('nextAttempt', () => {
  const p = policy({
    minDelayTarget: 5,
    maxDelayTarget: 260,
    numRetries: 10,
    backoffFunction: 'exponential',
  });
  const noJitter = { random: () => 0.5, jitter: 0 };

  it('schedules retry r after attempt r with the nominal delay, due at attempt end + delay', () => {
    expect(
      nextAttempt({
        policy: p,
        attemptsMade: 1,
        attemptEndedAtMs: 100_000,
        eligibleAtMs: 100_000,
        ...noJitter,
      }),
    ).toEqual({
      action: 'retry',
      retry: 1,
      delayMs: 5000,
      dueAtMs: 105_000,
    });
    expect(
      nextAttempt({
        policy: p,
        attemptsMade: 4,
        attemptEndedAtMs: 200_000,
        eligibleAtMs: 100_000,
        ...noJitter,
      }),
    ).toEqual({
      action: 'retry',
      retry: 4,
      delayMs: 40_000,
      dueAtMs: 240_000,
    });
  });

  it('walks the whole budget: 1 + N requests, then dead-letters', () => {
    let now = 0;
    const delays: number[] = [];
    let attempts = 1;
    for (;;) {
      const next = nextAttempt({
        policy: p,
        attemptsMade: attempts,
        attemptEndedAtMs: now,
        eligibleAtMs: 0,
        ...noJitter,
      });
      if (next.action === 'dead-letter') {
        expect(next.reason).toBe('retries-exhausted');
        break;
      }
      delays.push(next.delayMs);
      now = next.dueAtMs;
      attempts += 1;
    }
    expect(attempts).toBe(11);
    expect(delays).toEqual(retryDelaysMs(p));
  });

  it('applies jitter, then Retry-After', () => {
    const jittered = nextAttempt({
      policy: p,
      attemptsMade: 3,
      attemptEndedAtMs: 0,
      eligibleAtMs: 0,
      random: () => 0,
    });
    expect(jittered).toMatchObject({ action: 'retry', delayMs: 18_000 });
    const slowed = nextAttempt({
      policy: p,
      attemptsMade: 3,
      attemptEndedAtMs: 0,
      eligibleAtMs: 0,
      random: () => 0,
      retryAfterSeconds: 100,
    });
    expect(slowed).toEqual({ action: 'retry', retry: 3, delayMs: 100_000, dueAtMs: 100_000 });
  });

  it('dead-letters when the next attempt would fall past the lifetime', () => {
    const overCap = policy({ minDelayTarget: 1, maxDelayTarget: 2399, numRetries: 5, numNoDelayRetries: 1 });
    // Retries 1–4 fit (0, 1, 800.3, 1599.7 s: 2401 s); retry 5 (2399 s) would end past 3600 s.
    let now = 0;
    let attempts = 1;
    let last;
    for (;;) {
      last = nextAttempt({
        policy: overCap,
        attemptsMade: attempts,
        attemptEndedAtMs: now,
        eligibleAtMs: 0,
        ...noJitter,
      });
      if (last.action === 'dead-letter') break;
      now = last.dueAtMs;
      attempts += 1;
    }
    expect(last).toEqual({ action: 'dead-letter', reason: 'lifetime-exceeded' });
    expect(attempts).toBe(5);
    expect(now).toBe(2_401_000);
  });

  it('counts throttle and request time against the lifetime, and honours maxLifetimeSeconds', () => {
    const base = { policy: p, attemptsMade: 2, eligibleAtMs: 0, ...noJitter };
    // Retry 2 waits 10 s: ending the attempt at 3590 s puts it due at exactly 3600 s, still allowed.
    expect(nextAttempt({ ...base, attemptEndedAtMs: 3_590_000 })).toEqual({
      action: 'retry',
      retry: 2,
      delayMs: 10_000,
      dueAtMs: 3_600_000,
    });
    expect(nextAttempt({ ...base, attemptEndedAtMs: 3_590_001 })).toEqual({
      action: 'dead-letter',
      reason: 'lifetime-exceeded',
    });
    expect(nextAttempt({ ...base, attemptEndedAtMs: 3_590_001, maxLifetimeSeconds: 7200 }).action).toBe(
      'retry',
    );
    // The clock runs from eligibility, not from the first request: throttle waits before it count.
    expect(nextAttempt({ ...base, eligibleAtMs: 1000, attemptEndedAtMs: 3_591_000 }).action).toBe('retry');
    expect(nextAttempt({ ...base, eligibleAtMs: 1000, attemptEndedAtMs: 3_591_001 }).action).toBe(
      'dead-letter',
    );
    // A Retry-After pushing the retry past the lifetime dead-letters too.
    expect(nextAttempt({ ...base, attemptEndedAtMs: 3_500_000, retryAfterSeconds: 101 }).action).toBe(
      'dead-letter',
    );
  });

  it('rejects a nonsensical attempt count', () => {
    for (const attemptsMade of [0, -1, 1.5]) {
      try {
        nextAttempt({ policy: p, attemptsMade, attemptEndedAtMs: 0, eligibleAtMs: 0, ...noJitter });
        expect.unreachable();
      } catch (error) {
        expect(isTendrilError(error, 'TENDRIL_E_DELIVERY_POLICY')).toBe(true);
      }
    }
  });
});
