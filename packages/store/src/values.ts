import { TendrilError } from '@tendril/core';

/**
 * Values crossing the store boundary: input checks (each a store error naming the field and the
 * fix) and the decoding of columns the two backends return differently (tables.ts).
 */

/** A flag column: 0/1 in SQLite, a boolean in PostgreSQL. */
export function flag(value: number | boolean): boolean {
  return value === true || value === 1;
}

/** A JSON column: text in SQLite, already parsed in PostgreSQL. */
export function parsed<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** A flag to write: 0/1 (PostgreSQL reads `'1'`/`'0'` into a boolean column). */
export function bit(value: boolean): number {
  return value ? 1 : 0;
}

export function badInput(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_STORE', message, { retryable: false, details });
}

/** A relay cursor about to be stored: a non-negative safe integer, or a store error naming it. */
export function relaySequence(sequence: number): number {
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw badInput('a relay sequence must be a non-negative safe integer.', { sequence });
  }
  return sequence;
}

/** Instants are stored in `toISOString()` form (text order is time order; timestamptz on PostgreSQL). */
export function toInstant(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw badInput(`${field} is not an ISO instant; pass a value such as new Date().toISOString().`, {
      field,
    });
  }
  return new Date(ms).toISOString();
}

/** A business date bound: `YYYY-MM-DD`, compared as text (which is date order). */
export function toDay(value: string, field: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw badInput(`businessDate.${field} must be a day of the form YYYY-MM-DD.`, { field });
  }
  return value;
}

export function toLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) {
    throw badInput('limit must be a non-negative integer.', { limit });
  }
  return limit;
}

export function toMs(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw badInput(`${field} must be whole epoch milliseconds (Date.now()).`, { field });
  }
  return value;
}

export function toCount(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw badInput(`${field} must be a non-negative integer.`, { field });
  }
  return value;
}
