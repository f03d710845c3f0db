import { ALERT_KINDS, type HubAlerts } from './alerts.js';
import type { EventLog, LoggedEvent } from './store/event-log.js';
import type { SiteStore } from './store/sites.js';

/** Site events vendors can subscribe to (docs/hub.md). */
export const SITE_EVENT_TYPES = ['site.online', 'site.offline', 'site.degraded', 'site.recovered'] as const;
export type SiteEventType = (typeof SITE_EVENT_TYPES)[number];

/**
 * Announces a site's presence and health to its vendor as events in the site's log. Each change
 * is announced once across all nodes: the row's state moves first (only one node's update
 * changes it), and only that node appends the event.
 */
export class SitePresence {
  constructor(
    private readonly sites: SiteStore,
    private readonly events: EventLog,
    private readonly onStored: (events: readonly LoggedEvent[]) => void,
    /** Offline and degraded sites are alerts too (docs/hub.md, "Alerts"), opened and resolved with the events. */
    private readonly alerts?: HubAlerts,
  ) {}

  /** A link opened: `site.online` unless vendors already know it is online (a reconnect within the grace). */
  async opened(siteId: string, now: Date): Promise<void> {
    if (await this.sites.transition(siteId, 'presence', ['never', 'offline'], 'online')) {
      await this.announce(siteId, 'site.online', { presence: 'online' }, now);
      await this.alerts?.resolve(siteId, ALERT_KINDS.siteOffline, '', now);
    }
  }

  /** No link for `offlineAfterSeconds`: `site.offline`. */
  async offline(siteId: string, now: Date): Promise<void> {
    if (await this.sites.transition(siteId, 'presence', ['online'], 'offline')) {
      await this.announce(siteId, 'site.offline', { presence: 'offline' }, now);
      await this.alerts?.open(
        siteId,
        { kind: ALERT_KINDS.siteOffline, subject: '', message: 'the site has no link to its agent' },
        now,
      );
    }
  }

  /** The agent's reported health: `site.degraded` on the way down, `site.recovered` on the way back. */
  async health(siteId: string, health: 'ok' | 'degraded' | 'down', problems: readonly string[], now: Date) {
    if (health === 'ok') {
      if (await this.sites.transition(siteId, 'health', ['degraded'], 'ok')) {
        await this.announce(siteId, 'site.recovered', { health: 'ok' }, now);
        await this.alerts?.resolve(siteId, ALERT_KINDS.siteDegraded, '', now);
      }
    } else if (await this.sites.transition(siteId, 'health', ['ok'], 'degraded')) {
      await this.announce(siteId, 'site.degraded', { health, problems: problems.slice(0, 20) }, now);
      await this.alerts?.open(
        siteId,
        {
          kind: ALERT_KINDS.siteDegraded,
          subject: '',
          message:
            `the agent reports ${health}${problems.length > 0 ? `: ${problems.slice(0, 3).join('; ')}` : ''}`.slice(
              0,
              1000,
            ),
        },
        now,
      );
    }
  }

  private async announce(siteId: string, type: SiteEventType, data: Record<string, unknown>, now: Date) {
    const stored = await this.events.appendSiteEvent(
      siteId,
      { type, data: { siteId, ...data, at: now.toISOString() } },
      now,
    );
    if (stored) this.onStored([stored]);
  }
}
