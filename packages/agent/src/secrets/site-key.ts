import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { TendrilError } from '@tendril/core';

/** Prefix of a site secret key: recognisable in a password manager, and by secret scanners. */
export const SITE_KEY_PREFIX = 'tsk_';
/** Environment variable holding the site key itself. */
export const SITE_KEY_ENV = 'TENDRIL_SITE_KEY';
/** Environment variable naming a file (mode 0600) that holds the site key. */
export const SITE_KEY_FILE_ENV = 'TENDRIL_SITE_KEY_FILE';

const KEY_BYTES = 32;
const SITE_KEY_PATTERN = /^tsk_([A-Za-z0-9_-]{43})$/;

/**
 * Creates a site's secret key: `tsk_` + base64url of 32 random bytes. `tendril init` shows it once;
 * it is the only thing that can decrypt the site's `secrets.enc`.
 */
export function generateSiteKey(): string {
  return `${SITE_KEY_PREFIX}${randomBytes(KEY_BYTES).toString('base64url')}`;
}

/** The key's 32 bytes; a malformed key is an error that never echoes the value. */
export function parseSiteKey(text: string): Buffer {
  const match = SITE_KEY_PATTERN.exec(text.trim());
  const bytes = match ? Buffer.from(match[1]!, 'base64url') : undefined;
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `the site key is malformed: it is "${SITE_KEY_PREFIX}" followed by 43 letters, digits, - or _ (as \`tendril init\` showed it); check for a missing character or extra spaces`,
    );
  }
  return bytes;
}

/** Where the key came from, for messages (never the key). */
export type SiteKeySource = { readonly kind: 'env' } | { readonly kind: 'file'; readonly path: string };

/**
 * Finds the site key: `TENDRIL_SITE_KEY`, else the file named by `TENDRIL_SITE_KEY_FILE`. A key
 * file readable by group or others is refused on POSIX systems (chmod 600), as ssh does with private
 * keys. Returns undefined when neither is set.
 */
export async function loadSiteKey(
  env: NodeJS.ProcessEnv,
): Promise<{ key: Buffer; source: SiteKeySource } | undefined> {
  const direct = env[SITE_KEY_ENV];
  if (direct !== undefined && direct !== '') return { key: parseSiteKey(direct), source: { kind: 'env' } };
  const path = env[SITE_KEY_FILE_ENV];
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const info = await stat(path);
      if ((info.mode & 0o077) !== 0) {
        throw new TendrilError(
          'TENDRIL_E_SECRETS',
          `the site key file ${path} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
        );
      }
    }
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (cause instanceof TendrilError) throw cause;
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `cannot read the site key file ${path} (${SITE_KEY_FILE_ENV}); check the path and that the service's user may read it`,
      { cause },
    );
  }
  return { key: parseSiteKey(text), source: { kind: 'file', path } };
}
