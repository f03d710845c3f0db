/** Give up after more than `maxRestarts` unplanned restarts inside any `windowMs`. */
export interface CrashLoopPolicy {
  readonly maxRestarts: number;
  readonly windowMs: number;
}

export const DEFAULT_CRASH_LOOP: CrashLoopPolicy = { maxRestarts: 5, windowMs: 10 * 60_000 };

/**
 * Sliding window of unplanned restarts. A child that keeps dying (bad upgrade, disk full) would
 * otherwise restart forever and bury the one useful log line; after the limit the supervisor stops
 * and exits with a clear error so the service manager and a person take over.
 */
export class CrashLoopDetector {
  private readonly times: number[] = [];

  constructor(private readonly policy: CrashLoopPolicy) {}

  /** Records a failure at `now`; true when this failure exceeds the limit. */
  recordFailure(now: number): boolean {
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.policy.windowMs) this.times.shift();
    return this.times.length > this.policy.maxRestarts;
  }

  /** Failures inside the current window. */
  count(now: number): number {
    return this.times.filter((t) => t > now - this.policy.windowMs).length;
  }
}
