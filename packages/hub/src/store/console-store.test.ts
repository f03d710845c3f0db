import type { StoredEvent } from '@tendril/core';
import { openPostgresStore, type Store, type StoreTables } from '@tendril/store';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHubDeliveryIndexes } from '../db/migrations.js';
import { openHubDatabase, type HubDb } from '../db/open-database.js';
import { hubStores } from '../hub-node.js';
import { HUB_BACKENDS } from '../test-support/databases.test-helper.js';

const T0 = new Date('2026-04-01T12:00:00Z');

/**
 * The console's sites list (docs/hub.md, "The console"): webhook deliveries waiting and
 * dead-lettered per site, counted from the delivery tables the hub shares its database with, and
 * the freshness sort over the column the link writes with each status.
 */
describe.each(HUB_BACKENDS)('console store on $name', (backend) => {
  let hubDb: HubDb;
  let drop: () => Promise<void>;
  let stores: ReturnType<typeof hubStores>;
  let delivery: Store;
  let vendorId: string;
  const sites: Record<'a' | 'b' | 'c', { id: string; connection: string }> = {
    a: { id: '', connection: '' },
    b: { id: '', connection: '' },
    c: { id: '', connection: '' },
  };

  const event = (id: string, connectionId: string, sequence: number): StoredEvent =>
    ({
      envelope: {
        id,
        type: 'patient.updated',
        occurredAt: T0.toISOString(),
        connectionId,
        resourceType: 'Patient',
        resourceId: `p-${id}`,
        sequence,
        data: {},
      },
      kind: 'updated',
      sourceId: id,
      connectorId: 'open-dental',
      refs: {},
    }) as unknown as StoredEvent;

  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    hubDb = await openHubDatabase(created.store);
    stores = hubStores(hubDb);
    for (const key of ['a', 'b', 'c'] as const) {
      const made = await stores.sites.createSite(
        { vendor: 'acme', name: `Practice ${key.toUpperCase()}`, connector: 'open-dental' },
        T0,
      );
      sites[key] = { id: made.site.id, connection: made.site.connectionIds[0]! };
      vendorId = made.site.vendorId;
    }
    delivery = openPostgresStore(hubDb.db as unknown as Kysely<StoreTables>);
    await delivery.migrate();
    await ensureHubDeliveryIndexes(hubDb.db);
  }, 60_000);
  afterAll(async () => {
    await hubDb?.close();
    await drop?.();
  });

  it('counts waiting and dead-lettered deliveries per site, never delivered ones', async () => {
    const routes = [
      { subscriptionId: 'sub-1', connectionIds: [], resourceTypes: [], eventTypes: [] },
      { subscriptionId: 'sub-2', connectionIds: [], resourceTypes: [], eventTypes: [] },
    ];
    await delivery.deliveries.enqueueFromLog({
      stream: `site:${sites.a.id}`,
      events: [1, 2, 3].map((n) => ({ position: n, event: event(`a${n}`, sites.a.connection, n) })),
      routes,
      nowMs: T0.getTime(),
    });
    await delivery.deliveries.enqueueFromLog({
      stream: `site:${sites.b.id}`,
      events: [{ position: 1, event: event('b1', sites.b.connection, 1) }],
      routes: routes.slice(0, 1),
      nowMs: T0.getTime(),
    });
    // Site A: of its six deliveries one was delivered and two dead-lettered (how rows get there is
    // the delivery store's, tested with it).
    await sql`UPDATE deliveries SET status = 'delivered' WHERE event_id = 'a1' AND subscription_id = 'sub-1'`.execute(
      hubDb.db,
    );
    await sql`UPDATE deliveries SET status = 'dead' WHERE event_id IN ('a2', 'a3') AND subscription_id = 'sub-2'`.execute(
      hubDb.db,
    );
    const counts = await stores.console.openDeliveries([sites.a.id, sites.b.id, sites.c.id]);
    expect(Object.fromEntries(counts)).toEqual({
      [sites.a.id]: { pending: 3, dead: 2 },
      [sites.b.id]: { pending: 1, dead: 0 },
    });
    expect(await stores.console.openDeliveries([])).toEqual(new Map());
  });

  it('sorts by freshness in the database: freshest first, sites with a stream never read last', async () => {
    const minutesAgo = (m: number) => new Date(T0.getTime() - m * 60_000);
    await stores.sites.saveStatus(sites.a.id, { health: 'ok' }, minutesAgo(30), T0);
    await stores.sites.saveStatus(sites.b.id, { health: 'ok' }, minutesAgo(2), T0);
    await stores.sites.saveStatus(sites.c.id, { health: 'ok' }, null, T0);
    const names = async (descending: boolean) =>
      (
        await stores.console.sitesPage({ vendorId, sort: 'freshness', descending, page: 1, pageSize: 50 })
      ).rows.map((r) => r.name);
    expect(await names(false)).toEqual(['Practice B', 'Practice A', 'Practice C']);
    expect(await names(true)).toEqual(['Practice A', 'Practice B', 'Practice C']);
  });
});
