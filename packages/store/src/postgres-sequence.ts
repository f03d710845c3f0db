import type pg from 'pg';
import { TendrilError } from '@tendril/core';

/**
 * Reserves `count` consecutive event sequences of a connection and returns the first (with
 * `count` 0: the next free one, reserving nothing). The upsert takes the connection's
 * `connection_sequence` row lock until the transaction ends: a second process writing events for
 * the same connection waits here, then continues from the committed value, so two processes never
 * hand out one sequence. A connection's first sequence is `nowMs × 1000`, as in the SQLite store.
 */
export async function allocateSequences(
  client: pg.PoolClient,
  connectionId: string,
  count: number,
  nowMs: number,
): Promise<number> {
  const { rows } = await client.query<{ last_sequence: number }>(
    `INSERT INTO connection_sequence AS s (connection_id, last_sequence) VALUES ($1, $2::bigint + $3::bigint)
     ON CONFLICT (connection_id) DO UPDATE SET last_sequence = s.last_sequence + $3::bigint
     RETURNING last_sequence`,
    [connectionId, nowMs * 1000 - 1, count],
  );
  const last = rows[0]!.last_sequence;
  if (!Number.isSafeInteger(last)) {
    throw new TendrilError(
      'TENDRIL_E_STORE',
      'The event sequence left the safe integer range; the store is corrupt, rebuild it.',
      {
        retryable: false,
        details: { connectionId },
      },
    );
  }
  return last - count + 1;
}
