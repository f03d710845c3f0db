import { describe, expect, it } from 'vitest';
import { parseDeliveryPolicy, type DeliveryPolicy } from './policy.js';
import { nextAttempt } from './schedule.js';
import { throttleFor, TokenBucket, type Throttle } from './token-bucket.js';

/** A fake clock: the test moves time, the bucket only ever sees the numbers it is given. */
class FakeClock {
  constructor(public nowMs = 1_000_000) {}
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** Take tokens greedily over [now, now + durationMs], sleeping exactly `waitMs` whenever refused. */
function drain(
  bucket: Throttle,
  clock: FakeClock,
  durationMs: number,
): { granted: number[]; refusals: number } {
  const end = clock.nowMs + durationMs;
  const granted: number[] = [];
  let refusals = 0;
  while (clock.nowMs <= end) {
    const result = bucket.take(clock.nowMs);
    if (result.ok) granted.push(clock.nowMs);
    else {
      refusals += 1;
      expect(result.waitMs).toBeGreaterThan(0);
      clock.advance(result.waitMs);
    }
  }
  return { granted, refusals };
}

function policy(input: unknown): DeliveryPolicy {
  const result = parseDeliveryPolicy(input);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.policy;
}

describe('TokenBucket', () => {
  it('starts full: a burst of capacity = r requests, then one per 1/r s', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, clock.nowMs);
    expect(bucket.capacity).toBe(10);
    for (let i = 0; i < 10; i += 1) expect(bucket.take(clock.nowMs)).toEqual({ ok: true });
    expect(bucket.take(clock.nowMs)).toEqual({ ok: false, waitMs: 100 });
    clock.advance(99);
    expect(bucket.take(clock.nowMs)).toEqual({ ok: false, waitMs: 1 });
    clock.advance(1);
    expect(bucket.take(clock.nowMs)).toEqual({ ok: true });
  });

  it('has capacity max(1, r): rate 1 allows one request, then the next a second later', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1, clock.nowMs);
    expect(bucket.capacity).toBe(1);
    expect(bucket.take(clock.nowMs).ok).toBe(true);
    expect(bucket.take(clock.nowMs)).toEqual({ ok: false, waitMs: 1000 });
    clock.advance(400);
    expect(bucket.take(clock.nowMs)).toEqual({ ok: false, waitMs: 600 });
    // A fractional rate below 1 still holds one token.
    expect(new TokenBucket(0.5, 0).capacity).toBe(1);
  });

  it.each([1, 3, 7, 10, 50])('averages r = %d requests per second over a long run', (rate) => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(rate, clock.nowMs);
    const seconds = 120;
    const { granted } = drain(bucket, clock, seconds * 1000);
    // Exactly the initial burst plus r per second over the closed window: exact arithmetic, no drift.
    expect(granted.length).toBe(bucket.capacity + rate * seconds);
    // After the burst, any 1 s window holds at most r + 1 grants (an average, not a strict cap — but bounded).
    const steady = granted.slice(bucket.capacity);
    for (let i = 0; i + rate < steady.length; i += 1)
      expect(steady[i + rate]! - steady[i]!).toBeGreaterThanOrEqual(1000);
  });

  it('refills while idle, but never above capacity', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(5, clock.nowMs);
    drain(bucket, clock, 2000);
    clock.advance(60_000); // a minute idle refills only 5
    let burst = 0;
    while (bucket.take(clock.nowMs).ok) burst += 1;
    expect(burst).toBe(5);
    clock.advance(400); // 2 tokens back
    expect(bucket.take(clock.nowMs).ok).toBe(true);
    expect(bucket.take(clock.nowMs).ok).toBe(true);
    expect(bucket.take(clock.nowMs).ok).toBe(false);
  });

  it('a refused take changes nothing: asking often never pushes the wait out', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(2, clock.nowMs);
    bucket.take(clock.nowMs);
    bucket.take(clock.nowMs);
    const first = bucket.take(clock.nowMs);
    expect(first).toEqual({ ok: false, waitMs: 500 });
    for (let i = 0; i < 1000; i += 1) expect(bucket.take(clock.nowMs)).toEqual(first);
    clock.advance(500);
    expect(bucket.take(clock.nowMs)).toEqual({ ok: true });
  });

  it('tolerates a clock that steps backwards', () => {
    const bucket = new TokenBucket(1, 10_000);
    expect(bucket.take(10_000).ok).toBe(true);
    expect(bucket.take(9_000)).toEqual({ ok: false, waitMs: 2000 });
    expect(bucket.take(11_000).ok).toBe(true);
  });

  it('rejects a rate that is not positive', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new TokenBucket(rate, 0)).toThrow(
        expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
      );
    }
  });

  it('exposes nothing about retries or attempts', () => {
    const bucket = new TokenBucket(3, 0);
    const names = [...Object.keys(bucket), ...Object.getOwnPropertyNames(TokenBucket.prototype)];
    expect(names.filter((name) => /retr|attempt/i.test(name))).toEqual([]);
    expect(Object.getOwnPropertyNames(TokenBucket.prototype).sort()).toEqual(['constructor', 'take']);
  });
});

describe('throttleFor', () => {
  it('is a token bucket when maxReceivesPerSecond is set', () => {
    const throttle = throttleFor(policy({ throttlePolicy: { maxReceivesPerSecond: 4 } }), 0);
    expect(throttle).toBeInstanceOf(TokenBucket);
    expect((throttle as TokenBucket).ratePerSecond).toBe(4);
  });

  it('never refuses when the policy is unthrottled', () => {
    const throttle = throttleFor(policy({}), 0);
    for (let i = 0; i < 10_000; i += 1) expect(throttle.take(0)).toEqual({ ok: true });
  });
});

describe('throttle waits do not consume retries', () => {
  it('every delivery still gets exactly 1 + N requests, however long it waited for tokens', () => {
    // Five deliveries for one subscription, all failing (retryable), throttled to 1 request/s, no jitter.
    const p = policy({
      healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 4, numRetries: 4, numNoDelayRetries: 2 },
      throttlePolicy: { maxReceivesPerSecond: 1 },
    });
    const clock = new FakeClock(0);
    const bucket = throttleFor(p, clock.nowMs);
    type Pending = { id: number; attempts: number; dueAtMs: number; dead?: string };
    const deliveries: Pending[] = Array.from({ length: 5 }, (_, id) => ({ id, attempts: 0, dueAtMs: 0 }));
    let refusals = 0;
    for (;;) {
      const waiting = deliveries
        .filter((d) => d.dead === undefined)
        .sort((a, b) => a.dueAtMs - b.dueAtMs || a.id - b.id);
      const head = waiting[0];
      if (head === undefined) break;
      clock.nowMs = Math.max(clock.nowMs, head.dueAtMs);
      const token = bucket.take(clock.nowMs);
      if (!token.ok) {
        refusals += 1;
        clock.advance(token.waitMs); // waiting is not a failure: no attempt recorded
        continue;
      }
      head.attempts += 1; // a request is sent, and fails retryably
      const next = nextAttempt({
        policy: p,
        attemptsMade: head.attempts,
        attemptEndedAtMs: clock.nowMs,
        eligibleAtMs: 0,
        random: () => 0.5,
        jitter: 0,
      });
      if (next.action === 'dead-letter') head.dead = next.reason;
      else head.dueAtMs = next.dueAtMs;
    }
    expect(refusals).toBeGreaterThan(10);
    for (const d of deliveries) expect(d).toMatchObject({ attempts: 5, dead: 'retries-exhausted' });
    // 25 requests at 1/s with a burst of 1: the last one went out no earlier than 24 s in.
    expect(clock.nowMs).toBeGreaterThanOrEqual(24_000);
  });
});
