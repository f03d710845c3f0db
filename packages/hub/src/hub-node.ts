import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { TendrilError } from '@tendril/core';
import { createHubAdmin, type AdminHooks, type HubAdmin } from './admin.js';
import { startAdminEndpoint } from './api/admin-endpoint.js';
import { enrollRoutes } from './api/enroll-routes.js';
import { releaseRoutes } from './api/release-routes.js';
import { consoleRoutes } from './console/console-routes.js';
import { healthRoutes } from './api/health-routes.js';
import { vendorRoutes } from './api/vendor-routes.js';
import type { HubConfig } from './config.js';
import { generateAdminToken } from './credentials.js';
import { ensureConsoleKey } from './console/secret-box.js';
import { openHubDatabase, type HubDb, type HubStoreConfig } from './db/open-database.js';
import { acquireFolderLock, type FolderLock } from './folder-lock.js';
import type { HubContext } from './hub-context.js';
import { LinkServer } from './link/link-server.js';
import { LINK_CLOSE, LINK_PATH } from './link/protocol.js';
import type { HubLogger } from './logger.js';
import { DEFAULT_INTERVALS, Maintenance, type MaintenanceIntervals } from './maintenance.js';
import { SitePresence } from './presence.js';
import { UpgradeOutcomes } from './upgrade-outcomes.js';
import { HubAlerts } from './alerts.js';
import { runRemoteCommand } from './remote-commands.js';
import { ApiKeyStore } from './store/api-keys.js';
import { EventLog, type LoggedEvent } from './store/event-log.js';
import { SiteStore } from './store/sites.js';
import { SubscriptionStore } from './store/subscriptions.js';
import { HubDelivery } from './delivery/hub-delivery.js';
import { deliveryKey } from './delivery/sealed.js';
import { HubWritebackStore } from './store/writebacks.js';
import { HubCommandStore } from './store/commands.js';
import { ConsoleStore } from './store/console-store.js';
import { ReleaseStore } from './store/releases.js';

/** Files in the hub's data folder. */
export const HUB_FILES = {
  adminToken: 'admin-token',
  /** Where the running hub's admin endpoint listens (written at start, removed at stop). */
  adminEndpoint: 'admin.json',
} as const;

/** The store a config names: its own, or PGlite in `dataDir/db`. */
export function hubStoreOf(config: HubConfig): HubStoreConfig {
  return config.store ?? { pglite: join(config.dataDir, 'db') };
}

/** The lock file of a PGlite store (beside its folder, which PGlite owns). */
export function pgliteLockFile(store: { pglite: string }): string {
  return `${store.pglite.replace(/[\\/]+$/, '')}.lock`;
}

/** The admin token of a data folder, created (mode 0600) on first start. */
export function ensureAdminToken(dataDir: string): string {
  const file = join(dataDir, HUB_FILES.adminToken);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const token = generateAdminToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return token;
  }
}

export interface HubNodeOptions {
  /** Validated, with paths already resolved against the config file's folder. */
  readonly config: HubConfig;
  readonly logger: HubLogger;
  readonly version: string;
  readonly nodeId?: string;
  readonly intervals?: Partial<MaintenanceIntervals>;
  /** Called with every batch of new log entries (webhook delivery). */
  readonly onStored?: (events: readonly LoggedEvent[]) => void;
  readonly now?: () => Date;
  /** Connector ids the console's enrollment form offers (the agent's registry). */
  readonly connectors?: readonly string[];
}

export interface HubNode {
  /** Base URL of the public listener (`http://127.0.0.1:8443`). */
  readonly url: string;
  readonly adminUrl: string;
  readonly nodeId: string;
  readonly context: HubContext;
  readonly links: LinkServer;
  readonly admin: HubAdmin;
  readonly app: FastifyInstance;
  stop(): Promise<void>;
}

/** Opens the stores over a database (shared by a running node and the admin commands' direct path). */
export function hubStores(hubDb: HubDb) {
  return {
    sites: new SiteStore(hubDb.db),
    keys: new ApiKeyStore(hubDb.db),
    events: new EventLog(hubDb.db),
    writebacks: new HubWritebackStore(hubDb.db),
    commands: new HubCommandStore(hubDb.db),
    console: new ConsoleStore(hubDb.db),
    releases: new ReleaseStore(hubDb.db),
  };
}

/**
 * Starts one hub node: its database (migrated; a PGlite folder locked to this process), the public
 * listener (vendor API, enrollment, health, and the agent link upgrade on /v1/agent/link), the
 * loopback admin endpoint, the cluster wake-ups (LISTEN/NOTIFY) and the periodic jobs.
 */
export async function startHubNode(options: HubNodeOptions): Promise<HubNode> {
  const { config, logger } = options;
  const now = options.now ?? (() => new Date());
  const nodeId = options.nodeId ?? `node-${randomBytes(6).toString('hex')}`;
  const log = logger.child({ node: nodeId });
  mkdirSync(config.dataDir, { recursive: true });
  const store = hubStoreOf(config);
  let lock: FolderLock | undefined;
  if ('pglite' in store) lock = acquireFolderLock(pgliteLockFile(store), `the hub database ${store.pglite}`);
  let hubDb: HubDb;
  try {
    hubDb = await openHubDatabase(store);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const token = ensureAdminToken(config.dataDir);
  const consoleKey = ensureConsoleKey(config.dataDir);
  const stores = hubStores(hubDb);
  let state: 'starting' | 'running' | 'stopping' = 'starting';
  let sealingKey: Buffer;
  try {
    sealingKey = deliveryKey(config.dataDir, config.delivery.secretKey);
  } catch (error) {
    await hubDb.close();
    lock?.release();
    throw error;
  }
  const subscriptions = new SubscriptionStore(hubDb.db, () => sealingKey);
  const delivery = new HubDelivery({
    hubDb,
    config,
    events: stores.events,
    subscriptions,
    logger: log,
    nodeId,
    now,
  });
  // New log entries wake the fan-out to webhook delivery at once (docs/hub.md, "Webhooks from the hub").
  const onStored = (events: readonly LoggedEvent[]) => {
    options.onStored?.(events);
    delivery.wake();
  };
  // Set once the node listens; until then only this node counts as alive.
  const jobs: { maintenance?: Maintenance } = {};
  const alerts = new HubAlerts(hubDb.db, stores.events, (events) => onStored(events));
  const presence = new SitePresence(stores.sites, stores.events, (events) => onStored(events), alerts);
  const context: HubContext = {
    config,
    nodeId,
    version: options.version,
    hubDb,
    ...stores,
    consoleKey,
    alerts,
    presence,
    subscriptions,
    delivery,
    logger: log,
    liveNodes: async () => (jobs.maintenance ? jobs.maintenance.liveNodes() : new Set([nodeId])),
    onStored,
    now,
  };
  const links = new LinkServer({
    nodeId,
    sites: stores.sites,
    events: stores.events,
    writebacks: stores.writebacks,
    commands: stores.commands,
    console: stores.console,
    presence,
    upgrades: new UpgradeOutcomes(hubDb.db, stores.events, alerts, (events) => onStored(events)),
    notify: (payload) => hubDb.notify(payload),
    logger: log,
    settings: config.link,
    onStored,
    now,
  });
  const hooks: AdminHooks = {
    async siteRevoked(siteId) {
      links.closeSite(siteId, LINK_CLOSE.revoked, 'the site was revoked on the hub');
      await hubDb.notify({ kind: 'site-revoked', siteId, node: nodeId }).catch(() => undefined);
    },
    async rotateCredential(siteId) {
      if (await links.rotateCredential(siteId)) return 'sent';
      const site = await stores.sites.getSite(siteId);
      if (!site?.linkNode) return 'not-linked';
      await hubDb.notify({ kind: 'rotate', siteId, node: nodeId });
      return 'requested';
    },
    runCommand(request) {
      return runRemoteCommand(
        {
          sites: stores.sites,
          commands: stores.commands,
          pushLocal: (siteId) => links.pushCommands(siteId),
          notify: (payload) => hubDb.notify({ ...payload, node: nodeId }),
          now,
        },
        request,
      );
    },
  };
  const admin = createHubAdmin(context, hooks);

  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (config.tls) {
    try {
      tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
    } catch (cause) {
      await hubDb.close();
      lock?.release();
      throw new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `tls: cannot read ${config.tls.cert} or ${config.tls.key}`,
        { cause },
      );
    }
  }
  const app = (tls
    ? Fastify({ logger: false, https: tls })
    : Fastify({ logger: false })) as unknown as FastifyInstance;
  void app.register(
    healthRoutes(context, {
      state: () => state,
      links: () => links.size,
      counters: () => links.counters,
    }),
  );
  void app.register(vendorRoutes(context));
  void app.register(enrollRoutes(context, hooks));
  void app.register(releaseRoutes(context));
  if (config.console.enabled)
    void app.register(
      consoleRoutes(context, {
        connectors: options.connectors ?? [],
        runCommand: (request) => hooks.runCommand(request),
      }),
    );
  app.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === LINK_PATH) links.handleUpgrade(request, socket, head);
    else socket.destroy();
  });

  // Wake-ups from other nodes (and this one): the tables stay the truth, a lost notice costs one sweep.
  await hubDb.listen((payload) => {
    if (payload['kind'] === 'subscriptions') {
      delivery.wake({ subscriptions: true });
      return;
    }
    const siteId = typeof payload['siteId'] === 'string' ? payload['siteId'] : undefined;
    if (!siteId) return;
    switch (payload['kind']) {
      case 'writeback':
        void links.pushWritebacks(siteId).catch(() => undefined);
        return;
      case 'site-revoked':
        links.closeSite(siteId, LINK_CLOSE.revoked, 'the site was revoked on the hub');
        return;
      case 'link-opened':
        if (payload['node'] !== nodeId)
          links.closeSite(
            siteId,
            LINK_CLOSE.replaced,
            'a newer link of this site opened on another node',
            Number(payload['at']),
          );
        return;
      case 'command':
        void links.pushCommands(siteId).catch(() => undefined);
        return;
      case 'rotate':
        if (payload['node'] !== nodeId) void links.rotateCredential(siteId).catch(() => undefined);
        return;
      default:
        return;
    }
  });

  let url: string;
  let adminEndpoint: Awaited<ReturnType<typeof startAdminEndpoint>>;
  try {
    url = await app.listen({ host: config.listen.host, port: config.listen.port });
    adminEndpoint = await startAdminEndpoint({ admin, token, logger: log });
  } catch (error) {
    await links.stop();
    await app.close().catch(() => undefined);
    await hubDb.close();
    lock?.release();
    throw error;
  }
  const adminFile = join(config.dataDir, HUB_FILES.adminEndpoint);
  writeFileSync(adminFile, JSON.stringify({ url: adminEndpoint.url, pid: process.pid, nodeId }), {
    mode: 0o600,
  });
  const maintenance = new Maintenance(context, links, { ...DEFAULT_INTERVALS, ...options.intervals });
  jobs.maintenance = maintenance;
  await maintenance.start();
  try {
    await delivery.start();
  } catch (error) {
    maintenance.stop();
    await links.stop();
    await app.close().catch(() => undefined);
    await adminEndpoint.close().catch(() => undefined);
    rmSync(adminFile, { force: true });
    await hubDb.close();
    lock?.release();
    throw error;
  }
  state = 'running';
  log.info({ event: 'hub.started', url, store: hubDb.kind }, 'hub node running');

  let stopping: Promise<void> | undefined;
  return {
    url,
    adminUrl: adminEndpoint.url,
    nodeId,
    context,
    links,
    admin,
    app,
    stop() {
      stopping ??= (async () => {
        state = 'stopping';
        maintenance.stop();
        await links.stop();
        await app.close().catch(() => undefined);
        await adminEndpoint.close().catch(() => undefined);
        await delivery.stop().catch(() => undefined);
        rmSync(adminFile, { force: true });
        await hubDb.db
          .deleteFrom('hub_nodes')
          .where('id', '=', nodeId)
          .execute()
          .catch(() => undefined);
        await hubDb.close();
        lock?.release();
        log.info({ event: 'hub.stopped' }, 'hub node stopped');
      })();
      return stopping;
    },
  };
}
