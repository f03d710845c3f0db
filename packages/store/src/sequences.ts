import type { Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import { Prepared } from './prepared.js';
import type { StoreTables } from './tables.js';

const RESERVE = new Prepared<
  { connectionId: string; first: number; count: number },
  { last_sequence: number }
>((db, q) =>
  db
    .insertInto('connection_sequence')
    .values({ connection_id: q.param('connectionId'), last_sequence: q.param('first') })
    .onConflict((oc) =>
      oc.column('connection_id').doUpdateSet((eb) => ({
        last_sequence: eb('connection_sequence.last_sequence', '+', q.param('count')),
      })),
    )
    .returning('last_sequence'),
);

/**
 * Reserves `count` consecutive event sequences of a connection and returns the first (with
 * `count` 0: the next free one, reserving nothing). Runs inside the caller's transaction, which
 * holds the counter until it ends — PostgreSQL's row lock on the connection's
 * `connection_sequence` row, SQLite's write lock on the file — so two processes never hand out one
 * sequence and a failed transaction uses none. A connection's first sequence is `nowMs × 1000`.
 */
export async function allocateSequences(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  connectionId: string,
  count: number,
  nowMs: number,
): Promise<number> {
  const { rows } = await RESERVE.run(db, dialect, { connectionId, first: nowMs * 1000 - 1 + count, count });
  const last = Number(rows[0]!.last_sequence);
  if (!Number.isSafeInteger(last)) {
    throw new TendrilError(
      'TENDRIL_E_STORE',
      'The event sequence left the safe integer range; the store is corrupt, rebuild it.',
      { retryable: false, details: { connectionId } },
    );
  }
  return last - count + 1;
}
