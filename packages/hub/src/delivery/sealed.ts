import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TendrilError } from '@tendril/core';

/** The file in the hub's data folder holding the sealing key when hub.yaml gives none. */
export const DELIVERY_KEY_FILE = 'delivery-key';

const PREFIX = 'v1';

function keyError(message: string): TendrilError {
  return new TendrilError('TENDRIL_E_CONFIG_INVALID', message, { details: { field: 'delivery.secretKey' } });
}

/**
 * The key that seals subscription secrets (docs/hub.md, "Webhooks from the hub"): `delivery.secretKey` from
 * hub.yaml (base64 of 32 bytes, normally `${HUB_DELIVERY_KEY}`), or `dataDir/delivery-key`, made
 * (mode 0600) at first start. Every node of one database needs the same key.
 */
export function deliveryKey(dataDir: string, configured?: string): Buffer {
  if (configured !== undefined) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32)
      throw keyError('delivery.secretKey must be base64 of 32 random bytes (openssl rand -base64 32)');
    return key;
  }
  const file = join(dataDir, DELIVERY_KEY_FILE);
  try {
    return deliveryKey(dataDir, readFileSync(file, 'utf8').trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const key = randomBytes(32);
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  }
}

/**
 * Seals a secret value with AES-256-GCM; `context` (the subscription id) is bound in as associated
 * data, so a sealed value copied onto another row does not open.
 */
export function seal(key: Buffer, context: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return [
    PREFIX,
    iv.toString('base64'),
    cipher.getAuthTag().toString('base64'),
    body.toString('base64'),
  ].join('.');
}

/** Opens a value made by {@link seal}; a wrong key or a tampered value is an error that says so. */
export function unseal(key: Buffer, context: string, sealed: string): string {
  const [prefix, iv, tag, body] = sealed.split('.');
  if (prefix !== PREFIX || iv === undefined || tag === undefined || body === undefined)
    throw keyError('a sealed subscription secret has an unknown format');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      "a subscription secret does not open with this hub's delivery key; every node needs the same delivery.secretKey",
      { cause, details: { field: 'delivery.secretKey' } },
    );
  }
}
