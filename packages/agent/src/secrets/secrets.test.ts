import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateRawConfig } from '../config-file.js';
import { decryptSecrets, encryptSecrets, writeSecretsFile } from './secrets-file.js';
import { generateSiteKey, loadSiteKey, parseSiteKey } from './site-key.js';

const PASSWORD = 'Pa55-word-that-must-not-leak';

describe('site key', () => {
  it('is tsk_ + base64url of 32 random bytes, and parses back', () => {
    const key = generateSiteKey();
    expect(key).toMatch(/^tsk_[A-Za-z0-9_-]{43}$/);
    expect(parseSiteKey(key)).toHaveLength(32);
    expect(generateSiteKey()).not.toBe(key);
    expect(() => parseSiteKey(key.slice(0, -1))).toThrowError(/malformed/);
  });

  it('is read from TENDRIL_SITE_KEY or a 0600 file; a group-readable file is refused', async () => {
    const key = generateSiteKey();
    expect((await loadSiteKey({ TENDRIL_SITE_KEY: key }))?.source).toEqual({ kind: 'env' });
    const dir = mkdtempSync(join(tmpdir(), 'tendril-key-'));
    const file = join(dir, 'site.key');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    expect((await loadSiteKey({ TENDRIL_SITE_KEY_FILE: file }))?.key.equals(parseSiteKey(key))).toBe(true);
    chmodSync(file, 0o644);
    await expect(loadSiteKey({ TENDRIL_SITE_KEY_FILE: file })).rejects.toThrowError(/chmod 600/);
    expect(await loadSiteKey({})).toBeUndefined();
  });
});

describe('secrets.enc', () => {
  it('round-trips, and holds no plain text', () => {
    const key = parseSiteKey(generateSiteKey());
    const text = encryptSecrets(key, { 'main.db-password': PASSWORD });
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(decryptSecrets(key, text)).toEqual({ 'main.db-password': PASSWORD });
  });

  it('tells a wrong key from a tampered file, never echoing a value', () => {
    const key = parseSiteKey(generateSiteKey());
    const text = encryptSecrets(key, { a: PASSWORD });
    expect(() => decryptSecrets(parseSiteKey(generateSiteKey()), text)).toThrowError(/different site key/);
    const envelope = JSON.parse(text) as { ciphertext: string };
    const bytes = Buffer.from(envelope.ciphertext, 'base64');
    bytes[0] = bytes[0]! ^ 1;
    const tampered = JSON.stringify({ ...envelope, ciphertext: bytes.toString('base64') });
    expect(() => decryptSecrets(key, tampered)).toThrowError(/integrity check/);
  });
});

describe('${secret:NAME} in the config', () => {
  const raw = (password: string) => ({
    store: { sqlite: ':memory:' },
    connections: [
      {
        id: 'main',
        connector: 'open-dental',
        timezone: 'America/New_York',
        database: { dialect: 'mysql', host: '127.0.0.1', user: 'reader', password },
      },
    ],
  });

  it('is resolved from secrets.enc with the site key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-secret-config-'));
    const key = generateSiteKey();
    const secretsFile = join(dir, 'secrets.enc');
    await writeSecretsFile(secretsFile, parseSiteKey(key), { 'main.db-password': PASSWORD });
    expect(readFileSync(secretsFile, 'utf8')).not.toContain(PASSWORD);
    const config = await validateRawConfig(
      't.yaml',
      raw('${secret:main.db-password}'),
      { TENDRIL_SITE_KEY: key },
      { secretsFile },
    );
    expect(config.connections[0]!.database).toMatchObject({ password: PASSWORD });
  });

  it('lists a missing key, a wrong key and a missing secret as config problems, without values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-secret-config-'));
    const key = generateSiteKey();
    const secretsFile = join(dir, 'secrets.enc');
    await writeSecretsFile(secretsFile, parseSiteKey(key), { 'main.db-password': PASSWORD });
    const failure = async (value: string, env: NodeJS.ProcessEnv) => {
      try {
        await validateRawConfig('t.yaml', { ...raw(value), logLevel: 'loud' }, env, { secretsFile });
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected a config error');
    };
    const noKey = await failure('${secret:main.db-password}', {});
    expect(noKey).toMatch(/connections\.0\.database\.password: uses \$\{secret:…\} but no site key/);
    expect(noKey).toMatch(/logLevel/); // listed with the other problems
    expect(await failure('${secret:main.db-password}', { TENDRIL_SITE_KEY: generateSiteKey() })).toMatch(
      /different site key/,
    );
    const missing = await failure('${secret:other}', { TENDRIL_SITE_KEY: key });
    expect(missing).toMatch(/secret "other" is not in .*names there: main\.db-password/);
    for (const message of [noKey, missing]) expect(message).not.toContain(PASSWORD);
  });
});
