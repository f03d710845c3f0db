import { randomBytes } from 'node:crypto';
import { TendrilError } from '@tendril/core';
import { sql, type Kysely, type Selectable } from 'kysely';
import { generateToken, parseToken, secretMatches, type NewToken } from '../credentials.js';
import type { HubDatabase, HubSiteTable } from '../db/schema.js';

/** What an operator gives when creating a site (docs/hub.md, "Sites and enrollment"): never a database password. */
export interface SiteInput {
  readonly vendor: string;
  readonly name: string;
  readonly connector: string;
  readonly contactName?: string;
  readonly contactEmail?: string;
  readonly server?: string;
  readonly port?: number;
  readonly database?: string;
}

export interface SiteRecord {
  readonly id: string;
  readonly vendorId: string;
  readonly vendor: string;
  readonly name: string;
  readonly connector: string;
  readonly contactName?: string;
  readonly contactEmail?: string;
  readonly server?: string;
  readonly port?: number;
  readonly database?: string;
  readonly connectionIds: readonly string[];
  readonly createdAt: string;
  readonly revokedAt?: string;
  readonly purgedAt?: string;
  readonly linkNode?: string;
  readonly linkOpenedAt?: string;
  readonly linkClosedAt?: string;
  readonly lastSeenAt?: string;
  readonly agentVersion?: string;
  readonly status?: Readonly<Record<string, unknown>>;
  readonly hello?: Readonly<Record<string, unknown>>;
  readonly presence: 'never' | 'online' | 'offline';
  readonly health: 'ok' | 'degraded';
  readonly lastEventSeq: number;
}

/** What enrollment hands the agent (docs/hub.md, "Sites and enrollment"): pre-filled details and the hub-assigned connection ids. */
export interface EnrollmentDetails {
  readonly siteId: string;
  readonly practiceName: string;
  readonly connector: string;
  readonly contactName?: string;
  readonly contactEmail?: string;
  readonly server?: string;
  readonly port?: number;
  readonly database?: string;
  readonly connectionIds: readonly string[];
}

const ENROLLMENT_DAYS = 7;

const iso = (d: string | null | undefined) => d ?? undefined;

/** `Smile Dental (Main)` → `smile-dental-main`, at most 40 characters (the suffix makes it unique). */
export function slugOf(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'site';
}

function randomSuffix(length: number): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(length);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

function toSite(
  row: Selectable<HubSiteTable> & { vendor_name: string },
  connections: readonly string[],
): SiteRecord {
  return {
    id: row.id,
    vendorId: row.vendor_id,
    vendor: row.vendor_name,
    name: row.name,
    connector: row.connector,
    ...(row.contact_name ? { contactName: row.contact_name } : {}),
    ...(row.contact_email ? { contactEmail: row.contact_email } : {}),
    ...(row.server ? { server: row.server } : {}),
    ...(row.port !== null ? { port: row.port } : {}),
    ...(row.database_name ? { database: row.database_name } : {}),
    connectionIds: connections,
    createdAt: row.created_at,
    ...(row.revoked_at ? { revokedAt: iso(row.revoked_at)! } : {}),
    ...(row.purged_at ? { purgedAt: iso(row.purged_at)! } : {}),
    ...(row.link_node ? { linkNode: row.link_node } : {}),
    ...(row.link_opened_at ? { linkOpenedAt: iso(row.link_opened_at)! } : {}),
    ...(row.link_closed_at ? { linkClosedAt: iso(row.link_closed_at)! } : {}),
    ...(row.last_seen_at ? { lastSeenAt: iso(row.last_seen_at)! } : {}),
    ...(row.agent_version ? { agentVersion: row.agent_version } : {}),
    ...(row.status_json ? { status: row.status_json } : {}),
    ...(row.hello_json ? { hello: row.hello_json } : {}),
    presence: row.presence,
    health: row.health,
    lastEventSeq: Number(row.last_event_seq),
  };
}

/**
 * Vendors, sites, their hub-assigned connections, enrollment keys and agent credentials. Ids are
 * assigned here and unique across the hub: resource and event ids derive from connection ids, so
 * two practices named alike still never share one.
 */
export class SiteStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async vendorByName(name: string): Promise<{ id: string; name: string } | undefined> {
    return this.db
      .selectFrom('hub_vendors')
      .select(['id', 'name'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async listVendors(): Promise<{ id: string; name: string }[]> {
    return this.db.selectFrom('hub_vendors').select(['id', 'name']).orderBy('name').execute();
  }

  /** The vendor of this name, created when missing. */
  async ensureVendor(name: string, now: Date): Promise<{ id: string; name: string }> {
    const found = await this.vendorByName(name);
    if (found) return found;
    await this.db
      .insertInto('hub_vendors')
      .values({ id: `vnd_${randomBytes(8).toString('hex')}`, name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return (await this.vendorByName(name))!;
  }

  /** Creates a site with one hub-unique connection and its first enrollment key (returned once). */
  async createSite(
    input: SiteInput,
    now: Date,
  ): Promise<{ site: SiteRecord; enrollmentKey: string; expiresAt: string }> {
    const vendor = await this.ensureVendor(input.vendor, now);
    const siteId = `st_${randomBytes(8).toString('hex')}`;
    const key = generateToken('enrollmentKey');
    const expiresAt = new Date(now.getTime() + ENROLLMENT_DAYS * 86_400_000);
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('hub_sites')
        .values({
          id: siteId,
          vendor_id: vendor.id,
          name: input.name,
          connector: input.connector,
          contact_name: input.contactName ?? null,
          contact_email: input.contactEmail ?? null,
          server: input.server ?? null,
          port: input.port ?? null,
          database_name: input.database ?? null,
          created_at: now,
          revoked_at: null,
          purged_at: null,
          link_node: null,
          link_opened_at: null,
          link_closed_at: null,
          last_seen_at: null,
          agent_version: null,
          status_json: null,
          hello_json: null,
        })
        .execute();
      // Unique across the hub: the practice's slug and a random suffix, retried on the rare clash.
      for (let attempt = 0; ; attempt++) {
        const id = `${slugOf(input.name)}-${randomSuffix(attempt < 3 ? 6 : 10)}`;
        const inserted = await tx
          .insertInto('hub_connections')
          .values({ id, site_id: siteId, connector: input.connector, created_at: now, relay_sequence: null })
          .onConflict((oc) => oc.column('id').doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) break;
      }
      await this.insertEnrollmentKey(tx, siteId, key, now, expiresAt);
    });
    return {
      site: (await this.getSite(siteId))!,
      enrollmentKey: key.token,
      expiresAt: expiresAt.toISOString(),
    };
  }

  private async insertEnrollmentKey(
    tx: Kysely<HubDatabase>,
    siteId: string,
    key: NewToken,
    now: Date,
    expiresAt: Date,
  ): Promise<void> {
    await tx
      .insertInto('hub_enrollment_keys')
      .values({
        id: key.id,
        site_id: siteId,
        secret_hash: key.secretHash,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
  }

  /**
   * A new enrollment key for an existing site (a replaced server re-enrolls, docs/hub.md, "Sites and enrollment"). Earlier
   * unused keys stop working; credentials stay valid until the new key is spent.
   */
  async newEnrollmentKey(siteId: string, now: Date): Promise<{ enrollmentKey: string; expiresAt: string }> {
    const key = generateToken('enrollmentKey');
    const expiresAt = new Date(now.getTime() + ENROLLMENT_DAYS * 86_400_000);
    await this.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('hub_enrollment_keys')
        .set({ used_at: now })
        .where('site_id', '=', siteId)
        .where('used_at', 'is', null)
        .execute();
      await this.insertEnrollmentKey(tx, siteId, key, now, expiresAt);
    });
    return { enrollmentKey: key.token, expiresAt: expiresAt.toISOString() };
  }

  async getSite(id: string): Promise<SiteRecord | undefined> {
    const row = await this.db
      .selectFrom('hub_sites')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_sites.vendor_id')
      .selectAll('hub_sites')
      .select('hub_vendors.name as vendor_name')
      .where('hub_sites.id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    return toSite(row, await this.connectionIdsOf(id));
  }

  async connectionIdsOf(siteId: string): Promise<string[]> {
    return (
      await this.db
        .selectFrom('hub_connections')
        .select('id')
        .where('site_id', '=', siteId)
        .orderBy('id')
        .execute()
    ).map((r) => r.id);
  }

  /** Sites, optionally of one vendor and narrowed to some ids; oldest first. */
  async listSites(filter: { vendorId?: string; siteIds?: readonly string[] } = {}): Promise<SiteRecord[]> {
    let query = this.db
      .selectFrom('hub_sites')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_sites.vendor_id')
      .selectAll('hub_sites')
      .select('hub_vendors.name as vendor_name')
      .orderBy('hub_sites.created_at')
      .orderBy('hub_sites.id');
    if (filter.vendorId) query = query.where('hub_sites.vendor_id', '=', filter.vendorId);
    if (filter.siteIds) {
      if (filter.siteIds.length === 0) return [];
      query = query.where('hub_sites.id', 'in', [...filter.siteIds]);
    }
    const rows = await query.execute();
    const connections = await this.db
      .selectFrom('hub_connections')
      .select(['id', 'site_id'])
      .orderBy('id')
      .execute();
    const bySite = new Map<string, string[]>();
    for (const c of connections) bySite.set(c.site_id, [...(bySite.get(c.site_id) ?? []), c.id]);
    return rows.map((row) => toSite(row, bySite.get(row.id) ?? []));
  }

  /** The site an enrollment key opens, without spending it (pre-fill), or why not. */
  async peekEnrollment(
    token: string,
    now: Date,
  ): Promise<{ ok: true; details: EnrollmentDetails } | { ok: false; reason: EnrollmentRefusal }> {
    const checked = await this.checkEnrollmentKey(this.db, token, now);
    if (!checked.ok) return checked;
    return { ok: true, details: await this.enrollmentDetails(checked.siteId) };
  }

  private async checkEnrollmentKey(
    db: Kysely<HubDatabase>,
    token: string,
    now: Date,
    forUpdate = false,
  ): Promise<{ ok: true; siteId: string; keyId: string } | { ok: false; reason: EnrollmentRefusal }> {
    const parsed = parseToken('enrollmentKey', token);
    let query = db
      .selectFrom('hub_enrollment_keys')
      .selectAll()
      .where('id', '=', parsed?.id ?? '-');
    if (forUpdate) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    const matches = secretMatches(parsed?.secret ?? '', row?.secret_hash);
    if (!row || !parsed || !matches) return { ok: false, reason: 'invalid' };
    if (row.used_at) return { ok: false, reason: 'used' };
    if (Date.parse(row.expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };
    const site = await db
      .selectFrom('hub_sites')
      .select(['revoked_at', 'purged_at'])
      .where('id', '=', row.site_id)
      .executeTakeFirst();
    if (!site || site.revoked_at || site.purged_at) return { ok: false, reason: 'revoked' };
    return { ok: true, siteId: row.site_id, keyId: row.id };
  }

  private async enrollmentDetails(siteId: string): Promise<EnrollmentDetails> {
    const site = (await this.getSite(siteId))!;
    return {
      siteId: site.id,
      practiceName: site.name,
      connector: site.connector,
      ...(site.contactName ? { contactName: site.contactName } : {}),
      ...(site.contactEmail ? { contactEmail: site.contactEmail } : {}),
      ...(site.server ? { server: site.server } : {}),
      ...(site.port !== undefined ? { port: site.port } : {}),
      ...(site.database ? { database: site.database } : {}),
      connectionIds: site.connectionIds,
    };
  }

  /**
   * Spends an enrollment key for a long-lived agent credential (returned once). Every earlier
   * credential of the site is revoked in the same transaction: a re-enrolled server replaces the
   * old one, whose link the caller closes.
   */
  async enroll(
    token: string,
    now: Date,
  ): Promise<
    | { ok: true; details: EnrollmentDetails; credential: string; revokedCredentials: number }
    | { ok: false; reason: EnrollmentRefusal }
  > {
    const credential = generateToken('agentCredential');
    const outcome = await this.db.transaction().execute(async (tx) => {
      const checked = await this.checkEnrollmentKey(tx, token, now, true);
      if (!checked.ok) return checked;
      await tx
        .updateTable('hub_enrollment_keys')
        .set({ used_at: now })
        .where('id', '=', checked.keyId)
        .execute();
      const revoked = await tx
        .updateTable('hub_agent_credentials')
        .set({ revoked_at: now })
        .where('site_id', '=', checked.siteId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      await tx
        .insertInto('hub_agent_credentials')
        .values({
          id: credential.id,
          site_id: checked.siteId,
          secret_hash: credential.secretHash,
          state: 'active',
          created_at: now,
          revoked_at: null,
          last_used_at: null,
        })
        .execute();
      return { ok: true as const, siteId: checked.siteId, revoked: Number(revoked.numUpdatedRows) };
    });
    if (!outcome.ok) return outcome;
    return {
      ok: true,
      details: await this.enrollmentDetails(outcome.siteId),
      credential: credential.token,
      revokedCredentials: outcome.revoked,
    };
  }

  /**
   * Checks an agent credential at `hello`. A `pending` credential (from a rotation) becomes active
   * on first use, and the credentials it replaces are revoked then: the old one works until the
   * agent has proven it holds the new one, so a rotation never locks an agent out.
   */
  async authenticateAgent(
    siteId: string,
    token: string,
    now: Date,
  ): Promise<{ ok: true; credentialId: string } | { ok: false; reason: CredentialRefusal }> {
    const checked = await this.checkAgentCredential(siteId, token);
    if (!checked.ok) return checked;
    const row = checked.row;
    await this.db.transaction().execute(async (tx) => {
      if (row.state === 'pending') {
        await tx
          .updateTable('hub_agent_credentials')
          .set({ revoked_at: now })
          .where('site_id', '=', siteId)
          .where('id', '<>', row.id)
          .where('revoked_at', 'is', null)
          .execute();
      }
      await tx
        .updateTable('hub_agent_credentials')
        .set({ state: 'active', last_used_at: now })
        .where('id', '=', row.id)
        .execute();
    });
    return { ok: true, credentialId: row.id };
  }

  /**
   * The credential check of `hello` without its side effects (a pending credential stays pending):
   * what the release download route asks of an agent's Basic credentials. The id finds the row,
   * the secret is compared in constant time (a decoy when the id is unknown).
   */
  async checkAgentCredential(
    siteId: string,
    token: string,
  ): Promise<
    | { ok: true; row: Selectable<HubDatabase['hub_agent_credentials']> }
    | { ok: false; reason: CredentialRefusal }
  > {
    const parsed = parseToken('agentCredential', token);
    const row = await this.db
      .selectFrom('hub_agent_credentials')
      .selectAll()
      .where('id', '=', parsed?.id ?? '-')
      .executeTakeFirst();
    const matches = secretMatches(parsed?.secret ?? '', row?.secret_hash);
    if (!row || !parsed || !matches || row.site_id !== siteId) return { ok: false, reason: 'bad-credential' };
    if (row.revoked_at) return { ok: false, reason: 'revoked' };
    const site = await this.db
      .selectFrom('hub_sites')
      .select(['revoked_at', 'purged_at'])
      .where('id', '=', siteId)
      .executeTakeFirst();
    if (!site || site.revoked_at || site.purged_at) return { ok: false, reason: 'revoked' };
    return { ok: true, row };
  }

  /** A new credential for a linked agent (rotation): stored `pending`, returned once to send down the link. */
  async issuePendingCredential(siteId: string, now: Date): Promise<string> {
    const credential = generateToken('agentCredential');
    await this.db.transaction().execute(async (tx) => {
      // Only the newest pending credential matters; older unsent ones are dropped.
      await tx
        .updateTable('hub_agent_credentials')
        .set({ revoked_at: now })
        .where('site_id', '=', siteId)
        .where('state', '=', 'pending')
        .where('revoked_at', 'is', null)
        .execute();
      await tx
        .insertInto('hub_agent_credentials')
        .values({
          id: credential.id,
          site_id: siteId,
          secret_hash: credential.secretHash,
          state: 'pending',
          created_at: now,
          revoked_at: null,
          last_used_at: null,
        })
        .execute();
    });
    return credential.token;
  }

  /** Revokes the site: its credentials and unused enrollment keys stop working (the caller closes its link). */
  async revokeSite(siteId: string, now: Date): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const site = await tx
        .updateTable('hub_sites')
        .set({ revoked_at: now })
        .where('id', '=', siteId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      await tx
        .updateTable('hub_agent_credentials')
        .set({ revoked_at: now })
        .where('site_id', '=', siteId)
        .where('revoked_at', 'is', null)
        .execute();
      await tx
        .updateTable('hub_enrollment_keys')
        .set({ used_at: now })
        .where('site_id', '=', siteId)
        .where('used_at', 'is', null)
        .execute();
      return Number(site.numUpdatedRows) > 0;
    });
  }

  async markPurged(siteId: string, now: Date): Promise<void> {
    await this.db
      .updateTable('hub_sites')
      .set({ purged_at: now, status_json: null })
      .where('id', '=', siteId)
      .execute();
  }

  /** Records a link opening on `node` with the agent's hello (connections, capabilities, version). */
  async linkOpened(
    siteId: string,
    input: { node: string; version: string; hello: Record<string, unknown> },
    now: Date,
  ): Promise<void> {
    await this.db
      .updateTable('hub_sites')
      .set({
        link_node: input.node,
        link_opened_at: now,
        last_seen_at: now,
        agent_version: input.version,
        hello_json: JSON.stringify(input.hello),
      })
      .where('id', '=', siteId)
      .execute();
  }

  /** Clears the link of a site if `node` still holds it (a newer link elsewhere is left alone). */
  async linkClosed(siteId: string, node: string, openedAt: Date, now: Date): Promise<void> {
    await this.db
      .updateTable('hub_sites')
      .set({ link_node: null, link_closed_at: now, last_seen_at: now })
      .where('id', '=', siteId)
      .where('link_node', '=', node)
      .where('link_opened_at', '=', openedAt.toISOString())
      .execute();
  }

  async touch(siteIds: readonly string[], now: Date): Promise<void> {
    if (siteIds.length === 0) return;
    await this.db
      .updateTable('hub_sites')
      .set({ last_seen_at: now })
      .where('id', 'in', [...siteIds])
      .execute();
  }

  /**
   * Keeps the agent's last status, and the oldest last successful read across its streams as a
   * column of its own (null: a stream never read), which the console's list sorts by.
   */
  async saveStatus(
    siteId: string,
    status: Record<string, unknown>,
    oldestSuccessAt: Date | null,
    now: Date,
  ): Promise<void> {
    await this.db
      .updateTable('hub_sites')
      .set({ status_json: JSON.stringify(status), last_seen_at: now, oldest_success_at: oldestSuccessAt })
      .where('id', '=', siteId)
      .execute();
  }

  /**
   * Moves what vendors were told about a site from one state to another, once: returns true only
   * for the caller whose update changed the row (so two nodes never both announce it).
   */
  async transition(
    siteId: string,
    field: 'presence' | 'health',
    from: readonly string[],
    to: string,
  ): Promise<boolean> {
    const result = await sql`UPDATE hub_sites SET ${sql.ref(field)} = ${to}
      WHERE id = ${siteId} AND ${sql.ref(field)} IN (${sql.join(from)})`.execute(this.db);
    return Number(result.numAffectedRows ?? 0n) > 0;
  }

  /** Sites with no link on a live node since before `closedBefore`, still announced online. */
  async sitesToAnnounceOffline(closedBefore: Date, liveNodes: readonly string[]): Promise<string[]> {
    let query = this.db
      .selectFrom('hub_sites')
      .select('id')
      .where('presence', '=', 'online')
      .where('purged_at', 'is', null)
      .where((eb) =>
        eb.or([eb('last_seen_at', '<', closedBefore.toISOString()), eb('last_seen_at', 'is', null)]),
      );
    query =
      liveNodes.length > 0
        ? query.where((eb) => eb.or([eb('link_node', 'is', null), eb('link_node', 'not in', [...liveNodes])]))
        : query;
    return (await query.execute()).map((r) => r.id);
  }

  /** Records an operator or remote action (who, when, which site, what; never PHI). */
  async audit(
    actor: string,
    action: string,
    siteId: string | null,
    detail: Record<string, unknown>,
    now: Date,
  ) {
    await this.db
      .insertInto('hub_audit')
      .values({ at: now, actor, site_id: siteId, action, detail: JSON.stringify(detail) })
      .execute();
  }
}

/** Why an enrollment key was refused. */
export const ENROLLMENT_REFUSALS = ['invalid', 'used', 'expired', 'revoked'] as const;
export type EnrollmentRefusal = (typeof ENROLLMENT_REFUSALS)[number];

/** Why an agent credential was refused at hello. */
export const CREDENTIAL_REFUSALS = ['bad-credential', 'revoked'] as const;
export type CredentialRefusal = (typeof CREDENTIAL_REFUSALS)[number];

/** The error an admin command raises for an unknown site. */
export function unknownSite(siteId: string): TendrilError {
  return new TendrilError(
    'TENDRIL_E_USAGE',
    `no site has the id ${siteId}; tendril hub site list shows them`,
  );
}
