import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { ensureHubDeliveryIndexes } from '../db/migrations.js';
import type { ChangeKind, ReferenceSourceIds, StoredEvent } from '@tendril/core';
import { createDispatcher, resolveSubscriptions, type Dispatcher } from '@tendril/delivery';
import { openPostgresStore, type Store, type StoreTables } from '@tendril/store';
import type { HubConfig } from '../config.js';
import type { HubDb } from '../db/open-database.js';
import type { HubLogger } from '../logger.js';
import type { EventLog, LoggedEvent } from '../store/event-log.js';
import { routesForSite, type ActiveSubscription, type SubscriptionStore } from '../store/subscriptions.js';

/** Log entries handed to delivery per transaction. */
const FANOUT_PAGE = 500;
/** How often the subscriptions are read again when no change was announced (another node's, a lost notice). */
const RELOAD_MS = 5000;

/** The outbox stream of a site's log in the delivery store. */
export const siteStream = (siteId: string) => `site:${siteId}`;

function storedEvent(entry: LoggedEvent): StoredEvent {
  return {
    envelope: entry.envelope as StoredEvent['envelope'],
    kind: entry.kind as ChangeKind,
    sourceId: entry.sourceId,
    connectorId: entry.connectorId,
    refs: entry.refs as ReferenceSourceIds,
  };
}

export interface HubDeliveryOptions {
  readonly hubDb: HubDb;
  readonly config: HubConfig;
  readonly events: EventLog;
  readonly subscriptions: SubscriptionStore;
  readonly logger: HubLogger;
  readonly nodeId: string;
  readonly now: () => Date;
}

/**
 * Webhook delivery from the hub (docs/hub.md, "Webhooks from the hub"): the agent's delivery, reused whole.
 * The store's delivery half runs on the hub's own database (its tables beside the hub's, one pool
 * and so one session on PGlite), and the agent's dispatcher sends from it with the same signing,
 * SNS retry policy, per-resource order, dead letters and probes.
 *
 * Between the event log and that queue sits the fan-out: for each site whose log has grown past
 * its fan-out position (`hub_fanout`), the new entries go to `enqueueFromLog` with the routes of
 * the subscriptions that cover the site, as read now, and the position moves on. The queue write
 * is once per event id whoever does it, so a node that dies before saving the position, or two
 * nodes fanning out one site together, never queue an event twice. Subscriptions are read again
 * on every change (this node's API, or another node's notice) and every few seconds.
 */
export class HubDelivery {
  readonly store: Store;
  readonly #options: HubDeliveryOptions;
  readonly #log: HubLogger;
  #dispatcher: Dispatcher | undefined;
  #active: ActiveSubscription[] = [];
  #loadedAt = 0;
  #stopping = false;
  #wake: AbortController = new AbortController();
  #loop: Promise<void> | undefined;
  #dirty = true;

  constructor(options: HubDeliveryOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'delivery' });
    // The hub's own kysely (made by createPostgresKysely): the store shares its pool.
    this.store = openPostgresStore(options.hubDb.db as unknown as Kysely<StoreTables>);
  }

  /** Creates the delivery tables if needed, reads the subscriptions and starts sending. */
  async start(): Promise<void> {
    await this.store.migrate();
    await ensureHubDeliveryIndexes(this.#options.hubDb.db);
    await this.reload();
    const settings = this.#options.config.delivery;
    this.#dispatcher = createDispatcher({
      store: this.store,
      subscriptions: this.#resolved(),
      logger: this.#log,
      settings,
      owner: `${this.#options.nodeId}:${process.pid}`,
      idleMs: Math.min(1000, settings.leaseSeconds * 1000),
    });
    this.#dispatcher.start();
    this.#loop = this.#run();
  }

  #resolved() {
    const delivery = this.#options.config.delivery;
    return resolveSubscriptions({
      subscriptions: this.#active.map((s) => s.config),
      delivery,
    });
  }

  /** Reads the subscriptions again and hands them to the dispatcher. */
  async reload(): Promise<void> {
    this.#active = await this.#options.subscriptions.active();
    this.#loadedAt = Date.now();
    this.#dirty = false;
    this.#dispatcher?.setSubscriptions(this.#resolved());
  }

  /** New log entries, or a subscription change (`subscriptions: true`): fan out now rather than at the next sweep. */
  wake(change: { subscriptions?: boolean } = {}): void {
    if (change.subscriptions) this.#dirty = true;
    this.#wake.abort();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        if (this.#dirty || Date.now() - this.#loadedAt >= RELOAD_MS) await this.reload();
        await this.fanOut();
      } catch (error) {
        this.#log.error(
          { event: 'hub.fanout_failed', code: (error as { code?: unknown }).code ?? 'unknown' },
          'handing log entries to webhook delivery failed; retrying',
        );
      }
      if (this.#stopping) break;
      const wake = this.#wake;
      await sleep(this.#options.config.delivery.fanoutMs, undefined, { signal: wake.signal }).catch(
        () => undefined,
      );
      if (wake.signal.aborted) this.#wake = new AbortController();
    }
  }

  /** One pass: every site with log entries not yet handed to delivery. Returns how many were queued. */
  async fanOut(): Promise<number> {
    const db = this.#options.hubDb.db;
    const behind = await db
      .selectFrom('hub_sites as s')
      .leftJoin('hub_fanout as f', 'f.site_id', 's.id')
      .select([
        's.id',
        's.vendor_id',
        's.last_event_seq',
        (eb) => eb.fn.coalesce('f.seq', eb.lit(0)).as('seq'),
      ])
      .where('s.purged_at', 'is', null)
      .where((eb) => eb('s.last_event_seq', '>', eb.fn.coalesce('f.seq', eb.lit(0))))
      .orderBy('s.id')
      .execute();
    let queued = 0;
    for (const site of behind) {
      const routes = routesForSite(this.#active, { id: site.id, vendorId: site.vendor_id });
      // Nothing subscribes to this site: the position moves to the end of its log, and no entry is
      // read or copied.
      if (routes.length === 0) {
        await this.#saveFanout(site.id, Number(site.last_event_seq));
        continue;
      }
      let after = Number(site.seq);
      while (!this.#stopping) {
        const entries = await this.#options.events.list(site.id, after, FANOUT_PAGE);
        if (entries.length === 0) break;
        const result = await this.store.deliveries.enqueueFromLog({
          stream: siteStream(site.id),
          events: entries.map((entry) => ({ position: entry.siteSeq, event: storedEvent(entry) })),
          routes,
          nowMs: this.#options.now().getTime(),
        });
        queued += result.deliveries;
        after = entries.at(-1)!.siteSeq;
        await this.#saveFanout(site.id, after);
        if (entries.length < FANOUT_PAGE) break;
      }
    }
    return queued;
  }

  async #saveFanout(siteId: string, seq: number): Promise<void> {
    await this.#options.hubDb.db
      .insertInto('hub_fanout')
      .values({ site_id: siteId, seq })
      .onConflict((oc) =>
        oc.column('site_id').doUpdateSet((eb) => ({
          seq: eb.fn('greatest', [eb.ref('hub_fanout.seq'), eb.ref('excluded.seq')]),
        })),
      )
      .execute();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake.abort();
    await this.#loop?.catch(() => undefined);
    await this.#dispatcher?.stop({ graceMs: 2000 });
    await this.store.close();
  }
}
