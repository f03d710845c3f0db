import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { OutputFormat, SubscriptionConfig } from '@tendril/core';
import type { DeliveryRoute } from '@tendril/store';
import type { HubDatabase } from '../db/schema.js';
import { seal, unseal } from '../delivery/sealed.js';
import type { VendorPrincipal } from './api-keys.js';

/** How long the previous secret keeps signing after a rotation (docs/delivery.md, "Signing"). */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

/** A new Standard Webhooks secret: `whsec_` and base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A vendor's subscription as the API shows it: never a secret, never the API key's value. */
export interface SubscriptionView {
  readonly id: string;
  readonly url: string;
  readonly allowInsecure: boolean;
  readonly format: OutputFormat;
  readonly sites: '*' | string[];
  readonly resourceTypes: string[];
  readonly eventTypes: string[];
  readonly apiKeyHeader: string | null;
  readonly policy: Record<string, unknown> | null;
  readonly timeoutSeconds: number;
  readonly enabled: boolean;
  readonly disableOn410: boolean;
  /** How many signing secrets are live (two during a rotation). */
  readonly secrets: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What a subscription is made of, validated (subscription-routes.ts). */
export interface SubscriptionFields {
  readonly url: string;
  readonly allowInsecure: boolean;
  readonly format: OutputFormat;
  readonly sites: '*' | readonly string[];
  readonly resourceTypes: readonly string[];
  readonly eventTypes: readonly string[];
  readonly apiKey?: { readonly header: string; readonly value: string } | null;
  readonly policy?: Record<string, unknown> | null;
  readonly timeoutSeconds: number;
  readonly enabled: boolean;
  readonly disableOn410: boolean;
}

type Secret = { secret: string; notAfter?: string };

/** An enabled subscription with what delivery needs (secrets opened): the dispatcher's and the fan-out's view. */
export interface ActiveSubscription {
  readonly vendorId: string;
  readonly allSites: boolean;
  readonly siteIds: readonly string[];
  /** In the agent config's shape, so the delivery package resolves it as it does the agent's. */
  readonly config: SubscriptionConfig;
}

type Row = Awaited<ReturnType<SubscriptionStore['row']>>;

function view(row: NonNullable<Row>, secrets: number): SubscriptionView {
  return {
    id: row.id,
    url: row.url,
    allowInsecure: row.allow_insecure,
    format: row.format,
    sites: row.all_sites ? '*' : row.site_ids,
    resourceTypes: row.resource_types,
    eventTypes: row.event_types,
    apiKeyHeader: row.api_key_sealed === null ? null : row.api_key_header,
    policy: row.policy,
    timeoutSeconds: row.timeout_seconds,
    enabled: row.enabled,
    disableOn410: row.disable_on_410,
    secrets,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Vendors' webhook subscriptions (docs/hub.md, "Webhooks from the hub"). Secrets and API key values are sealed
 * with the hub's delivery key (AES-256-GCM, bound to the subscription id) and shown once, at
 * creation or rotation. A subscription belongs to its vendor; a key narrowed to some sites sees
 * only the subscriptions within them.
 */
export class SubscriptionStore {
  constructor(
    private readonly db: Kysely<HubDatabase>,
    private readonly key: () => Buffer,
  ) {}

  async row(id: string) {
    const row = await this.db
      .selectFrom('hub_subscriptions')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    const apiKey = row.api_key_sealed
      ? (JSON.parse(unseal(this.key(), row.id, row.api_key_sealed)) as { header: string; value: string })
      : undefined;
    return { ...row, api_key_header: apiKey?.header ?? null };
  }

  #secrets(id: string, sealed: string): Secret[] {
    return JSON.parse(unseal(this.key(), id, sealed)) as Secret[];
  }

  /** Whether this key may see (and manage) a subscription. */
  static visible(
    principal: VendorPrincipal,
    row: { vendor_id: string; all_sites: boolean; site_ids: string[] },
  ) {
    if (row.vendor_id !== principal.vendorId) return false;
    if (principal.sites === '*') return true;
    const sites = principal.sites;
    return !row.all_sites && row.site_ids.every((id) => sites.includes(id));
  }

  async get(principal: VendorPrincipal, id: string): Promise<SubscriptionView | undefined> {
    const row = await this.row(id);
    if (!row || !SubscriptionStore.visible(principal, row)) return undefined;
    return view(row, this.#secrets(row.id, row.secrets_sealed).length);
  }

  async list(principal: VendorPrincipal): Promise<SubscriptionView[]> {
    const rows = await this.db
      .selectFrom('hub_subscriptions')
      .select('id')
      .where('vendor_id', '=', principal.vendorId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const views: SubscriptionView[] = [];
    for (const { id } of rows) {
      const found = await this.get(principal, id);
      if (found) views.push(found);
    }
    return views;
  }

  /** Creates a subscription; returns it with its first secret (the only time the secret is shown). */
  async create(
    principal: VendorPrincipal,
    fields: SubscriptionFields,
    now: Date,
  ): Promise<{ view: SubscriptionView; secret: string }> {
    const id = `sub_${randomBytes(12).toString('hex')}`;
    const secret = newWebhookSecret();
    const key = this.key();
    await this.db
      .insertInto('hub_subscriptions')
      .values({
        id,
        vendor_id: principal.vendorId,
        key_id: principal.keyId,
        url: fields.url,
        allow_insecure: fields.allowInsecure,
        format: fields.format,
        all_sites: fields.sites === '*',
        site_ids: JSON.stringify(fields.sites === '*' ? [] : fields.sites),
        resource_types: JSON.stringify(fields.resourceTypes),
        event_types: JSON.stringify(fields.eventTypes),
        secrets_sealed: seal(key, id, JSON.stringify([{ secret }])),
        api_key_sealed: fields.apiKey ? seal(key, id, JSON.stringify(fields.apiKey)) : null,
        policy: fields.policy ? JSON.stringify(fields.policy) : null,
        timeout_seconds: fields.timeoutSeconds,
        enabled: fields.enabled,
        disable_on_410: fields.disableOn410,
        created_at: now,
        updated_at: now,
        deleted_at: null,
      })
      .execute();
    return { view: (await this.get(principal, id))!, secret };
  }

  /**
   * Changes a subscription (only the fields given). `rotateSecret` adds a new secret and lets the
   * current ones sign for {@link ROTATION_OVERLAP_MS} more (both signatures are sent meanwhile).
   */
  async update(
    principal: VendorPrincipal,
    id: string,
    fields: Partial<SubscriptionFields> & { rotateSecret?: boolean },
    now: Date,
  ): Promise<{ view: SubscriptionView; secret?: string } | undefined> {
    const row = await this.row(id);
    if (!row || !SubscriptionStore.visible(principal, row)) return undefined;
    const key = this.key();
    let secret: string | undefined;
    let secretsSealed: string | undefined;
    if (fields.rotateSecret) {
      secret = newWebhookSecret();
      const until = new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString();
      const kept = this.#secrets(id, row.secrets_sealed)
        .filter((s) => s.notAfter === undefined || Date.parse(s.notAfter) > now.getTime())
        .map((s) => ({ secret: s.secret, notAfter: s.notAfter ?? until }));
      secretsSealed = seal(key, id, JSON.stringify([...kept, { secret }]));
    }
    await this.db
      .updateTable('hub_subscriptions')
      .set({
        ...(fields.url !== undefined ? { url: fields.url } : {}),
        ...(fields.allowInsecure !== undefined ? { allow_insecure: fields.allowInsecure } : {}),
        ...(fields.format !== undefined ? { format: fields.format } : {}),
        ...(fields.sites !== undefined
          ? {
              all_sites: fields.sites === '*',
              site_ids: JSON.stringify(fields.sites === '*' ? [] : fields.sites),
            }
          : {}),
        ...(fields.resourceTypes !== undefined
          ? { resource_types: JSON.stringify(fields.resourceTypes) }
          : {}),
        ...(fields.eventTypes !== undefined ? { event_types: JSON.stringify(fields.eventTypes) } : {}),
        ...(fields.apiKey !== undefined
          ? { api_key_sealed: fields.apiKey ? seal(key, id, JSON.stringify(fields.apiKey)) : null }
          : {}),
        ...(fields.policy !== undefined
          ? { policy: fields.policy ? JSON.stringify(fields.policy) : null }
          : {}),
        ...(fields.timeoutSeconds !== undefined ? { timeout_seconds: fields.timeoutSeconds } : {}),
        ...(fields.enabled !== undefined ? { enabled: fields.enabled } : {}),
        ...(fields.disableOn410 !== undefined ? { disable_on_410: fields.disableOn410 } : {}),
        ...(secretsSealed !== undefined ? { secrets_sealed: secretsSealed } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    const updated = (await this.get(principal, id))!;
    return secret === undefined ? { view: updated } : { view: updated, secret };
  }

  /** Deletes a subscription: nothing more is queued for it or sent to it. */
  async remove(principal: VendorPrincipal, id: string, now: Date): Promise<boolean> {
    const row = await this.row(id);
    if (!row || !SubscriptionStore.visible(principal, row)) return false;
    await this.db
      .updateTable('hub_subscriptions')
      .set({ deleted_at: now, updated_at: now })
      .where('id', '=', id)
      .execute();
    return true;
  }

  /** The current fields of a visible subscription (PATCH validates the merged result as a whole). */
  async fields(principal: VendorPrincipal, id: string): Promise<SubscriptionFields | undefined> {
    const row = await this.row(id);
    if (!row || !SubscriptionStore.visible(principal, row)) return undefined;
    const apiKey = row.api_key_sealed
      ? (JSON.parse(unseal(this.key(), row.id, row.api_key_sealed)) as { header: string; value: string })
      : null;
    return {
      url: row.url,
      allowInsecure: row.allow_insecure,
      format: row.format,
      sites: row.all_sites ? '*' : row.site_ids,
      resourceTypes: row.resource_types,
      eventTypes: row.event_types,
      apiKey,
      policy: row.policy,
      timeoutSeconds: row.timeout_seconds,
      enabled: row.enabled,
      disableOn410: row.disable_on_410,
    };
  }

  /** Every subscription not deleted, secrets opened, for the dispatcher and the fan-out. */
  async active(): Promise<ActiveSubscription[]> {
    const rows = await this.db
      .selectFrom('hub_subscriptions')
      .selectAll()
      .where('deleted_at', 'is', null)
      .orderBy('id')
      .execute();
    const key = this.key();
    return rows.map((row) => {
      const secrets = JSON.parse(unseal(key, row.id, row.secrets_sealed)) as Secret[];
      const apiKey = row.api_key_sealed
        ? (JSON.parse(unseal(key, row.id, row.api_key_sealed)) as { header: string; value: string })
        : undefined;
      return {
        vendorId: row.vendor_id,
        allSites: row.all_sites,
        siteIds: row.site_ids,
        config: {
          id: row.id,
          url: row.url,
          allowInsecure: row.allow_insecure,
          format: row.format,
          connectionIds: [],
          resourceTypes: row.resource_types,
          eventTypes: row.event_types,
          ...(apiKey ? { apiKey } : {}),
          secrets,
          ...(row.policy ? { policy: row.policy } : {}),
          timeoutSeconds: row.timeout_seconds,
          enabled: row.enabled,
          disableOn410: row.disable_on_410,
        },
      };
    });
  }
}

/**
 * The routes of one site's events: the enabled subscriptions of its vendor that cover it. Each
 * route matches any connection because only this site's events are routed with it.
 */
export function routesForSite(
  subscriptions: readonly ActiveSubscription[],
  site: { id: string; vendorId: string },
): DeliveryRoute[] {
  return subscriptions
    .filter(
      (s) => s.config.enabled && s.vendorId === site.vendorId && (s.allSites || s.siteIds.includes(site.id)),
    )
    .map((s) => ({
      subscriptionId: s.config.id,
      connectionIds: [],
      resourceTypes: s.config.resourceTypes,
      eventTypes: s.config.eventTypes,
    }));
}
