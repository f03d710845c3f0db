import { TendrilError } from '@tendril/core';
import type { DeliveryPolicy, HealthyRetryPolicy } from './delivery-policy.js';

/** The default jitter fraction j: actual delays spread ±10 % around the nominal one. */
export const DEFAULT_JITTER = 0.1;

const DEFAULT_LIFETIME_SECONDS = 3600;

/**
 * B(k) for backoff retry k of n (docs/delivery.md, "Delivery policy"), in seconds, unrounded. All four curves
 * start at m, end at M, never decrease and are constant when m = M.
 */
function backoffSeconds(k: number, n: number, retry: HealthyRetryPolicy): number {
  const m = retry.minDelayTarget;
  const M = retry.maxDelayTarget;
  // The endpoints are exact by definition (B(1) = m, B(n) = M); floating point would otherwise give
  // e.g. 3599.9999999999986 for the last exponential step.
  if (k === 1) return m;
  if (k === n) return M;
  const x = (k - 1) / (n - 1);
  switch (retry.backoffFunction) {
    case 'linear':
      return m + (M - m) * x;
    case 'arithmetic':
      return m + ((M - m) * k * (k - 1)) / (n * (n - 1));
    case 'geometric':
      return m * (M / m) ** x;
    case 'exponential': {
      const ratio = Math.max(2, (M / m) ** (1 / (n - 1)));
      return Math.min(M, m * ratio ** (k - 1));
    }
    default:
      return retry.backoffFunction satisfies never;
  }
}

/**
 * The nominal delay in seconds before each retry 1..N, unrounded: no-delay, min-delay, backoff and
 * max-delay phases in that order. Policy validation sums these (not the rounded values) so that the
 * verdict on the lifetime does not depend on rounding.
 */
export function nominalRetryDelaysSeconds(retry: HealthyRetryPolicy): number[] {
  const a = retry.numNoDelayRetries;
  const b = retry.numMinDelayRetries;
  const n = retry.numRetries - a - b - retry.numMaxDelayRetries;
  const delays: number[] = [];
  for (let r = 1; r <= retry.numRetries; r += 1) {
    if (r <= a) delays.push(0);
    else if (r <= a + b) delays.push(retry.minDelayTarget);
    else if (r <= a + b + n) delays.push(backoffSeconds(r - a - b, n, retry));
    else delays.push(retry.maxDelayTarget);
  }
  return delays;
}

/**
 * The nominal delay before each retry 1..N (index 0 is retry 1), in milliseconds rounded to the
 * nearest ms, before jitter and Retry-After. The array's length is the retry budget: an event gets
 * at most 1 + length requests.
 */
export function retryDelaysMs(policy: DeliveryPolicy): number[] {
  return nominalRetryDelaysSeconds(policy.healthyRetryPolicy).map((seconds) => Math.round(seconds * 1000));
}

/**
 * Spread a nominal delay D: clamp(D·(1 + j·(2U − 1)), m, M), rounded to the ms, so that receivers
 * recovering from an outage are not hit by every retry at once. A zero delay (no-delay phase) stays
 * zero. `random` must return U uniform in [0, 1); tests pass `jitter = 0` or a fixed source.
 */
export function jitteredDelayMs(
  delayMs: number,
  policy: DeliveryPolicy,
  random: () => number,
  jitter: number = DEFAULT_JITTER,
): number {
  if (!(jitter >= 0 && jitter < 1)) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      `The delivery jitter must be at least 0 and below 1 (got ${jitter}); use 0.1.`,
    );
  }
  if (delayMs === 0) return 0;
  const u = random();
  if (!(u >= 0 && u < 1)) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      'The random source must return a number in [0, 1); pass Math.random or a seeded generator.',
    );
  }
  const minMs = policy.healthyRetryPolicy.minDelayTarget * 1000;
  const maxMs = policy.healthyRetryPolicy.maxDelayTarget * 1000;
  const spread = delayMs * (1 + jitter * (2 * u - 1));
  return Math.round(Math.min(maxMs, Math.max(minMs, spread)));
}

/**
 * Honour a receiver's `Retry-After` (429 or 503): delay = max(D, min(Retry-After, M)). A receiver can
 * slow Tendril down up to the policy's maximum delay but never speed it up; the attempt still counts
 * as a retry. `undefined` (no or unparseable header) leaves D unchanged.
 */
export function applyRetryAfter(
  delayMs: number,
  retryAfterSeconds: number | undefined,
  policy: DeliveryPolicy,
): number {
  if (retryAfterSeconds === undefined || !Number.isFinite(retryAfterSeconds)) return delayMs;
  const asked = Math.max(0, retryAfterSeconds) * 1000;
  const maxMs = policy.healthyRetryPolicy.maxDelayTarget * 1000;
  return Math.round(Math.max(delayMs, Math.min(asked, maxMs)));
}

/**
 * True when the next attempt would start past the delivery lifetime:
 * (now − eligibleAt) + next delay > maxLifetimeSeconds. The clock starts when the delivery first
 * became eligible (head of its key and due), so time spent waiting on the throttle counts.
 */
export function lifetimeExceeded(
  eligibleAtMs: number,
  nowMs: number,
  nextDelayMs: number,
  maxLifetimeSeconds: number = DEFAULT_LIFETIME_SECONDS,
): boolean {
  return nowMs - eligibleAtMs + nextDelayMs > maxLifetimeSeconds * 1000;
}

/**
 * When an attempt counts as having ended, for scheduling the next one: a timed-out attempt ends at
 * its start + `timeoutSeconds`, whatever the local clock said when the timeout fired.
 */
export function attemptEndMs(attempt: {
  startedAtMs: number;
  endedAtMs: number;
  timedOut: boolean;
  timeoutSeconds: number;
}): number {
  return attempt.timedOut ? attempt.startedAtMs + attempt.timeoutSeconds * 1000 : attempt.endedAtMs;
}

/** Why a delivery stops being retried after a retryable failure. */
export const DEAD_LETTER_REASONS = {
  retriesExhausted: 'retries-exhausted',
  lifetimeExceeded: 'lifetime-exceeded',
} as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[keyof typeof DEAD_LETTER_REASONS];

/** The decision after a retryable failure: retry at `dueAtMs`, or dead-letter. */
export type NextAttempt =
  | { action: 'retry'; retry: number; delayMs: number; dueAtMs: number }
  | { action: 'dead-letter'; reason: DeadLetterReason };

export interface NextAttemptInput {
  policy: DeliveryPolicy;
  /** Requests already sent for this delivery, the first attempt included (so at least 1). */
  attemptsMade: number;
  /** End of the failed attempt (see {@link attemptEndMs}); also "now" for the lifetime check. */
  attemptEndedAtMs: number;
  /** When the delivery first became eligible (head of its key and due). */
  eligibleAtMs: number;
  /** Parsed `Retry-After` seconds, passed only for 429 and 503 responses. */
  retryAfterSeconds?: number;
  random: () => number;
  jitter?: number;
  maxLifetimeSeconds?: number;
}

/**
 * Decide what follows a retryable failure (docs/delivery.md, "Delivery policy", run-time rules): the nominal
 * delay for the next retry, jittered, raised by Retry-After, then checked against the retry budget and the
 * lifetime. Permanent failures never come here; they are dead-lettered at once. Throttle waits are not
 * attempts, so the caller counts only requests actually sent in `attemptsMade`.
 */
export function nextAttempt(input: NextAttemptInput): NextAttempt {
  if (!Number.isInteger(input.attemptsMade) || input.attemptsMade < 1) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      `attemptsMade must be a whole number of requests sent, at least 1 (got ${input.attemptsMade}).`,
    );
  }
  const delays = retryDelaysMs(input.policy);
  const retry = input.attemptsMade;
  const nominal = delays[retry - 1];
  if (nominal === undefined) return { action: 'dead-letter', reason: DEAD_LETTER_REASONS.retriesExhausted };
  const jittered = jitteredDelayMs(nominal, input.policy, input.random, input.jitter);
  const delayMs = applyRetryAfter(jittered, input.retryAfterSeconds, input.policy);
  if (lifetimeExceeded(input.eligibleAtMs, input.attemptEndedAtMs, delayMs, input.maxLifetimeSeconds)) {
    return { action: 'dead-letter', reason: DEAD_LETTER_REASONS.lifetimeExceeded };
  }
  return { action: 'retry', retry, delayMs, dueAtMs: input.attemptEndedAtMs + delayMs };
}
