import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TendrilError } from '@tendril/core';
import {
  acquireFolderLock,
  createHubAdmin,
  ensureConsoleKey,
  HUB_FILES,
  hubStoreOf,
  hubStores,
  openHubDatabase,
  pgliteLockFile,
  runRemoteCommand,
  type HubConfig,
} from '@tendril/hub';

/**
 * Runs one admin operation: through the running hub's loopback admin endpoint when one answers
 * (the only safe way while a hub holds a PGlite folder), else directly on the store — for PGlite
 * only after taking its folder lock, so a hub that is running but not answering is never bypassed.
 */
export async function runHubAdmin(
  config: HubConfig,
  operation: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const endpointFile = join(config.dataDir, HUB_FILES.adminEndpoint);
  if (existsSync(endpointFile)) {
    let url: string | undefined;
    let token: string | undefined;
    try {
      url = (JSON.parse(readFileSync(endpointFile, 'utf8')) as { url?: string }).url;
      token = readFileSync(join(config.dataDir, HUB_FILES.adminToken), 'utf8').trim();
    } catch {
      url = undefined;
    }
    if (url && token) {
      let response: Response | undefined;
      try {
        response = await fetch(`${url}/admin/v1/${operation}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(args),
          signal: AbortSignal.timeout(90_000),
        });
      } catch {
        response = undefined; // nothing listens there: a hub that stopped without cleaning up
      }
      if (response) {
        const body = (await response.json()) as {
          ok?: boolean;
          result?: unknown;
          code?: string;
          message?: string;
        };
        if (body.ok) return body.result;
        throw new TendrilError(
          body.code === 'TENDRIL_E_USAGE' ? 'TENDRIL_E_USAGE' : 'TENDRIL_E_INTERNAL',
          body.message ?? `the hub answered ${response.status}`,
        );
      }
    }
  }
  const store = hubStoreOf(config);
  const lock =
    'pglite' in store
      ? acquireFolderLock(pgliteLockFile(store), `the hub database ${store.pglite}`)
      : undefined;
  try {
    const hubDb = await openHubDatabase(store, { poolSize: 2 });
    try {
      const stores = hubStores(hubDb);
      const admin = createHubAdmin(
        { config, ...stores, consoleKey: ensureConsoleKey(config.dataDir), now: () => new Date() },
        {
          // Another node may hold the link (PostgreSQL): it closes it on this notice.
          async siteRevoked(siteId) {
            await hubDb.notify({ kind: 'site-revoked', siteId, node: 'admin' }).catch(() => undefined);
          },
          async rotateCredential(siteId) {
            const site = await stores.sites.getSite(siteId);
            if (!site?.linkNode) return 'not-linked';
            await hubDb.notify({ kind: 'rotate', siteId, node: 'admin' });
            return 'requested';
          },
          runCommand(request) {
            // No hub answers on this machine: a node elsewhere (PostgreSQL) may hold the link.
            return runRemoteCommand(
              {
                sites: stores.sites,
                commands: stores.commands,
                pushLocal: () => Promise.resolve(false),
                notify: (payload) => hubDb.notify({ ...payload, node: 'admin' }),
                now: () => new Date(),
              },
              request,
            );
          },
        },
      );
      return await admin.run(operation, args);
    } finally {
      await hubDb.close();
    }
  } finally {
    lock?.release();
  }
}
