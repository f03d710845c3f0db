import { describe, expect, it } from 'vitest';
import { cellText } from './cell-text.js';

describe('cellText', () => {
  it('is what String() makes of a database value, so ids and hashes built from it never change', () => {
    for (const value of ['Ann ', 42, 0, 12345678901234567890n, true, new Date(0), Buffer.from('Zoë')])
      expect(cellText(value)).toBe(String(value));
  });

  it('is empty for null and undefined, and JSON (never [object Object]) for objects and arrays', () => {
    expect(cellText(null)).toBe('');
    expect(cellText(undefined)).toBe('');
    expect(cellText({ code: 'E1' })).toBe('{"code":"E1"}');
    expect(cellText(['a', 1])).toBe('["a",1]');
  });
});
