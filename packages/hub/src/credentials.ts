import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * The hub's bearer secrets. Each is `<prefix>_<16 hex id>_<43 base64url secret>`: the id finds the
 * record, only SHA-256 of the 256-bit secret is stored (no stretching needed at that size), and
 * the comparison is constant-time, with a decoy hash when the id is unknown so a miss costs the same.
 */
export const TOKEN_KINDS = {
  /** A vendor's API key (`tendril hub api-key create`). */
  vendorKey: 'thk',
  /** A site's agent credential, kept encrypted in the agent's secrets.enc. */
  agentCredential: 'tha',
  /** A one-time enrollment key (`tendril hub site create`), valid 7 days. */
  enrollmentKey: 'the',
} as const;
export type TokenKind = keyof typeof TOKEN_KINDS;

const PATTERN = /^(thk|tha|the)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export interface NewToken {
  readonly id: string;
  /** The full token: shown once, never stored. */
  readonly token: string;
  readonly secretHash: string;
}

export function generateToken(kind: TokenKind): NewToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${TOKEN_KINDS[kind]}_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a token of this kind, or undefined for anything else. */
export function parseToken(kind: TokenKind, token: string): { id: string; secret: string } | undefined {
  const match = PATTERN.exec(token);
  if (!match || match[1] !== TOKEN_KINDS[kind]) return undefined;
  return { id: match[2]!, secret: match[3]! };
}

const DECOY = Buffer.from(hashSecret('tendril-hub-decoy'), 'hex');

/** Constant-time check of a presented secret against a stored hash (or the decoy when there is none). */
export function secretMatches(secret: string, storedHash: string | undefined): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const expected = storedHash ? Buffer.from(storedHash, 'hex') : DECOY;
  return expected.length === presented.length && timingSafeEqual(expected, presented) && !!storedHash;
}

/** The hub's local admin token (a file in its data folder, mode 0600). */
export function generateAdminToken(): string {
  return `thadm_${randomBytes(32).toString('base64url')}`;
}

/** Constant-time comparison of two tokens (hashed first, so their lengths are not compared either). */
export function tokensMatch(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Console user passwords: scrypt with a per-user salt (`scrypt$<salt>$<hash>`). */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`;
}

export function passwordMatches(password: string, stored: string): boolean {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = scryptSync(password, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(expected, actual);
}
