/** Restart delays: exponential from `initialMs`, capped at `maxMs` (no jitter: one child per host). */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Growth per consecutive failure; default 2. */
  readonly factor?: number;
  /**
   * A child that stayed up this long counts as healthy: the next failure starts again at
   * `initialMs`. Default: 60 s.
   */
  readonly resetAfterMs?: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 60_000,
  factor: 2,
  resetAfterMs: 60_000,
};

/** The delay before restart number `consecutiveFailures` (1 = the first restart after a healthy run). */
export function backoffDelay(policy: BackoffPolicy, consecutiveFailures: number): number {
  const exponent = Math.max(0, consecutiveFailures - 1);
  const delay = policy.initialMs * (policy.factor ?? 2) ** exponent;
  return Math.min(policy.maxMs, Math.round(delay));
}
