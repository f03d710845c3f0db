import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubAlerts } from './alerts.js';
import { openHubDatabase, type HubDb } from './db/open-database.js';
import { hubStores } from './hub-node.js';
import type { LastUpgradeReport } from './link/protocol.js';
import type { LoggedEvent } from './store/event-log.js';
import { HUB_BACKENDS } from './test-support/databases.test-helper.js';
import { UpgradeOutcomes } from './upgrade-outcomes.js';

/**
 * How a remote upgrade ended (docs/hub.md, "Remote upgrade"): the agent repeats `lastUpgrade` in
 * every status; the hub records it on the command, raises `agent.upgraded` / `agent.upgrade_failed`
 * once, and opens or resolves the `upgrade-failed` alert — also after a restart (a new recorder on
 * the same database) and after a crash between the event and the site's marker.
 */
describe.each(HUB_BACKENDS)('upgrade outcomes on $name', (backend) => {
  let hubDb: HubDb;
  let drop: () => Promise<void>;
  let stores: ReturnType<typeof hubStores>;
  let siteId: string;
  let vendorId: string;
  const announced: LoggedEvent[] = [];
  const t0 = new Date('2026-04-01T12:00:00Z');
  const recorder = () => {
    const alerts = new HubAlerts(hubDb.db, stores.events, (events) => announced.push(...events));
    return {
      alerts,
      outcomes: new UpgradeOutcomes(hubDb.db, stores.events, alerts, (events) => announced.push(...events)),
    };
  };
  const types = () => announced.map((e) => e.envelope.type);

  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    hubDb = await openHubDatabase(created.store);
    stores = hubStores(hubDb);
    const site = await stores.sites.createSite(
      { vendor: 'acme', name: 'Upgrade Dental', connector: 'open-dental' },
      t0,
    );
    siteId = site.site.id;
    vendorId = site.site.vendorId;
  }, 60_000);
  afterAll(async () => {
    await hubDb?.close();
    await drop?.();
  });

  it('records a failed upgrade once: the event, the history row, the alert', async () => {
    const command = await stores.commands.create({ siteId, actor: 'admin', name: 'upgrade', args: {} }, t0);
    const failed: LastUpgradeReport = {
      commandId: command.id,
      fromVersion: '0.1.0',
      toVersion: '0.2.0',
      outcome: 'upgrade_failed',
      reason: 'the new version was not healthy within 120 s; rolled back',
      at: t0.toISOString(),
    };
    const { outcomes, alerts } = recorder();
    expect(await outcomes.record(siteId, failed, t0)).toBe(true);
    for (let tick = 0; tick < 3; tick += 1) expect(await outcomes.record(siteId, failed, t0)).toBe(false);
    // A restarted hub: a new recorder on the same database announces nothing again.
    expect(await recorder().outcomes.record(siteId, failed, t0)).toBe(false);
    // A crash after the event but before the site's marker: the log refuses the second copy.
    await hubDb.db
      .updateTable('hub_sites')
      .set({ last_upgrade_key: null })
      .where('id', '=', siteId)
      .execute();
    expect(await recorder().outcomes.record(siteId, failed, t0)).toBe(false);
    expect(types()).toEqual(['agent.upgrade_failed', 'alert.opened']);
    const event = announced[0]!.envelope.data as Record<string, unknown>;
    expect(event).toMatchObject({
      siteId,
      commandId: command.id,
      fromVersion: '0.1.0',
      toVersion: '0.2.0',
      reason: failed.reason,
    });
    const history = await stores.commands.history(siteId, 5);
    expect(history[0]).toMatchObject({
      id: command.id,
      outcome: 'upgrade_failed',
      outcomeReason: failed.reason,
    });
    const open = await alerts.list({ vendorId, since: t0, limit: 10 });
    expect(open.map((a) => [a.kind, a.resolvedAt])).toEqual([['upgrade-failed', undefined]]);
    expect(open[0]!.message).toContain('rolled back');
  });

  it('records the next successful upgrade once and resolves the alert', async () => {
    const command = await stores.commands.create(
      { siteId, actor: 'user:ops@acme.example', name: 'upgrade', args: {} },
      t0,
    );
    const upgraded: LastUpgradeReport = {
      commandId: command.id,
      fromVersion: '0.1.0',
      toVersion: '0.2.1',
      outcome: 'upgraded',
      at: t0.toISOString(),
    };
    announced.length = 0;
    const { outcomes, alerts } = recorder();
    expect(await outcomes.record(siteId, upgraded, t0)).toBe(true);
    expect(await outcomes.record(siteId, upgraded, t0)).toBe(false);
    expect(types()).toEqual(['agent.upgraded', 'alert.resolved']);
    expect((await stores.commands.get(command.id))!.outcome).toBe('upgraded');
    const alertsNow = await alerts.list({ vendorId, since: t0, limit: 10 });
    expect(alertsNow.every((a) => a.resolvedAt !== undefined)).toBe(true);
  });
});
