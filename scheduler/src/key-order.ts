import { compareCursor } from '@tendril/sql';
import type { CursorPosition } from '@tendril/store';

const INTEGER = /^-?\d+$/;

/** Compares key components as the database orders them: integers numerically (even past 2^53), text as text. */
export function compareKeyComponent(a: string, b: string): number {
  if (INTEGER.test(a) && INTEGER.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders two keyset positions by (cursor, key…). */
export function comparePosition(a: CursorPosition, b: CursorPosition): number {
  if (a.cursor !== undefined && b.cursor !== undefined) {
    const byCursor = compareCursor(a.cursor, b.cursor);
    if (byCursor !== 0) return byCursor;
  }
  for (let i = 0; i < Math.max(a.key.length, b.key.length); i++) {
    const byKey = compareKeyComponent(a.key[i] ?? '', b.key[i] ?? '');
    if (byKey !== 0) return byKey;
  }
  return 0;
}
