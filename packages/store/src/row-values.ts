import { TendrilError } from '@tendril/core';

/**
 * How the two store backends return the same columns: SQLite stores booleans as 0/1 and JSON as
 * text; PostgreSQL returns booleans and lets the driver parse `json`/`jsonb` columns.
 */

/** A boolean column: 0/1 in SQLite, a boolean in PostgreSQL. */
export function flag(value: number | boolean): boolean {
  return value === true || value === 1;
}

/** A JSON column: text in SQLite, already parsed in PostgreSQL. */
export function parsed<T>(value: string | T): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

/** A relay cursor about to be stored: a non-negative safe integer, or a store error naming it. */
export function relaySequence(sequence: number): number {
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new TendrilError('TENDRIL_E_STORE', 'a relay sequence must be a non-negative safe integer.', {
      retryable: false,
      details: { sequence },
    });
  }
  return sequence;
}
