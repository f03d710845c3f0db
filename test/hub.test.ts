import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceId, sourceIdOf } from '@tendril/core';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore } from '@tendril/store';
import { startOpenDentalApiFake, type OpenDentalApiFake } from '@tendril/connector-open-dental/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubTestDatabase } from '../packages/hub/src/test-support/databases.test-helper.js';
import { runCli } from './support/cli.js';
import {
  enrollAgent,
  hubAdmin,
  startAgent,
  startHub,
  until,
  vendorClient,
  type EnrolledAgent,
  type TestHub,
  type TestProcess,
} from './support/hub.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

const PATIENTS = 60;
const DEVELOPER_KEY = 'hubDevKeyFake';
const CUSTOMER_KEY = 'hubCustKeyFake';

async function seeded(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  await loadOpenDentalSchema(db);
  const result = await runCli([
    'seed',
    '--connector',
    'open-dental',
    '--url',
    db.url,
    '--patients',
    String(PATIENTS),
    '--seed',
    'hub-same',
  ]);
  if (result.code !== 0) throw new Error(result.stderr);
  const connection = await db.connect();
  // Bookings go into the future: start from an empty future schedule.
  await connection.query('DELETE FROM appointment WHERE AptDateTime >= CURDATE()');
  await connection.end();
  return db;
}

async function outboxCount(agent: EnrolledAgent, file: string): Promise<number> {
  // The agent runs with its site key, so its store's payloads are sealed with it (docs/security.md, "PHI at rest").
  const store = openSqliteStore(file, {
    siteKey: Buffer.from(agent.siteKey.slice('tsk_'.length), 'base64url'),
  });
  try {
    return await store.countEvents(agent.connectionId);
  } finally {
    await store.close();
  }
}

/**
 * The hub end to end, as issue 10's "done when" describes it: `tendril hub` on PostgreSQL with two
 * nodes; two agents (separate processes, separate MariaDB Open Dental databases with the same
 * seeded data and the same practice name) enroll with `tendril init --hub --enroll`, link, and
 * relay; their ids are disjoint at the hub; a vendor key books through node A for the site linked
 * to node B and gets `written`; keys never see another vendor's sites; no log holds PHI or secrets.
 */
describe('hub: two nodes on PostgreSQL, two enrolled agents, a vendor booking through the hub', () => {
  let pg: { url: string; drop(): Promise<void> };
  let dbs: TestDatabase[] = [];
  let dir: string;
  let nodeA: TestHub;
  let nodeB: TestHub;
  const agents: TestProcess[] = [];
  let enrolled: EnrolledAgent[] = [];
  const sites: { siteId: string; enrollmentKey: string; connectionIds: string[] }[] = [];
  let vendorKey: string;
  let otherKey: string;
  let narrowKey: string;
  const ehrs: SqlClient[] = [];
  const fakes: OpenDentalApiFake[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-e2e-'));
    pg = await createHubTestDatabase();
    dbs = [await seeded('tendril_hub_a'), await seeded('tendril_hub_b')];
    nodeA = await startHub(join(dir, 'node-a'), { store: { postgres: pg.url } });
    nodeB = await startHub(join(dir, 'node-b'), { store: { postgres: pg.url } });
    for (let i = 0; i < 2; i++) {
      sites.push(
        await hubAdmin(nodeA.configFile, [
          'site',
          'create',
          '--vendor',
          'acme',
          '--name',
          'Smile Dental',
          '--connector',
          'open-dental',
          '--contact-name',
          'Front Desk',
          '--contact-email',
          'it@smile.example',
          '--server',
          '127.0.0.1',
          '--port',
          '3306',
          '--database',
          dbs[i]!.name,
        ]),
      );
    }
    await hubAdmin(nodeB.configFile, [
      'site',
      'create',
      '--vendor',
      'other',
      '--name',
      'Elsewhere',
      '--connector',
      'open-dental',
    ]);
    vendorKey = (
      await hubAdmin<{ key: string }>(nodeA.configFile, [
        'api-key',
        'create',
        '--name',
        'acme',
        '--sites',
        '*',
      ])
    ).key;
    otherKey = (
      await hubAdmin<{ key: string }>(nodeA.configFile, [
        'api-key',
        'create',
        '--name',
        'other',
        '--sites',
        '*',
      ])
    ).key;
    narrowKey = (
      await hubAdmin<{ key: string }>(nodeA.configFile, [
        'api-key',
        'create',
        '--name',
        'acme',
        '--sites',
        sites[0]!.siteId,
      ])
    ).key;
    // Writes go through the Open Dental API: here a FAKE of it (@tendril/testing) on each database.
    for (const db of dbs) {
      const ehr = createSqlClient({ url: db.url });
      ehrs.push(ehr);
      fakes.push(
        await startOpenDentalApiFake({
          knex: ehr.knex,
          dialect: 'mysql',
          developerKey: DEVELOPER_KEY,
          customerKey: CUSTOMER_KEY,
          timezone: 'America/New_York',
        }),
      );
    }
    const api = (i: number) => ({
      url: fakes[i]!.url,
      developerKey: DEVELOPER_KEY,
      customerKey: CUSTOMER_KEY,
    });
    // Agent 0 dials node A, agent 1 dials node B.
    enrolled = [
      await enrollAgent({
        dir: join(dir, 'agent-0'),
        hubUrl: nodeA.url,
        enrollmentKey: sites[0]!.enrollmentKey,
        database: dbs[0]!.name,
        writebackApi: api(0),
      }),
      await enrollAgent({
        dir: join(dir, 'agent-1'),
        hubUrl: nodeB.url,
        enrollmentKey: sites[1]!.enrollmentKey,
        database: dbs[1]!.name,
        writebackApi: api(1),
      }),
    ];
    for (const agent of enrolled) agents.push(await startAgent(agent));
  }, 240_000);

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await nodeA?.stop();
    await nodeB?.stop();
    await pg?.drop();
    for (const fake of fakes) await fake.close();
    for (const ehr of ehrs) await ehr.close();
    for (const db of dbs) await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with hub-assigned connection ids, links both agents, and relays every outbox event once', async () => {
    expect(enrolled[0]!.connectionId).toBe(sites[0]!.connectionIds[0]);
    expect(enrolled[0]!.connectionId).not.toBe(enrolled[1]!.connectionId);
    const vendor = vendorClient(nodeA.url, vendorKey);
    await until('both sites online', async () => {
      const { body } = await vendor.get('/v1/sites');
      const list = body['sites'] as { id: string; online: boolean }[];
      return list.filter((s) => s.online).length === 2 || undefined;
    });
    for (let i = 0; i < 2; i++) {
      const store = join(dir, `agent-${i}`, '.tendril', 'tendril.db');
      // The backload is done when the outbox stops growing.
      let previous = -1;
      const expected = await until(
        'the backload',
        async () => {
          const n = await outboxCount(enrolled[i]!, store);
          const stable = n > PATIENTS && n === previous;
          previous = n;
          return stable ? n : undefined;
        },
        60_000,
        1500,
      );
      const events = await until(`site ${i} caught up`, async () => {
        const all = await vendor.allEvents(sites[i]!.siteId);
        const relayed = all.filter((e) => !String(e['type']).startsWith('site.'));
        return relayed.length === expected ? all : undefined;
      });
      const ids = events.map((e) => e['id']);
      expect(new Set(ids).size).toBe(ids.length);
      expect(events.filter((e) => e['type'] === 'site.online')).toHaveLength(1);
    }
  });

  it('keeps the two look-alike practices apart: same name, same seeded data, disjoint event and resource ids', async () => {
    const vendor = vendorClient(nodeB.url, vendorKey);
    const [a, b] = [await vendor.allEvents(sites[0]!.siteId), await vendor.allEvents(sites[1]!.siteId)];
    const relayed = (events: Record<string, unknown>[]) =>
      events.filter((e) => !String(e['type']).startsWith('site.'));
    const ids = (events: Record<string, unknown>[], field: string) =>
      new Set(relayed(events).map((e) => String(e[field])));
    expect(relayed(a).length).toBe(relayed(b).length); // the same data on both sides
    expect([...ids(a, 'id')].filter((id) => ids(b, 'id').has(id))).toEqual([]);
    expect([...ids(a, 'resourceId')].filter((id) => ids(b, 'resourceId').has(id))).toEqual([]);
  });

  it('books through node A for the site linked to node B: stored before the 202, executed by the agent, written', async () => {
    const site = sites[1]!;
    const connectionId = enrolled[1]!.connectionId;
    const connection = await dbs[1]!.connect();
    const [[patient], [provider], [operatory]] = (await Promise.all([
      connection.query('SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 1'),
      connection.query('SELECT ProvNum FROM provider WHERE IsHidden = 0 ORDER BY ProvNum LIMIT 1'),
      connection.query('SELECT OperatoryNum FROM operatory WHERE IsHidden = 0 ORDER BY OperatoryNum LIMIT 1'),
    ]).then((results) => results.map((r) => r[0]))) as unknown as [
      [{ PatNum: string }],
      [{ ProvNum: string }],
      [{ OperatoryNum: string }],
    ];
    const day = new Date(Date.now() + 9 * 86_400_000).toISOString().slice(0, 10);
    const start = new Date(`${day}T15:00:00Z`);
    const body = {
      command: 'Appointment.book',
      connectionId,
      idempotencyKey: 'vendor-book-1',
      input: {
        patientId: resourceId(connectionId, 'Patient', String(patient.PatNum)),
        practitionerIds: [resourceId(connectionId, 'Practitioner', String(provider.ProvNum))],
        operatoryId: resourceId(connectionId, 'Location', sourceIdOf(['op', String(operatory.OperatoryNum)])),
        start: start.toISOString().replace('.000Z', 'Z'),
        end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
      },
    };
    const viaA = vendorClient(nodeA.url, vendorKey);
    const accepted = await viaA.post(`/v1/sites/${site.siteId}/writebacks`, body);
    expect(accepted.status).toBe(202);
    const id = String(accepted.body['id']);
    // The same key and payload again: the same command (200), never a second one.
    const again = await viaA.post(`/v1/sites/${site.siteId}/writebacks`, body);
    expect(again.status).toBe(200);
    expect(again.body['id']).toBe(id);
    const viaB = vendorClient(nodeB.url, vendorKey);
    const result = await until(
      'the writeback to finish',
      async () => {
        const { body: state } = await viaB.get(`/v1/writebacks/${id}`);
        return state['status'] !== 'accepted' ? state : undefined;
      },
      60_000,
    );
    expect(result).toMatchObject({ status: 'written', idempotencyKey: 'vendor-book-1', connectionId });
    const [rows] = (await connection.query('SELECT COUNT(*) AS n FROM appointment WHERE AptNum = ?', [
      result['sourceId'],
    ])) as unknown as [{ n: number }[]];
    expect(Number(rows[0]!.n)).toBe(1);
    await connection.end();
    // The result event comes back through the relay, with the vendor's own idempotency key.
    const resultEvent = await until('the result event', async () =>
      (await viaA.allEvents(site.siteId)).find((e) => e['type'] === 'appointment.writeback.written'),
    );
    expect((resultEvent['data'] as Record<string, unknown>)['idempotencyKey']).toBe('vendor-book-1');
    expect((resultEvent['data'] as Record<string, unknown>)['id']).toBe(id);
  });

  it('answers 404 for anything of another vendor or outside a narrowed key, as for a site that does not exist', async () => {
    const other = vendorClient(nodeA.url, otherKey);
    const narrow = vendorClient(nodeA.url, narrowKey);
    const target = sites[1]!;
    const missing = await other.get('/v1/sites/st_0000000000000000');
    for (const client of [other, narrow]) {
      const site = await client.get(`/v1/sites/${target.siteId}`);
      expect(site.status).toBe(404);
      expect(site.body).toEqual(missing.body);
      expect((await client.get(`/v1/sites/${target.siteId}/events`)).status).toBe(404);
      const post = await client.post(`/v1/sites/${target.siteId}/writebacks`, {
        command: 'Appointment.cancel',
        connectionId: enrolled[1]!.connectionId,
        idempotencyKey: 'x',
        input: { appointmentId: '00000000-0000-0000-0000-000000000000' },
      });
      expect(post.status).toBe(404);
    }
    const listed = (await other.get('/v1/sites')).body['sites'] as { id: string }[];
    expect(listed.map((s) => s.id)).not.toContain(target.siteId);
    const mine = (await narrow.get('/v1/sites')).body['sites'] as { id: string }[];
    expect(mine.map((s) => s.id)).toEqual([sites[0]!.siteId]);
    const written = (await vendorClient(nodeA.url, vendorKey).allEvents(target.siteId)).find(
      (e) => e['type'] === 'appointment.writeback.written',
    );
    const id = (written?.['data'] as Record<string, unknown> | undefined)?.['id'];
    expect((await other.get(`/v1/writebacks/${String(id)}`)).status).toBe(404);
    expect((await narrow.get(`/v1/writebacks/${String(id)}`)).status).toBe(404);
    expect(
      (await vendorClient(nodeA.url, 'thk_0000000000000000_' + 'A'.repeat(43)).get('/v1/sites')).status,
    ).toBe(401);
  });

  it('serves an OpenAPI document whose paths are the routes', async () => {
    const doc = (await (await fetch(`${nodeA.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/sites',
        '/v1/sites/{site}',
        '/v1/sites/{site}/writebacks',
        '/v1/writebacks/{id}',
        '/v1/sites/{site}/events',
      ]),
    );
    expect(doc.components.schemas).toHaveProperty('WritebackRequest');
  });

  it('logs no patient data and no secret, on the hub nodes or the agents', async () => {
    const connection = await dbs[0]!.connect();
    const [patients] = (await connection.query(
      "SELECT LName, FName, Birthdate, HmPhone, WirelessPhone, Email FROM patient WHERE Birthdate > '1800-01-01'",
    )) as unknown as [Record<string, string>[]];
    await connection.end();
    const needles = new Set<string>();
    for (const p of patients) {
      for (const name of [p['LName'], p['FName']]) if (name && name.length >= 5) needles.add(name);
      if (p['Birthdate']) needles.add(p['Birthdate']);
      for (const phone of [p['HmPhone'], p['WirelessPhone']])
        if (phone && phone.replace(/\D/g, '').length >= 10) needles.add(phone);
      if (p['Email']) needles.add(p['Email']);
    }
    expect(needles.size).toBeGreaterThan(20);
    const secrets = [
      vendorKey,
      otherKey,
      narrowKey,
      ...sites.map((s) => s.enrollmentKey),
      ...enrolled.map((a) => a.siteKey),
    ];
    const logs = [nodeA, nodeB, ...agents].map((p) => p.stdout + p.stderr).join('\n');
    expect(logs).toContain('link.opened'); // the logs were written
    expect([...needles].filter((n) => logs.includes(n))).toEqual([]);
    expect(secrets.filter((s) => logs.includes(s))).toEqual([]);
    expect(logs).not.toMatch(/tha_[0-9a-f]{16}_/); // no agent credential either
  });
});
