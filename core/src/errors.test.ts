import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, TendrilError, WARNING_CATALOG } from './errors.js';

describe('error catalog', () => {
  it('is documented code by code in docs/errors.md, with the same retryable flag', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
      const row = page.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      expect(row!.split('|')[2]!.trim(), code).toBe(entry.retryable ? 'yes' : 'no');
    }
  });

  it('documents every warning code in the "Warning codes" table of docs/errors.md', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const section = page.slice(page.indexOf('## Warning codes'));
    expect(section.length).toBeGreaterThan(20);
    for (const code of Object.keys(WARNING_CATALOG)) {
      expect(code).toMatch(/^TENDRIL_W_[A-Z_]+$/);
      expect(
        section.split('\n').some((line) => line.startsWith(`| \`${code}\` |`)),
        code,
      ).toBe(true);
    }
  });

  it('keeps code, retryable and cause', () => {
    const cause = new Error('driver said no');
    const error = new TendrilError('TENDRIL_E_DB_AUTH', 'login refused; check the password', { cause });
    expect(error.code).toBe('TENDRIL_E_DB_AUTH');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: 'TENDRIL_E_DB_AUTH', retryable: true });
  });
});
