/**
 * The text of a value read from a database row or a parsed JSON body, for comparing, keying and
 * messages. Null and undefined are the empty string; strings, numbers, bigints, booleans, dates
 * and byte buffers (a binary-collated column) are what `String()` makes of them, so that ids and
 * hashes computed from this text never change; anything else (an object or array a driver or a
 * JSON body returned) is its JSON, never "[object Object]".
 */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Date || value instanceof Uint8Array) return String(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return '';
}
