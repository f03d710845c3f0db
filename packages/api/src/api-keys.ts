import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, WritebackStore } from '@tendril/store';

/** `tdk_<16 hex id>_<43 base64url secret>`: the id finds the record, the secret is compared by hash. */
const KEY_FORMAT = /^tdk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Makes a new client key. The full key is returned once (to print) and never stored: the store
 * keeps its id and the SHA-256 of its 256-bit secret, which is enough for a random secret of
 * that size (no password stretching needed).
 */
export function generateApiKey(): { id: string; key: string; secretHash: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `tdk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** A decoy hash compared when the id is unknown, so a miss takes as long as a wrong secret. */
const DECOY = Buffer.from(hashSecret('tendril-decoy'), 'hex');

/**
 * The active key a bearer token names, or undefined. The secret's hash is compared in constant
 * time; unknown ids and revoked keys cost the same comparison.
 */
export async function verifyApiKey(store: WritebackStore, token: string): Promise<ApiKeyRecord | undefined> {
  const match = KEY_FORMAT.exec(token);
  if (!match) return undefined;
  const [, id, secret] = match as unknown as [string, string, string];
  const record = await store.getApiKey(id);
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const expected = record ? Buffer.from(record.secretHash, 'hex') : DECOY;
  const equal = expected.length === presented.length && timingSafeEqual(expected, presented);
  if (!record || !equal || record.revokedAt !== undefined) return undefined;
  const { secretHash: _hidden, ...key } = record;
  return key;
}
