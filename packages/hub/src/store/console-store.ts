import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { hashSecret, passwordMatches } from '../credentials.js';
import type { HubDatabase } from '../db/schema.js';

/** A console user who logged in, as every page sees them. */
export interface ConsoleUser {
  readonly id: string;
  readonly email: string;
  readonly vendorId: string;
  readonly vendor: string;
}

export interface ConsoleSession {
  readonly user: ConsoleUser;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

/** Columns the sites list sorts by (whitelisted: the name goes into SQL). */
export const SITE_SORTS = {
  name: 'hub_sites.name',
  ehr: 'hub_sites.connector',
  version: 'hub_sites.agent_version',
  state: 'hub_sites.link_node',
  since: 'hub_sites.last_seen_at',
  health: 'hub_sites.health',
  /** Time since the oldest last successful read: ascending is freshest first, so the column runs backwards. */
  freshness: 'hub_sites.oldest_success_at',
} as const;
export type SiteSort = keyof typeof SITE_SORTS;

/** Sorts whose column runs the other way round from what the page shows (freshness is now minus the column). */
const REVERSED_SORTS: ReadonlySet<SiteSort> = new Set(['freshness']);

export interface SiteListRow {
  readonly id: string;
  readonly name: string;
  readonly connector: string;
  readonly agentVersion: string | null;
  readonly online: boolean;
  readonly linkOpenedAt: Date | null;
  readonly linkClosedAt: Date | null;
  readonly lastSeenAt: Date | null;
  readonly status: Record<string, unknown> | null;
  /** What freshness counts from (stored with each status; what the list sorts by). */
  readonly oldestSuccessAt: Date | null;
  readonly revoked: boolean;
}

/** A `timestamptz` the store's connection reads back as ISO text, as a Date. */
const dateOrNull = (value: string | null): Date | null => (value === null ? null : new Date(value));

/** A stand-in hash so an unknown e-mail costs one scrypt like a known one. */
const DECOY_PASSWORD_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/**
 * The console's reads and its sessions (docs/hub.md, "The console"). Every site query takes the
 * user's vendor: a page can only ever list, show or act on that vendor's sites.
 */
export class ConsoleStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /** Checks e-mail and password (scrypt, a decoy for unknown e-mails); the user and sealed TOTP secret. */
  async checkPassword(
    email: string,
    password: string,
  ): Promise<{ user: ConsoleUser; totpSealed: string | null; totpLastStep: number | null } | undefined> {
    const row = await this.db
      .selectFrom('hub_users')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_users.vendor_id')
      .select([
        'hub_users.id',
        'hub_users.email',
        'hub_users.password_hash',
        'hub_users.revoked_at',
        'hub_users.totp_secret',
        'hub_users.totp_last_step',
        'hub_users.vendor_id',
        'hub_vendors.name as vendor',
      ])
      .where('hub_users.email', '=', email.trim().toLowerCase())
      .executeTakeFirst();
    const ok = passwordMatches(password, row?.password_hash ?? DECOY_PASSWORD_HASH);
    if (!row || !ok || row.revoked_at) return undefined;
    return {
      user: { id: row.id, email: row.email, vendorId: row.vendor_id, vendor: row.vendor },
      totpSealed: row.totp_secret,
      totpLastStep: row.totp_last_step === null ? null : Number(row.totp_last_step),
    };
  }

  /** Records a TOTP step as used; false when it (or a later one) was used already (a replayed code). */
  async useTotpStep(userId: string, step: number): Promise<boolean> {
    const result = await sql`UPDATE hub_users SET totp_last_step = ${step}
      WHERE id = ${userId} AND (totp_last_step IS NULL OR totp_last_step < ${step})`.execute(this.db);
    return Number(result.numAffectedRows ?? 0n) > 0;
  }

  /** A new session: the token goes into the cookie, only its hash into the table. */
  async createSession(
    userId: string,
    hours: number,
    now: Date,
  ): Promise<{ token: string; csrfToken: string }> {
    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('hub_console_sessions')
      .values({
        id: hashSecret(token),
        user_id: userId,
        csrf_token: csrfToken,
        created_at: now,
        expires_at: new Date(now.getTime() + hours * 3_600_000),
      })
      .execute();
    // Expired sessions are removed as new ones are made.
    await this.db.deleteFrom('hub_console_sessions').where('expires_at', '<', now.toISOString()).execute();
    return { token, csrfToken };
  }

  async session(token: string, now: Date): Promise<ConsoleSession | undefined> {
    const row = await this.db
      .selectFrom('hub_console_sessions')
      .innerJoin('hub_users', 'hub_users.id', 'hub_console_sessions.user_id')
      .innerJoin('hub_vendors', 'hub_vendors.id', 'hub_users.vendor_id')
      .select([
        'hub_users.id',
        'hub_users.email',
        'hub_users.vendor_id',
        'hub_users.revoked_at',
        'hub_vendors.name as vendor',
        'hub_console_sessions.csrf_token',
        'hub_console_sessions.expires_at',
      ])
      .where('hub_console_sessions.id', '=', hashSecret(token))
      .executeTakeFirst();
    if (!row || row.revoked_at || Date.parse(row.expires_at) <= now.getTime()) return undefined;
    return {
      user: { id: row.id, email: row.email, vendorId: row.vendor_id, vendor: row.vendor },
      csrfToken: row.csrf_token,
      expiresAt: new Date(row.expires_at),
    };
  }

  async endSession(token: string): Promise<void> {
    await this.db.deleteFrom('hub_console_sessions').where('id', '=', hashSecret(token)).execute();
  }

  /** One page of a vendor's sites, filtered and sorted in the database (10,000 sites stay cheap). */
  async sitesPage(query: {
    vendorId: string;
    search?: string;
    state?: 'online' | 'offline';
    sort: SiteSort;
    descending: boolean;
    page: number;
    pageSize: number;
  }): Promise<{ rows: SiteListRow[]; total: number }> {
    let base = this.db
      .selectFrom('hub_sites')
      .where('hub_sites.vendor_id', '=', query.vendorId)
      .where('hub_sites.purged_at', 'is', null);
    if (query.search) {
      const like = `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      base = base.where((eb) =>
        eb.or([
          eb('hub_sites.name', 'ilike', like),
          eb('hub_sites.id', 'ilike', like),
          eb('hub_sites.connector', 'ilike', like),
        ]),
      );
    }
    if (query.state === 'online') base = base.where('hub_sites.link_node', 'is not', null);
    if (query.state === 'offline') base = base.where('hub_sites.link_node', 'is', null);
    const total = Number(
      (await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n,
    );
    const direction = query.descending !== REVERSED_SORTS.has(query.sort) ? 'desc' : 'asc';
    const rows = await base
      .select([
        'hub_sites.id',
        'hub_sites.name',
        'hub_sites.connector',
        'hub_sites.agent_version',
        'hub_sites.link_node',
        'hub_sites.link_opened_at',
        'hub_sites.link_closed_at',
        'hub_sites.last_seen_at',
        'hub_sites.status_json',
        'hub_sites.oldest_success_at',
        'hub_sites.revoked_at',
      ])
      .orderBy(sql.ref(SITE_SORTS[query.sort]), sql.raw(`${direction} nulls last`))
      .orderBy('hub_sites.id', direction)
      .limit(query.pageSize)
      .offset((query.page - 1) * query.pageSize)
      .execute();
    return {
      total,
      rows: rows.map((r) => ({
        id: r.id,
        name: r.name,
        connector: r.connector,
        agentVersion: r.agent_version,
        online: r.link_node !== null,
        linkOpenedAt: dateOrNull(r.link_opened_at),
        linkClosedAt: dateOrNull(r.link_closed_at),
        lastSeenAt: dateOrNull(r.last_seen_at),
        status: r.status_json,
        oldestSuccessAt: dateOrNull(r.oldest_success_at),
        revoked: r.revoked_at !== null,
      })),
    };
  }

  /** Events stored since `since` per site (today's partition only: cheap). */
  async eventsSince(siteIds: readonly string[], since: Date): Promise<Map<string, number>> {
    if (siteIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('hub_events')
      .select(['site_id', (eb) => eb.fn.countAll<string>().as('n')])
      .where('site_id', 'in', [...siteIds])
      .where('received_at', '>=', since.toISOString())
      .groupBy('site_id')
      .execute();
    return new Map(rows.map((r) => [r.site_id, Number(r.n)]));
  }

  /** Writebacks not yet final, per site. */
  async openWritebacks(siteIds: readonly string[]): Promise<Map<string, number>> {
    if (siteIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('hub_writebacks')
      .select(['site_id', (eb) => eb.fn.countAll<string>().as('n')])
      .where('site_id', 'in', [...siteIds])
      .where('phase', '<>', 'done')
      .groupBy('site_id')
      .execute();
    return new Map(rows.map((r) => [r.site_id, Number(r.n)]));
  }

  /**
   * Webhook deliveries waiting (`pending`) and dead-lettered (`dead`) per site, from the delivery
   * tables the hub shares its database with: a delivery carries the hub connection id of its event,
   * and a connection belongs to one site. One grouped query per page of the list, over the
   * partial index `hub_deliveries_open_connection` (hub-delivery.ts), so delivered rows are never read.
   */
  async openDeliveries(siteIds: readonly string[]): Promise<Map<string, { pending: number; dead: number }>> {
    if (siteIds.length === 0) return new Map();
    const rows = await sql<{ site_id: string; pending: string; dead: string }>`
      SELECT c.site_id,
             count(*) FILTER (WHERE d.status = 'pending') AS pending,
             count(*) FILTER (WHERE d.status = 'dead') AS dead
        FROM hub_connections c
        JOIN deliveries d ON d.connection_id = c.id AND d.status IN ('pending', 'dead')
       WHERE c.site_id IN (${sql.join([...siteIds])})
       GROUP BY c.site_id`.execute(this.db);
    return new Map(rows.rows.map((r) => [r.site_id, { pending: Number(r.pending), dead: Number(r.dead) }]));
  }

  async recentWritebacks(siteId: string, limit: number) {
    return this.db
      .selectFrom('hub_writebacks')
      .select(['id', 'connection_id', 'command', 'status', 'phase', 'accepted_at', 'finished_at', 'result'])
      .where('site_id', '=', siteId)
      .orderBy('accepted_at', 'desc')
      .limit(limit)
      .execute();
  }

  /** A freshness sample (the link takes one per site every few minutes); samples older than 8 days go. */
  async recordFreshness(
    siteId: string,
    freshnessSeconds: number | null,
    health: string,
    quarantined: number | null,
    now: Date,
  ): Promise<void> {
    await this.db
      .insertInto('hub_site_freshness')
      .values({ site_id: siteId, at: now, freshness_seconds: freshnessSeconds, health, quarantined })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await this.db
      .deleteFrom('hub_site_freshness')
      .where('site_id', '=', siteId)
      .where('at', '<', new Date(now.getTime() - 8 * 86_400_000).toISOString())
      .execute();
  }

  async freshness(siteId: string, since: Date) {
    return this.db
      .selectFrom('hub_site_freshness')
      .select(['at', 'freshness_seconds', 'health'])
      .where('site_id', '=', siteId)
      .where('at', '>=', since.toISOString())
      .orderBy('at')
      .execute()
      .then((rows) => rows.map((row) => ({ ...row, at: new Date(row.at) })));
  }
}
