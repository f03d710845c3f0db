import { TendrilError } from '@tendril/core';
import type { DeliveryPolicy } from './policy.js';

/** The result of asking for a token: go now, or come back after `waitMs`. */
export type TakeResult = { ok: true } | { ok: false; waitMs: number };

/**
 * Anything that rations requests for one subscription. It knows nothing about retries: a denied
 * `take` is not a failure and must not be counted as an attempt (docs/delivery.md, "Throttling").
 */
export interface Throttle {
  take(nowMs: number): TakeResult;
}

/**
 * Per-subscription token bucket (docs/delivery.md, "Throttling"): refills `ratePerSecond` tokens per second
 * up to a capacity of max(1, rate), and every request (first attempt or retry) takes one. It bounds the
 * average rate, allowing a burst of `capacity` after a quiet period; it is not a strict per-second cap.
 *
 * Implemented as its equivalent "next free slot" form (GCRA): the only state is the theoretical time
 * at which the bucket would be full again, which is also what a database-backed bucket stores in its
 * one row per subscription. Times are kept multiplied by the rate so integer rates and integer
 * millisecond clocks give exact arithmetic, with no drift over long runs. The clock is injected:
 * every call passes `nowMs`, so the bucket is deterministic under test.
 */
export class TokenBucket implements Throttle {
  readonly ratePerSecond: number;
  readonly capacity: number;
  /** Theoretical arrival time × rate: when the next token is "owed", in ms·(tokens/s). */
  private scaledTat: number;

  /** `nowMs` is when the bucket is created; it starts full. */
  constructor(ratePerSecond: number, nowMs: number) {
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
      throw new TendrilError(
        'TENDRIL_E_DELIVERY_POLICY',
        `throttlePolicy.maxReceivesPerSecond must be a positive number (got ${ratePerSecond}); omit it for no throttling.`,
      );
    }
    this.ratePerSecond = ratePerSecond;
    this.capacity = Math.max(1, ratePerSecond);
    this.scaledTat = nowMs * ratePerSecond;
  }

  /**
   * Take one token at `nowMs`. On refusal nothing changes, so asking again (or asking often) never
   * pushes the wait further out; `waitMs` is rounded up so that asking again after it succeeds.
   */
  take(nowMs: number): TakeResult {
    // One token = 1000 ms·(tokens/s) in scaled units; a full bucket lets the TAT run (capacity − 1) tokens ahead.
    const scaledNow = nowMs * this.ratePerSecond;
    const tat = Math.max(this.scaledTat, scaledNow);
    const excess = tat - scaledNow - (this.capacity - 1) * 1000;
    if (excess > 0) return { ok: false, waitMs: Math.ceil(excess / this.ratePerSecond) };
    this.scaledTat = tat + 1000;
    return { ok: true };
  }
}

const UNTHROTTLED: Throttle = Object.freeze({ take: (): TakeResult => ({ ok: true }) });

/**
 * The throttle a subscription's policy asks for: a {@link TokenBucket} when
 * `throttlePolicy.maxReceivesPerSecond` is set, otherwise one that always says go.
 */
export function throttleFor(policy: DeliveryPolicy, nowMs: number): Throttle {
  const rate = policy.throttlePolicy.maxReceivesPerSecond;
  return rate === undefined ? UNTHROTTLED : new TokenBucket(rate, nowMs);
}
