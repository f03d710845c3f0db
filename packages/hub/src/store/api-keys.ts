import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { generateToken, hashPassword, parseToken, secretMatches } from '../credentials.js';
import type { HubDatabase } from '../db/schema.js';

/** A vendor's API key as shown (never its secret). */
export interface VendorKeyRecord {
  readonly id: string;
  readonly vendorId: string;
  readonly vendor: string;
  readonly name: string;
  /** `*`: every site of the vendor, now and later; else these site ids. */
  readonly sites: '*' | readonly string[];
  readonly createdAt: string;
  readonly revokedAt?: string;
  readonly expiresAt?: string;
}

/** An authenticated caller of the vendor API. */
export interface VendorPrincipal {
  readonly keyId: string;
  readonly vendorId: string;
  readonly sites: '*' | readonly string[];
}

/** Vendor API keys (hashed, constant-time checked, scoped to sites) and console users. */
export class ApiKeyStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async create(
    input: { vendorId: string; name: string; sites: '*' | readonly string[]; expiresAt?: Date },
    now: Date,
  ): Promise<{ id: string; key: string }> {
    const token = generateToken('vendorKey');
    await this.db
      .insertInto('hub_api_keys')
      .values({
        id: token.id,
        vendor_id: input.vendorId,
        name: input.name,
        secret_hash: token.secretHash,
        all_sites: input.sites === '*',
        site_ids: JSON.stringify(input.sites === '*' ? [] : input.sites),
        created_at: now,
        revoked_at: null,
        expires_at: input.expiresAt ?? null,
      })
      .execute();
    return { id: token.id, key: token.token };
  }

  async list(vendorId?: string): Promise<VendorKeyRecord[]> {
    let query = this.db
      .selectFrom('hub_api_keys')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_api_keys.vendor_id')
      .selectAll('hub_api_keys')
      .select('hub_vendors.name as vendor_name')
      .orderBy('hub_api_keys.created_at');
    if (vendorId) query = query.where('hub_api_keys.vendor_id', '=', vendorId);
    return (await query.execute()).map((row) => ({
      id: row.id,
      vendorId: row.vendor_id,
      vendor: row.vendor_name,
      name: row.name,
      sites: row.all_sites ? '*' : row.site_ids,
      createdAt: row.created_at,
      ...(row.revoked_at ? { revokedAt: row.revoked_at } : {}),
      ...(row.expires_at ? { expiresAt: row.expires_at } : {}),
    }));
  }

  async get(id: string): Promise<VendorKeyRecord | undefined> {
    return (await this.list()).find((k) => k.id === id);
  }

  /** False when no active key has this id. */
  async revoke(id: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('hub_api_keys')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Rotation without downtime: a new key with the same vendor and scope, and the old one set to
   * expire after `graceSeconds` (both work meanwhile). Undefined when the old key is not active.
   */
  async rotate(
    id: string,
    graceSeconds: number,
    now: Date,
  ): Promise<{ id: string; key: string; oldExpiresAt: string } | undefined> {
    const old = await this.get(id);
    if (!old || old.revokedAt) return undefined;
    const expiresAt = new Date(now.getTime() + graceSeconds * 1000);
    const created = await this.create({ vendorId: old.vendorId, name: old.name, sites: old.sites }, now);
    await this.db.updateTable('hub_api_keys').set({ expires_at: expiresAt }).where('id', '=', id).execute();
    return { ...created, oldExpiresAt: expiresAt.toISOString() };
  }

  /** The active key a bearer token names (constant-time; revoked, expired and unknown keys alike fail). */
  async authenticate(token: string, now: Date): Promise<VendorPrincipal | undefined> {
    const parsed = parseToken('vendorKey', token);
    const row = await this.db
      .selectFrom('hub_api_keys')
      .selectAll()
      .where('id', '=', parsed?.id ?? '-')
      .executeTakeFirst();
    const matches = secretMatches(parsed?.secret ?? '', row?.secret_hash);
    if (!row || !parsed || !matches || row.revoked_at) return undefined;
    if (row.expires_at && Date.parse(row.expires_at) <= now.getTime()) return undefined;
    return { keyId: row.id, vendorId: row.vendor_id, sites: row.all_sites ? '*' : row.site_ids };
  }

  async createUser(
    input: { vendorId: string; email: string; password: string; totpSecretSealed: string },
    now: Date,
  ): Promise<string> {
    const id = `usr_${randomBytes(8).toString('hex')}`;
    await this.db
      .insertInto('hub_users')
      .values({
        id,
        vendor_id: input.vendorId,
        email: input.email.toLowerCase(),
        password_hash: hashPassword(input.password),
        created_at: now,
        revoked_at: null,
        totp_secret: input.totpSecretSealed,
      })
      .execute();
    return id;
  }

  async listUsers(): Promise<
    { id: string; vendor: string; email: string; createdAt: string; revokedAt?: string }[]
  > {
    const rows = await this.db
      .selectFrom('hub_users')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_users.vendor_id')
      .select([
        'hub_users.id',
        'hub_users.email',
        'hub_users.created_at',
        'hub_users.revoked_at',
        'hub_vendors.name',
      ])
      .orderBy('hub_users.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      vendor: r.name,
      email: r.email,
      createdAt: r.created_at,
      ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
    }));
  }

  async revokeUser(id: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('hub_users')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

/** True when a principal may see a site of its vendor. Another vendor's site is never visible. */
export function keySees(principal: VendorPrincipal, site: { id: string; vendorId: string }): boolean {
  return (
    site.vendorId === principal.vendorId && (principal.sites === '*' || principal.sites.includes(site.id))
  );
}
