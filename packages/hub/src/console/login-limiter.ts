/**
 * Failed console log-ins per e-mail address and per client address, in a sliding window (docs/hub.md,
 * "The console"). Over the limit, the log-in is refused before the password is even checked, so a
 * brute force costs the attacker the window, not the hub a scrypt per guess. Kept per node.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Milliseconds until another attempt is allowed for any of these keys; 0 when allowed now. */
  blockedFor(keys: readonly string[], now: number): number {
    let wait = 0;
    for (const key of keys) {
      const list = this.#recent(key, now);
      if (list.length >= this.maxFailures) wait = Math.max(wait, list[0]! + this.windowMs - now);
    }
    return wait;
  }

  fail(keys: readonly string[], now: number): void {
    for (const key of keys) this.#failures.set(key, [...this.#recent(key, now), now]);
    // Bounded memory: forget the oldest keys when an attack spreads over very many.
    if (this.#failures.size > 100_000) {
      const first = this.#failures.keys().next().value;
      if (first !== undefined) this.#failures.delete(first);
    }
  }

  succeed(key: string): void {
    this.#failures.delete(key);
  }
}
