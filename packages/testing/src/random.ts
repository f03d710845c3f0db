/**
 * A small seeded pseudo-random generator for test data.
 *
 * Why not `Math.random`: test data has to be reproducible — the same seed must give byte-identical
 * rows on every machine and every Node version, so a failing scenario can be replayed. The generator
 * is sfc32 (Chris Doty-Humphrey's "small fast chaotic" PRNG, public domain), seeded through the
 * cyrb128 string hash. Both use only 32-bit integer arithmetic (`Math.imul`, `>>> 0`), which
 * ECMAScript specifies exactly, and floats are built by one exact division by 2^32, so the
 * sequence does not depend on the engine. It is NOT cryptographically secure.
 */

/** A seed: any string or a finite number (numbers are hashed through their decimal text). */
export type Seed = string | number;

/** A weighted choice: `[value, weight]` with a non-negative weight. */
export type Weighted<T> = readonly [value: T, weight: number];

const TWO_POW_32 = 4_294_967_296;
const DAY_MS = 86_400_000;

/** cyrb128: hashes a string into four 32-bit words (public domain, bryc). */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

function seedText(seed: Seed): string {
  if (typeof seed === 'number') {
    if (!Number.isFinite(seed)) throw new RangeError('random seed must be a finite number or a string');
    return `n:${String(seed)}`;
  }
  return `s:${seed}`;
}

/**
 * A deterministic random stream. Every helper consumes a fixed number of draws, so two streams
 * created from the same seed stay in lock step as long as they are asked the same questions.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The text the stream was seeded from, so {@link fork} can derive independent sub-streams. */
  readonly seedText: string;

  constructor(seed: Seed) {
    this.seedText = seedText(seed);
    [this.a, this.b, this.c, this.d] = cyrb128(this.seedText);
    // Discard the first outputs: sfc32 mixes poorly for the first few rounds.
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** The next unsigned 32-bit integer. */
  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1), exact multiples of 2^-32. */
  next(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** An integer in [min, max], both inclusive. The range must hold at most 2^32 values. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError('int(min, max) needs integers with min <= max');
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p` (0 ≤ p ≤ 1). */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() needs a non-empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** One value, with probability proportional to its weight. */
  weighted<T>(entries: readonly Weighted<T>[]): T {
    let total = 0;
    for (const [, weight] of entries) {
      if (!(weight >= 0)) throw new RangeError('weighted() needs non-negative weights');
      total += weight;
    }
    if (total <= 0) throw new RangeError('weighted() needs at least one positive weight');
    let target = this.next() * total;
    for (const [value, weight] of entries) {
      if (target < weight) return value;
      target -= weight;
    }
    // Rounding can leave target a hair above the last weight: fall back to the last positive entry.
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as Weighted<T>;
      if (entry[1] > 0) return entry[0];
    }
    throw new RangeError('weighted() needs at least one positive weight');
  }

  /**
   * A UTC instant in [start, end), on a whole-millisecond grid. With `{ day: true }` the result
   * is a UTC midnight between the two dates' UTC days (both inclusive).
   */
  dateBetween(start: Date, end: Date, options: { readonly day?: boolean } = {}): Date {
    const from = start.getTime();
    const to = end.getTime();
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) {
      throw new RangeError('dateBetween(start, end) needs valid dates with start <= end');
    }
    if (options.day) {
      const first = Math.floor(from / DAY_MS);
      const last = Math.floor(to / DAY_MS);
      return new Date(this.int(first, last) * DAY_MS);
    }
    if (to === from) return new Date(from);
    // Two draws give 64 bits, enough for any span of dates without bias worth caring about.
    const fraction = (this.uint32() * TWO_POW_32 + this.uint32()) / (TWO_POW_32 * TWO_POW_32);
    return new Date(from + Math.floor(fraction * (to - from)));
  }

  /**
   * An independent stream derived from this one's seed and a label. Use one fork per concern
   * (reference data, patients, edits) so adding a draw to one concern does not shift the others.
   */
  fork(label: string): Random {
    return new Random(`${this.seedText}/${label}`);
  }
}

/** Creates a deterministic random stream for a seed. */
export function createRandom(seed: Seed): Random {
  return new Random(seed);
}
