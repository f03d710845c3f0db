import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_KINDS, HubAlerts } from './alerts.js';
import { openHubDatabase, type HubDb } from './db/open-database.js';
import { hubStores } from './hub-node.js';
import { SitePresence } from './presence.js';
import type { LoggedEvent } from './store/event-log.js';
import { HUB_BACKENDS } from './test-support/databases.test-helper.js';

const MIN = 60_000;

function status(streams: { stream: string; status: string; stale: boolean; lastSuccessAt: string | null }[]) {
  return {
    health: 'degraded',
    problems: [],
    connections: [
      {
        id: 'conn-1',
        streams: streams.map((s) => ({
          ...s,
          lagSeconds: null,
          lastErrorCode: s.status === 'unhealthy' ? 'TENDRIL_E_DB_AUTH' : null,
        })),
        pendingWritebacks: 0,
        outboxEvents: 0,
        quarantined: 0,
      },
    ],
  };
}

/**
 * Alerts (docs/hub.md, "Alerts"): each condition opens one alert when it starts and resolves it
 * once when it ends, never per evaluation, and each change is one event in the site's log.
 */
describe.each(HUB_BACKENDS)('hub alerts on $name', (backend) => {
  let hubDb: HubDb;
  let drop: () => Promise<void>;
  let stores: ReturnType<typeof hubStores>;
  let alerts: HubAlerts;
  let presence: SitePresence;
  const announced: LoggedEvent[] = [];
  let vendorId: string;
  let siteId: string;
  const t0 = new Date('2026-04-01T12:00:00Z');
  const at = (minutes: number) => new Date(t0.getTime() + minutes * MIN);
  const alertEvents = () =>
    announced
      .filter((e) => e.envelope.type.startsWith('alert.'))
      .map(
        (e) =>
          `${e.envelope.type}:${(e.envelope.data as { kind: string; subject: string }).kind}:${(e.envelope.data as { subject: string }).subject}`,
      );

  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    hubDb = await openHubDatabase(created.store);
    stores = hubStores(hubDb);
    alerts = new HubAlerts(hubDb.db, stores.events, (events) => announced.push(...events));
    presence = new SitePresence(stores.sites, stores.events, (events) => announced.push(...events), alerts);
    const site = await stores.sites.createSite(
      { vendor: 'acme', name: 'Alert Dental', connector: 'open-dental' },
      t0,
    );
    siteId = site.site.id;
    vendorId = site.site.vendorId;
  });
  afterAll(async () => {
    await hubDb?.close();
    await drop?.();
  });

  it('opens a stream alert after 30 minutes without a successful read, once, and resolves it once', async () => {
    const lastRead = at(0).toISOString();
    await stores.sites.saveStatus(
      siteId,
      status([
        { stream: 'patients', status: 'unhealthy', stale: true, lastSuccessAt: lastRead },
        { stream: 'appointments', status: 'healthy', stale: false, lastSuccessAt: at(29).toISOString() },
      ]),
      at(0),
      at(29),
    );
    await alerts.evaluate(at(20));
    expect(alertEvents()).toEqual([]);
    await alerts.evaluate(at(31));
    await alerts.evaluate(at(32));
    await alerts.evaluate(at(40));
    expect(alertEvents()).toEqual(['alert.opened:stream-unhealthy:conn-1/patients']);
    const open = await alerts.list({ vendorId, since: at(40), limit: 10 });
    expect(open.map((a) => [a.kind, a.subject, a.resolvedAt])).toEqual([
      ['stream-unhealthy', 'conn-1/patients', undefined],
    ]);
    expect(open[0]!.message).toContain('TENDRIL_E_DB_AUTH');

    await stores.sites.saveStatus(
      siteId,
      status([
        { stream: 'patients', status: 'healthy', stale: false, lastSuccessAt: at(41).toISOString() },
        { stream: 'appointments', status: 'healthy', stale: false, lastSuccessAt: at(41).toISOString() },
      ]),
      at(41),
      at(41),
    );
    await alerts.evaluate(at(42));
    await alerts.evaluate(at(43));
    expect(alertEvents()).toEqual([
      'alert.opened:stream-unhealthy:conn-1/patients',
      'alert.resolved:stream-unhealthy:conn-1/patients',
    ]);
    const after = await alerts.list({ vendorId, since: at(0), limit: 10 });
    expect(after[0]!.resolvedAt).toBe(at(42).toISOString());
  });

  it('opens and resolves offline and degraded with the presence events, once per change', async () => {
    announced.length = 0;
    await presence.opened(siteId, at(50));
    await presence.offline(siteId, at(60));
    await presence.offline(siteId, at(61));
    await presence.opened(siteId, at(70));
    await presence.health(siteId, 'degraded', ['conn-1: login refused'], at(71));
    await presence.health(siteId, 'degraded', ['conn-1: login refused'], at(72));
    await presence.health(siteId, 'ok', [], at(73));
    expect(alertEvents()).toEqual([
      'alert.opened:site-offline:',
      'alert.resolved:site-offline:',
      'alert.opened:site-degraded:',
      'alert.resolved:site-degraded:',
    ]);
  });

  it('raises quarantine growth and a writeback stuck in verifying', async () => {
    announced.length = 0;
    await stores.console.recordFreshness(siteId, 60, 'ok', 3, at(100));
    await stores.console.recordFreshness(siteId, 60, 'ok', 9, at(110));
    await hubDb.db
      .insertInto('hub_writebacks')
      .values({
        id: 'wb_stuck',
        vendor_id: vendorId,
        key_id: 'k',
        site_id: siteId,
        connection_id: 'conn-1',
        command: 'Appointment.book',
        idempotency_key: 'i-1',
        payload_hash: 'h',
        input: '{}',
        resource_type: 'Appointment',
        status: 'accepted',
        phase: 'verifying',
        accepted_at: at(100),
        deadline: at(200),
        sent_at: at(100),
        started_at: at(100),
        finished_at: null,
        result: null,
        updated_at: at(101),
      })
      .execute();
    await alerts.evaluate(at(112));
    await alerts.evaluate(at(113));
    expect(alertEvents().sort()).toEqual([
      'alert.opened:quarantine-growing:',
      'alert.opened:writeback-stuck:wb_stuck',
    ]);
    await hubDb.db
      .updateTable('hub_writebacks')
      .set({ phase: 'done', status: 'written' })
      .where('id', '=', 'wb_stuck')
      .execute();
    // 40 minutes later the window holds no growth.
    await stores.console.recordFreshness(siteId, 60, 'ok', 9, at(150));
    await alerts.evaluate(at(151));
    expect(alertEvents().slice(2).sort()).toEqual([
      'alert.resolved:quarantine-growing:',
      'alert.resolved:writeback-stuck:wb_stuck',
    ]);
    expect(Object.values(ALERT_KINDS)).toContain('writeback-stuck');
  });
});
