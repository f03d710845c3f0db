import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { TendrilError } from '@tendril/core';

/** Standard Webhooks secret prefix; the rest is the base64 key. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** How far a verified timestamp may be from the verifier's clock (Standard Webhooks: 5 minutes). */
export const DEFAULT_TIMESTAMP_TOLERANCE_SECONDS = 300;

const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * One signing secret of a subscription. During rotation a subscription has two; the old one carries
 * `notAfter` (ISO 8601 instant) and is skipped once that instant has passed.
 */
export interface WebhookSecret {
  secret: string;
  notAfter?: string;
}

/**
 * The three Standard Webhooks headers, lower-case as sent. A type alias (not an interface) so it can
 * be passed wherever a plain header record is expected.
 */
export type WebhookSignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export interface SignWebhookInput {
  secrets: readonly WebhookSecret[];
  /** The event id: the same on every attempt and replay, so receivers can deduplicate. */
  id: string;
  /** Unix seconds of this attempt; each attempt is signed again. */
  timestampSeconds: number;
  /** The exact bytes sent (a string is sent as UTF-8). */
  body: string | Uint8Array;
  /** Clock for secret expiry (Date or epoch ms); defaults to the signature timestamp. */
  now?: Date | number;
}

/**
 * Keys of the secrets signed with lately, checked and imported once: every attempt signs again, and
 * decoding the secret and importing its key each time cost more than the HMAC of a small body.
 * Subscriptions have one or two secrets each; the bound only guards against a leak.
 */
const keys = new Map<string, KeyObject>();
const KEYS_LIMIT = 256;

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key !== undefined) return key;
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    throw new TendrilError(
      'TENDRIL_E_WEBHOOK_SECRET',
      `A webhook secret must start with ${WEBHOOK_SECRET_PREFIX}; generate one with generateWebhookSecret().`,
    );
  }
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  const bytes = Buffer.from(encoded, 'base64');
  if (!BASE64.test(encoded) || bytes.length < MIN_KEY_BYTES || bytes.length > MAX_KEY_BYTES) {
    throw new TendrilError(
      'TENDRIL_E_WEBHOOK_SECRET',
      `A webhook secret must be ${WEBHOOK_SECRET_PREFIX} followed by standard base64 of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes; generate one with generateWebhookSecret().`,
    );
  }
  key = createSecretKey(bytes);
  if (keys.size >= KEYS_LIMIT) keys.clear();
  keys.set(secret, key);
  return key;
}

function epochMs(now: Date | number): number {
  return typeof now === 'number' ? now : now.getTime();
}

function isLive(secret: WebhookSecret, nowMs: number): boolean {
  if (secret.notAfter === undefined) return true;
  const notAfter = Date.parse(secret.notAfter);
  if (Number.isNaN(notAfter)) {
    throw new TendrilError(
      'TENDRIL_E_WEBHOOK_SECRET',
      'A webhook secret has a notAfter that is not an ISO 8601 instant; set it like 2025-01-31T12:00:00Z.',
    );
  }
  return notAfter >= nowMs;
}

function checkTimestamp(timestampSeconds: number): void {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      'A webhook timestamp must be whole non-negative Unix seconds.',
    );
  }
}

function signatureBytes(
  key: KeyObject,
  id: string,
  timestamp: number | string,
  body: string | Uint8Array,
): Buffer {
  // Signed content: `<id>.<timestamp>.<body>`, over the body's exact bytes.
  return createHmac('sha256', key)
    .update(`${id}.${timestamp}.`, 'utf8')
    .update(body) // a string as UTF-8 (Node's default), so the HMAC covers exactly the bytes sent
    .digest();
}

/**
 * Sign one attempt per Standard Webhooks v1: `v1,<base64 HMAC-SHA256>` for every live secret,
 * space-separated, so receivers mid-rotation accept either key. Secrets whose `notAfter` is before
 * `now` are skipped; if none is left this throws, because an unsigned request would be rejected.
 */
export function signWebhook(input: SignWebhookInput): WebhookSignatureHeaders {
  checkTimestamp(input.timestampSeconds);
  if (input.id === '' || /\s/.test(input.id)) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      'A webhook id must be non-empty and contain no whitespace; use the event id.',
    );
  }
  const nowMs = input.now === undefined ? input.timestampSeconds * 1000 : epochMs(input.now);
  const entries = input.secrets
    .filter((secret) => isLive(secret, nowMs))
    .map(
      (secret) =>
        `v1,${signatureBytes(keyOf(secret.secret), input.id, input.timestampSeconds, input.body).toString('base64')}`,
    );
  if (entries.length === 0) {
    throw new TendrilError(
      'TENDRIL_E_WEBHOOK_SECRET',
      'The subscription has no unexpired signing secret; add a new secret before delivering.',
    );
  }
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestampSeconds),
    'webhook-signature': entries.join(' '),
  };
}

/**
 * A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. `random` is injectable for
 * tests; production uses the operating system's CSPRNG.
 */
export function generateWebhookSecret(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(32);
  if (bytes.length !== 32) {
    throw new TendrilError(
      'TENDRIL_E_WEBHOOK_SECRET',
      'The random source must return exactly the 32 bytes requested.',
    );
  }
  return `${WEBHOOK_SECRET_PREFIX}${Buffer.from(bytes).toString('base64')}`;
}

/** Why an inbound request was refused; safe to log (no body, no signature). */
export const VERIFY_FAILURES = {
  missingHeaders: 'missing-headers',
  badTimestamp: 'bad-timestamp',
  timestampTooOld: 'timestamp-too-old',
  timestampTooNew: 'timestamp-too-new',
  noMatchingSignature: 'no-matching-signature',
} as const;
export type VerifyFailure = (typeof VERIFY_FAILURES)[keyof typeof VERIFY_FAILURES];

/** Request headers as a plain object (any case) or a Fetch `Headers`-like object. */
export type HeaderSource =
  Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null };

export interface VerifyWebhookInput {
  secrets: readonly WebhookSecret[];
  headers: HeaderSource;
  /** The raw body bytes as received, before any JSON parsing. */
  body: string | Uint8Array;
  now: Date | number;
  toleranceSeconds?: number;
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === name) {
      const value = record[key];
      return typeof value === 'string' ? value : value?.[0];
    }
  }
  return undefined;
}

/**
 * Verify an inbound Standard Webhooks request (signed writeback requests): timestamp within the
 * tolerance, then any `v1` entry matching any live secret, compared in constant time over the raw
 * body. Returns a reason instead of throwing, so the API can answer 401 without a stack trace.
 */
export function verifyWebhook(
  input: VerifyWebhookInput,
): { ok: true } | { ok: false; reason: VerifyFailure } {
  const id = header(input.headers, 'webhook-id');
  const timestamp = header(input.headers, 'webhook-timestamp');
  const signature = header(input.headers, 'webhook-signature');
  if (!id || !timestamp || !signature) return { ok: false, reason: VERIFY_FAILURES.missingHeaders };
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: VERIFY_FAILURES.badTimestamp };

  const timestampSeconds = Number(timestamp);
  const nowMs = epochMs(input.now);
  const nowSeconds = Math.floor(nowMs / 1000);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TIMESTAMP_TOLERANCE_SECONDS;
  if (nowSeconds - timestampSeconds > tolerance)
    return { ok: false, reason: VERIFY_FAILURES.timestampTooOld };
  if (timestampSeconds - nowSeconds > tolerance)
    return { ok: false, reason: VERIFY_FAILURES.timestampTooNew };

  const expected = input.secrets
    .filter((secret) => isLive(secret, nowMs))
    .map((secret) => signatureBytes(keyOf(secret.secret), id, timestamp, input.body));
  const offered = signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => entry.slice(3))
    .filter((encoded) => BASE64.test(encoded))
    .map((encoded) => Buffer.from(encoded, 'base64'));

  let matched = false;
  for (const candidate of offered) {
    for (const wanted of expected) {
      // Lengths are public (always 32 for SHA-256); only equal-length buffers are compared, in constant time.
      if (candidate.length === wanted.length && timingSafeEqual(candidate, wanted)) matched = true;
    }
  }
  return matched ? { ok: true } : { ok: false, reason: VERIFY_FAILURES.noMatchingSignature };
}
