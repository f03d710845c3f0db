import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHubDatabase, type HubDb } from './db/open-database.js';
import { hubStores } from './hub-node.js';
import { keySees } from './store/api-keys.js';
import { SitePresence } from './presence.js';
import type { RelayedEvent } from './store/event-log.js';
import { HUB_BACKENDS } from './test-support/databases.test-helper.js';

const DAY = 86_400_000;

function event(
  connectionId: string,
  sequence: number,
  id: string,
  extra: Partial<RelayedEvent['envelope']> = {},
): RelayedEvent {
  return {
    envelope: {
      id,
      type: 'patient.created',
      occurredAt: '2026-01-01T00:00:00Z',
      connectionId,
      resourceType: 'Patient',
      resourceId: `r-${id}`,
      sequence,
      data: { id: `r-${id}` },
      ...extra,
    },
    kind: 'created',
    sourceId: id,
    connectorId: 'open-dental',
    refs: {},
  };
}

describe.each(HUB_BACKENDS)('hub store on $name', (backend) => {
  let hubDb: HubDb;
  let stores: ReturnType<typeof hubStores>;
  let drop: () => Promise<void>;
  const now = new Date('2026-03-01T12:00:00Z');

  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    hubDb = await openHubDatabase(created.store);
    stores = hubStores(hubDb);
  });
  afterAll(async () => {
    await hubDb?.close();
    await drop?.();
  });

  it('gives two practices with the same name different connection ids (unique across the hub)', async () => {
    const a = await stores.sites.createSite(
      { vendor: 'acme', name: 'Smile Dental', connector: 'open-dental' },
      now,
    );
    const b = await stores.sites.createSite(
      { vendor: 'acme', name: 'Smile Dental', connector: 'open-dental' },
      now,
    );
    expect(a.site.connectionIds).toHaveLength(1);
    expect(a.site.connectionIds[0]).toMatch(/^smile-dental-[a-z0-9]{6}$/);
    expect(a.site.connectionIds[0]).not.toBe(b.site.connectionIds[0]);
    expect(a.site.id).not.toBe(b.site.id);
  });

  it('spends an enrollment key once, refuses it used, expired or unknown, and a re-enrollment revokes the old credential', async () => {
    const { site, enrollmentKey } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Bright Smiles', connector: 'open-dental', server: 'db1', port: 3306 },
      now,
    );
    const peek = await stores.sites.peekEnrollment(enrollmentKey, now);
    expect(peek).toMatchObject({ ok: true, details: { siteId: site.id, server: 'db1', port: 3306 } });
    const first = await stores.sites.enroll(enrollmentKey, now);
    if (!first.ok) throw new Error('enroll failed');
    expect(first.credential).toMatch(/^tha_[0-9a-f]{16}_/);
    expect(await stores.sites.enroll(enrollmentKey, now)).toEqual({ ok: false, reason: 'used' });
    expect(await stores.sites.peekEnrollment(enrollmentKey.slice(0, -1) + 'x', now)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await stores.sites.authenticateAgent(site.id, first.credential, now)).toMatchObject({ ok: true });
    // Someone else's site id with this credential: refused.
    expect(await stores.sites.authenticateAgent('st_other', first.credential, now)).toEqual({
      ok: false,
      reason: 'bad-credential',
    });

    const late = await stores.sites.newEnrollmentKey(site.id, now);
    expect(await stores.sites.enroll(late.enrollmentKey, new Date(now.getTime() + 8 * DAY))).toEqual({
      ok: false,
      reason: 'expired',
    });
    const again = await stores.sites.newEnrollmentKey(site.id, now);
    const second = await stores.sites.enroll(again.enrollmentKey, now);
    if (!second.ok) throw new Error('re-enroll failed');
    expect(second.revokedCredentials).toBe(1);
    expect(await stores.sites.authenticateAgent(site.id, first.credential, now)).toEqual({
      ok: false,
      reason: 'revoked',
    });
    expect(await stores.sites.authenticateAgent(site.id, second.credential, now)).toMatchObject({ ok: true });

    await stores.sites.revokeSite(site.id, now);
    expect(await stores.sites.authenticateAgent(site.id, second.credential, now)).toEqual({
      ok: false,
      reason: 'revoked',
    });
  });

  it('rotates an agent credential without a gap: the old one works until the new one is used', async () => {
    const { enrollmentKey, site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Rotate', connector: 'open-dental' },
      now,
    );
    const enrolled = await stores.sites.enroll(enrollmentKey, now);
    if (!enrolled.ok) throw new Error('enroll failed');
    const next = await stores.sites.issuePendingCredential(site.id, now);
    expect(await stores.sites.authenticateAgent(site.id, enrolled.credential, now)).toMatchObject({
      ok: true,
    });
    expect(await stores.sites.authenticateAgent(site.id, next, now)).toMatchObject({ ok: true });
    expect(await stores.sites.authenticateAgent(site.id, enrolled.credential, now)).toEqual({
      ok: false,
      reason: 'revoked',
    });
  });

  it("checks vendor keys by hash: revoked and expired keys fail; a key never sees another vendor's site", async () => {
    const acme = await stores.sites.ensureVendor('acme', now);
    const other = await stores.sites.ensureVendor('other', now);
    const theirs = await stores.sites.createSite(
      { vendor: 'other', name: 'Theirs', connector: 'open-dental' },
      now,
    );
    const key = await stores.keys.create({ vendorId: acme.id, name: 'acme', sites: '*' }, now);
    const principal = await stores.keys.authenticate(key.key, now);
    expect(principal).toMatchObject({ vendorId: acme.id, sites: '*' });
    expect(keySees(principal!, theirs.site)).toBe(false);
    expect(await stores.keys.authenticate(key.key.slice(0, -2) + 'AA', now)).toBeUndefined();
    const rotated = await stores.keys.rotate(key.id, 60, now);
    expect(await stores.keys.authenticate(key.key, new Date(now.getTime() + 30_000))).toBeDefined();
    expect(await stores.keys.authenticate(key.key, new Date(now.getTime() + 61_000))).toBeUndefined();
    expect(await stores.keys.authenticate(rotated!.key, new Date(now.getTime() + 61_000))).toBeDefined();
    await stores.keys.revoke(rotated!.id, now);
    expect(await stores.keys.authenticate(rotated!.key, now)).toBeUndefined();
    const narrow = await stores.keys.create({ vendorId: other.id, name: 'narrow', sites: ['st_none'] }, now);
    expect(keySees((await stores.keys.authenticate(narrow.key, now))!, theirs.site)).toBe(false);
  });

  it('stores each event once per (site, event id), numbers the site log without gaps, and tracks the relay position', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Relay', connector: 'open-dental' },
      now,
    );
    const { site: other } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Relay Two', connector: 'open-dental' },
      now,
    );
    const conn = site.connectionIds[0]!;
    const first = await stores.events.ingest(
      site.id,
      conn,
      [event(conn, 10, 'e1'), event(conn, 11, 'e2')],
      now,
    );
    expect(first.stored.map((e) => e.siteSeq)).toEqual([1, 2]);
    const again = await stores.events.ingest(
      site.id,
      conn,
      [event(conn, 11, 'e2'), event(conn, 12, 'e3'), event(conn, 12, 'e3')],
      now,
    );
    expect(again.stored.map((e) => [e.envelope.id, e.siteSeq])).toEqual([['e3', 3]]);
    expect(again.duplicates).toBe(2);
    expect(again.relaySequence).toBe(12);
    // The same event id at another site is another event.
    const elsewhere = await stores.events.ingest(
      other.id,
      other.connectionIds[0]!,
      [event(other.connectionIds[0]!, 1, 'e1')],
      now,
    );
    expect(elsewhere.stored).toHaveLength(1);
    expect((await stores.events.list(site.id, 1, 10)).map((e) => e.envelope.id)).toEqual(['e2', 'e3']);
    expect(await stores.events.relayPositions(site.id)).toEqual({ [conn]: 12 });
  });

  it('queues writebacks with idempotency, hands them to a link once, times out only those no link took, and keeps final states', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Writes', connector: 'open-dental' },
      now,
    );
    const vendor = (await stores.sites.vendorByName('acme'))!;
    const conn = site.connectionIds[0]!;
    const base = {
      vendorId: vendor.id,
      keyId: 'k',
      siteId: site.id,
      connectionId: conn,
      command: 'Appointment.cancel',
      payloadHash: 'h1',
      input: { appointmentId: 'a' },
      resourceType: 'Appointment',
      acceptedAt: now,
      deadline: new Date(now.getTime() + 60_000),
    };
    const a = await stores.writebacks.accept({ ...base, id: 'w-a', idempotencyKey: 'k-a' });
    expect(a.kind).toBe('created');
    expect((await stores.writebacks.accept({ ...base, id: 'w-a2', idempotencyKey: 'k-a' })).kind).toBe(
      'existing',
    );
    expect(
      (await stores.writebacks.accept({ ...base, id: 'w-a3', idempotencyKey: 'k-a', payloadHash: 'h2' }))
        .kind,
    ).toBe('key-reused');
    await stores.writebacks.accept({ ...base, id: 'w-b', idempotencyKey: 'k-b' });
    const taken = await stores.writebacks.takeForLink(site.id, now, false);
    expect(taken.map((r) => r.id).sort()).toEqual(['w-a', 'w-b']);
    expect(await stores.writebacks.takeForLink(site.id, now, false)).toEqual([]);
    expect((await stores.writebacks.takeForLink(site.id, now, true)).map((r) => r.id).sort()).toEqual([
      'w-a',
      'w-b',
    ]);
    await stores.writebacks.accept({ ...base, id: 'w-c', idempotencyKey: 'k-c' });
    const expired = await stores.writebacks.expire(new Date(now.getTime() + 61_000));
    // Only the command no link took: the two handed down wait for the agent's answer.
    expect(expired.map((r) => r.id)).toEqual(['w-c']);
    expect(await stores.writebacks.takeForLink(site.id, new Date(now.getTime() + 62_000), false)).toEqual([]);
    await stores.writebacks.applyUpdate(
      'w-a',
      site.id,
      { status: 'written', result: { status: 'written' } },
      now,
    );
    await stores.writebacks.applyUpdate('w-a', site.id, { status: 'failed' }, now);
    expect((await stores.writebacks.get('w-a'))!.status).toBe('written');
    // A report about another site's command changes nothing.
    await stores.writebacks.applyUpdate('w-b', 'st_other', { status: 'failed' }, now);
    expect((await stores.writebacks.get('w-b'))!.status).toBe('accepted');
  });

  it('translates a relayed result event of a hub command to the vendor idempotency key and finishes the command', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Results', connector: 'open-dental' },
      now,
    );
    const vendor = (await stores.sites.vendorByName('acme'))!;
    const conn = site.connectionIds[0]!;
    await stores.writebacks.accept({
      id: 'w-r',
      vendorId: vendor.id,
      keyId: 'k',
      siteId: site.id,
      connectionId: conn,
      command: 'Appointment.cancel',
      idempotencyKey: 'vendor-key-7',
      payloadHash: 'h',
      input: {},
      resourceType: 'Appointment',
      acceptedAt: now,
      deadline: new Date(now.getTime() + 60_000),
    });
    const result = event(conn, 5, 'res-1', {
      type: 'appointment.writeback.written',
      data: { id: 'w-r', status: 'written', idempotencyKey: 'w-r', finishedAt: now.toISOString() },
    });
    const stored = await stores.events.ingest(site.id, conn, [result], now);
    expect(stored.stored[0]!.envelope.data['idempotencyKey']).toBe('vendor-key-7');
    const row = (await stores.writebacks.get('w-r'))!;
    expect(row.status).toBe('written');
    expect(row.result?.['idempotencyKey']).toBe('vendor-key-7');
  });

  it('keeps daily partitions ahead and drops the ones past retention, with their dedupe keys', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Retention', connector: 'open-dental' },
      now,
    );
    const conn = site.connectionIds[0]!;
    const old = new Date(now.getTime() - 40 * DAY);
    await stores.events.ensurePartitions(old, 0);
    await stores.events.ensurePartitions(now, 2);
    const partitions = await stores.events.partitions();
    expect(partitions).toEqual(
      expect.arrayContaining(['hub_events_p20260120', 'hub_events_p20260301', 'hub_events_p20260303']),
    );
    await stores.events.ingest(site.id, conn, [event(conn, 1, 'old-1')], old);
    await stores.events.ingest(site.id, conn, [event(conn, 2, 'new-1')], now);
    const pruned = await stores.events.prune(new Date(now.getTime() - 30 * DAY));
    expect(pruned.dropped).toContain('hub_events_p20260120');
    expect(pruned.keysDeleted).toBeGreaterThanOrEqual(1);
    expect((await stores.events.list(site.id, 0, 10)).map((e) => e.envelope.id)).toEqual(['new-1']);
  });

  it('purges a site: its events and writebacks go, other sites keep theirs', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Leaving', connector: 'open-dental' },
      now,
    );
    const { site: staying } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Staying', connector: 'open-dental' },
      now,
    );
    await stores.events.ingest(
      site.id,
      site.connectionIds[0]!,
      [event(site.connectionIds[0]!, 1, 'p1')],
      now,
    );
    await stores.events.ingest(
      staying.id,
      staying.connectionIds[0]!,
      [event(staying.connectionIds[0]!, 1, 'p1')],
      now,
    );
    const purged = await stores.events.purgeSite(site.id);
    expect(purged.events).toBe(1);
    expect(await stores.events.count(site.id)).toBe(0);
    expect(await stores.events.count(staying.id)).toBe(1);
  });

  it('announces presence and health once per change: site.online, site.offline, site.degraded, site.recovered', async () => {
    const { site } = await stores.sites.createSite(
      { vendor: 'acme', name: 'Presence', connector: 'open-dental' },
      now,
    );
    const announced: string[] = [];
    const presence = new SitePresence(stores.sites, stores.events, (events) =>
      announced.push(...events.map((e) => e.envelope.type)),
    );
    await presence.opened(site.id, now);
    await presence.opened(site.id, now); // a reconnect: nothing new to say
    await presence.health(site.id, 'degraded', ['patients: failing (TENDRIL_E_DB_AUTH)'], now);
    await presence.health(site.id, 'degraded', [], now);
    await presence.health(site.id, 'ok', [], now);
    await stores.sites.linkOpened(site.id, { node: 'gone-node', version: 't', hello: {} }, now);
    // Held by a node that still beats: not offline, however old last_seen_at is.
    expect(
      await stores.sites.sitesToAnnounceOffline(new Date(now.getTime() + 1000), ['gone-node']),
    ).not.toContain(site.id);
    const due = await stores.sites.sitesToAnnounceOffline(new Date(now.getTime() + 1000), ['live-node']);
    expect(due).toContain(site.id);
    await presence.offline(site.id, now);
    await presence.offline(site.id, now);
    await presence.opened(site.id, now);
    expect(announced).toEqual([
      'site.online',
      'site.degraded',
      'site.recovered',
      'site.offline',
      'site.online',
    ]);
    const logged = await stores.events.list(site.id, 0, 10);
    expect(logged.map((e) => e.envelope.type)).toEqual(announced);
    expect(logged[1]!.envelope.data).toMatchObject({
      health: 'degraded',
      problems: ['patients: failing (TENDRIL_E_DB_AUTH)'],
    });
  });
});
