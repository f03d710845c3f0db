import { TendrilError, type Row } from '@tendril/core';
import type { CursorPosition } from '@tendril/store';
import { comparePosition } from './key-order.js';

export interface PageReadOptions {
  /** Position after which the first page starts (a resumed poll), if any. */
  readonly start?: CursorPosition;
  readonly pageSize: number;
  readonly positionOf: (row: Row) => CursorPosition;
  /** Names the stream and table in the error raised when a page does not advance. */
  readonly describe: string;
  /**
   * Orders two positions; default {@link comparePosition} (date-time cursor text, then key).
   * Change-tracking versions and rowversions bring their own order.
   */
  readonly compare?: (a: CursorPosition, b: CursorPosition) => number;
}

/**
 * Reads keyset pages one ahead: the next page's query is already running while the caller maps
 * and commits the current one, so the database and the agent work at the same time. Only one page
 * is ever held beyond the one being processed, so memory stays flat. A page that ends at or before
 * the previous page's position stops the read (looping is worse than stopping).
 */
export async function* readPages(
  fetch: (after: CursorPosition | undefined) => Promise<Row[]>,
  options: PageReadOptions,
): AsyncGenerator<{ rows: Row[]; last: CursorPosition }> {
  let after = options.start;
  let pending: Promise<Row[]> | undefined = fetch(after);
  while (pending) {
    const rows = await pending;
    pending = undefined;
    if (rows.length === 0) return;
    const last = options.positionOf(rows[rows.length - 1]!);
    if (after && (options.compare ?? comparePosition)(last, after) <= 0) {
      throw new TendrilError(
        'TENDRIL_E_CURSOR_NOT_ADVANCING',
        `${options.describe}: a page ended at or before the previous page's key; stopping instead of looping. Check that the key columns are unique.`,
        { details: { where: options.describe } },
      );
    }
    after = last;
    if (rows.length >= options.pageSize) {
      pending = fetch(last);
      // If the caller stops early (an error while committing), the read-ahead must not surface as unhandled.
      pending.catch(() => undefined);
    }
    yield { rows, last };
  }
}
