import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { TendrilError } from '@tendril/core';

/**
 * The payload columns (the outbox's event envelopes, the writeback queue's inputs and results) as
 * written and read: plain JSON, or — with a site key — the JSON sealed with AES-256-GCM under a key
 * derived from the site key (docs/security.md, "PHI at rest"). A sealed value is itself JSON, so
 * the columns keep their types on both backends:
 *
 *   {"tendril_sealed":"v1.<key id>.<iv>.<ciphertext>.<tag>", <clear fields>}
 *
 * Clear fields are the few non-PHI values a query reads inside the JSON (the envelope's
 * `occurredAt` for a backload's `since`). The column's name is bound to the ciphertext as
 * additional data, so a value moved to another column does not open.
 */
export interface PayloadCodec {
  /** The key's one-way id, or undefined for a plaintext store. */
  readonly keyId: string | undefined;
  /** JSON text for the column (sealed when there is a key). */
  write(column: PayloadColumn, value: unknown, clear?: Readonly<Record<string, unknown>>): string;
  /** The value of a column as read (text on SQLite, parsed JSON on PostgreSQL), opened if sealed. */
  read<T>(column: PayloadColumn, raw: unknown): T;
  /**
   * The value's JSON text exactly as it was serialised when written (`JSON.stringify`), opened if
   * sealed, without parsing it; undefined when the database hands the column back parsed
   * (PostgreSQL's `json`). Refuses what `read` refuses.
   */
  readText(column: PayloadColumn, raw: unknown): string | undefined;
}

/** The columns that carry PHI. */
export const PAYLOAD_COLUMNS = [
  'outbox.envelope_json',
  'writebacks.input_json',
  'writebacks.resource_json',
] as const;
export type PayloadColumn = (typeof PAYLOAD_COLUMNS)[number];

/** The JSON key marking a sealed value; queries test it to find rows still in plain text. */
export const SEALED_FIELD = 'tendril_sealed';
/**
 * How every sealed column value's text begins: `write` puts the marker first. Plain values are
 * event envelopes and writeback inputs, whose first key is never the marker.
 */
const SEALED_PREFIX = `{"${SEALED_FIELD}":"`;
const VERSION = 'v1';
const KEY_INFO = 'tendril store payloads v1 aes-256-gcm';
const KEY_ID_INFO = 'tendril store payload key id v1';

function parse(raw: unknown): unknown {
  return typeof raw === 'string' ? JSON.parse(raw) : raw;
}

function sealedText(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const sealed = (value as Record<string, unknown>)[SEALED_FIELD];
  return typeof sealed === 'string' ? sealed : undefined;
}

/** True when a column value (text or parsed) is sealed. */
export function isSealed(raw: unknown): boolean {
  return sealedText(parse(raw)) !== undefined;
}

function keyError(message: string): TendrilError {
  return new TendrilError('TENDRIL_E_STORE_KEY', message, { retryable: false });
}

/** No site key: payloads are written as plain JSON; a sealed one cannot be read. */
export function plainPayloads(): PayloadCodec {
  const noKey = (column: PayloadColumn) =>
    keyError(
      `The agent store's ${column} values are encrypted and no site key was given; set TENDRIL_SITE_KEY or TENDRIL_SITE_KEY_FILE to the key \`tendril init\` showed.`,
    );
  return {
    keyId: undefined,
    write: (_column, value) => JSON.stringify(value),
    read<T>(column: PayloadColumn, raw: unknown): T {
      const value = parse(raw);
      if (sealedText(value) !== undefined) throw noKey(column);
      return value as T;
    },
    readText(column, raw) {
      if (typeof raw !== 'string') return undefined;
      if (raw.startsWith(SEALED_PREFIX)) throw noKey(column);
      return raw;
    },
  };
}

/** A sealed value that does not open; the cause is a crypto or JSON error, kept off the message. */
function damaged(column: PayloadColumn, cause: unknown): TendrilError {
  return new TendrilError(
    'TENDRIL_E_STORE',
    `A ${column} value in the agent store does not decrypt (damaged or altered).`,
    { retryable: false, cause, details: { column } },
  );
}

/** The store key's one-way id (hex), recorded in the store to tell "another key" from "corrupt". */
export function payloadKeyId(siteKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', siteKey, Buffer.alloc(0), KEY_ID_INFO, 8)).toString('hex');
}

/** With a site key (its 32 bytes): every payload written is sealed; plain ones still read (a store being converted). */
export function sealedPayloads(siteKey: Buffer): PayloadCodec {
  const key = Buffer.from(hkdfSync('sha256', siteKey, Buffer.alloc(0), KEY_INFO, 32));
  const keyId = payloadKeyId(siteKey);
  const prefix = `${VERSION}.${keyId}.`;
  const aad = new Map(PAYLOAD_COLUMNS.map((column) => [column, Buffer.from(column, 'utf8')]));
  /** The JSON text a sealed value carries. */
  const open = (column: PayloadColumn, sealed: string): string => {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        `A ${column} value in the agent store is damaged (not a sealed value this Tendril reads).`,
        { retryable: false, details: { column } },
      );
    }
    if (parts[1] !== keyId) {
      throw keyError(
        `The agent store's ${column} values were encrypted with another site key; start the agent with the key this store was used with.`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2]!, 'base64'));
      decipher.setAAD(aad.get(column)!);
      decipher.setAuthTag(Buffer.from(parts[4]!, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(parts[3]!, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch (cause) {
      throw damaged(column, cause);
    }
  };
  return {
    keyId,
    write(column, value, clear = {}): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(aad.get(column)!);
      const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      const sealed = `${prefix}${iv.toString('base64')}.${body.toString('base64')}.${cipher.getAuthTag().toString('base64')}`;
      return JSON.stringify({ [SEALED_FIELD]: sealed, ...clear });
    },
    read<T>(column: PayloadColumn, raw: unknown): T {
      const value = parse(raw);
      const sealed = sealedText(value);
      if (sealed === undefined) return value as T;
      const text = open(column, sealed);
      try {
        return JSON.parse(text) as T;
      } catch (cause) {
        throw damaged(column, cause);
      }
    },
    readText(column, raw) {
      if (typeof raw !== 'string') return undefined;
      if (!raw.startsWith(SEALED_PREFIX)) return raw;
      const sealed = sealedText(parse(raw));
      return sealed === undefined ? raw : open(column, sealed);
    },
  };
}
