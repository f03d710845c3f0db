import type { HubAlerts } from './alerts.js';
import type { HubConfig } from './config.js';
import type { HubDb } from './db/open-database.js';
import type { HubLogger } from './logger.js';
import type { SitePresence } from './presence.js';
import type { ApiKeyStore } from './store/api-keys.js';
import type { EventLog, LoggedEvent } from './store/event-log.js';
import type { HubDelivery } from './delivery/hub-delivery.js';
import type { SiteStore } from './store/sites.js';
import type { SubscriptionStore } from './store/subscriptions.js';
import type { HubWritebackStore } from './store/writebacks.js';
import type { HubCommandStore } from './store/commands.js';
import type { ConsoleStore } from './store/console-store.js';
import type { ReleaseStore } from './store/releases.js';

/** What every part of a hub node shares: its config, its database and stores, its identity. */
export interface HubContext {
  readonly config: HubConfig;
  readonly nodeId: string;
  readonly version: string;
  readonly hubDb: HubDb;
  readonly sites: SiteStore;
  readonly keys: ApiKeyStore;
  readonly events: EventLog;
  readonly writebacks: HubWritebackStore;
  readonly commands: HubCommandStore;
  readonly console: ConsoleStore;
  /** Agent releases this hub serves for remote upgrades. */
  readonly releases: ReleaseStore;
  /** Seals console users' TOTP secrets (console/secret-box.ts). */
  readonly consoleKey: Buffer;
  readonly presence: SitePresence;
  readonly subscriptions: SubscriptionStore;
  /** Webhook delivery of this node (absent until the node runs). */
  readonly delivery?: HubDelivery;
  readonly alerts: HubAlerts;
  readonly logger: HubLogger;
  /** Nodes whose heartbeat is recent (a link on another node counts only if that node is alive). */
  liveNodes(): Promise<ReadonlySet<string>>;
  /** Hands new log entries to webhook delivery. */
  readonly onStored: (events: readonly LoggedEvent[]) => void;
  now(): Date;
}
