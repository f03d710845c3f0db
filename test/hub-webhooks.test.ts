import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
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

const PATIENTS = 15;

/** A vendor's webhook endpoint: a real HTTP server that keeps each request's raw body and headers. */
interface Receiver {
  readonly url: string;
  readonly received: { body: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startReceiver(status: (index: number) => number = () => 204): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.writeHead(status(received.length - 1)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Verifies like a real receiver (the standardwebhooks library) and returns the event bodies by webhook-id. */
function verified(receiver: Receiver, secret: string): Map<string, Record<string, unknown>> {
  const webhook = new Webhook(secret);
  const byId = new Map<string, Record<string, unknown>>();
  for (const { body, headers } of receiver.received) {
    const payload = webhook.verify(body, {
      'webhook-id': String(headers['webhook-id']),
      'webhook-timestamp': String(headers['webhook-timestamp']),
      'webhook-signature': String(headers['webhook-signature']),
    }) as Record<string, unknown>;
    byId.set(String(headers['webhook-id']), payload);
  }
  return byId;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Webhooks from the hub (docs/hub.md, "Webhooks from the hub"): two `tendril hub` nodes on one PostgreSQL, an
 * enrolled agent relaying an Open Dental database, and vendors' real HTTP receivers that verify
 * every delivery with the standardwebhooks library. Subscriptions are managed through the API
 * on either node and take effect at once on both, without a restart.
 */
describe('hub: vendor webhook subscriptions delivered by the hub', () => {
  let pgDb: { url: string; drop(): Promise<void> };
  let ehr: TestDatabase;
  let dir: string;
  let nodeA: TestHub;
  let nodeB: TestHub;
  let agent: TestProcess | undefined;
  let enrolled: EnrolledAgent;
  let site: { siteId: string; enrollmentKey: string };
  let vendorKey: string;
  let otherKey: string;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-webhooks-'));
    pgDb = await createHubTestDatabase();
    ehr = await createTestDatabase('tendril_hub_wh');
    await loadOpenDentalSchema(ehr);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      ehr.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'hub-webhooks',
    ]);
    if (seeded.code !== 0) throw new Error(seeded.stderr);
    const settings = {
      store: { postgres: pgDb.url },
      sites: { offlineAfterSeconds: 1 },
      delivery: { fanoutMs: 200, jitter: 0 },
    };
    nodeA = await startHub(join(dir, 'node-a'), settings);
    // Every node of one database seals with the same key: node B gets node A's.
    const key = readFileSync(join(dir, 'node-a', 'hubdata', 'delivery-key'), 'utf8').trim();
    nodeB = await startHub(join(dir, 'node-b'), {
      ...settings,
      delivery: { ...settings.delivery, secretKey: key },
    });
    site = await hubAdmin(nodeA.configFile, [
      'site',
      'create',
      '--vendor',
      'acme',
      '--name',
      'Webhook Dental',
      '--connector',
      'open-dental',
      '--contact-name',
      'Front Desk',
      '--contact-email',
      'it@webhook.example',
      '--server',
      '127.0.0.1',
      '--port',
      '3306',
      '--database',
      ehr.name,
    ]);
    await hubAdmin(nodeA.configFile, [
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
    enrolled = await enrollAgent({
      dir: join(dir, 'agent'),
      hubUrl: nodeA.url,
      enrollmentKey: site.enrollmentKey,
      database: ehr.name,
    });
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    await nodeA?.stop();
    await nodeB?.stop();
    for (const receiver of receivers) await receiver.close();
    await pgDb?.drop();
    await ehr?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad subscriptions field by field, and hides them from other vendors', async () => {
    const acme = vendorClient(nodeA.url, vendorKey);
    // Documented from the same schemas the routes validate with.
    const doc = (await (await fetch(`${nodeA.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths['/v1/subscriptions/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    expect(doc.paths).toHaveProperty('/v1/subscriptions/{id}/replay');
    expect(doc.components.schemas).toHaveProperty('SubscriptionCreate');
    expect(doc.components.schemas).toHaveProperty('SubscriptionWithSecret');
    const bad = await acme.post('/v1/subscriptions', {
      url: 'http://example.com/hook',
      policy: { healthyRetryPolicy: { minDelayTarget: 0, maxDelayTarget: 10, numRetries: 3 } },
      sites: ['st_nope'],
    });
    expect(bad.status).toBe(400);
    const paths = (bad.body['errors'] as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['url', 'policy', 'sites.0']));
    expect(JSON.stringify(bad.body)).toContain('healthyRetryPolicy.minDelayTarget');

    const made = await acme.post('/v1/subscriptions', { url: 'https://acme.example/hook' });
    expect(made.status).toBe(201);
    const id = made.body['id'] as string;
    const other = vendorClient(nodeA.url, otherKey);
    expect((await other.get(`/v1/subscriptions/${id}`)).status).toBe(404);
    expect((await other.get('/v1/subscriptions')).body['subscriptions']).toEqual([]);
    const gone = await fetch(`${nodeB.url}/v1/subscriptions/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${vendorKey}` },
    });
    expect(gone.status).toBe(204);
    expect((await acme.get(`/v1/subscriptions/${id}`)).status).toBe(404);
  });

  it('delivers relayed events and site events, signed, verified by the standardwebhooks library; changes apply at once on every node', async () => {
    const acme = vendorClient(nodeA.url, vendorKey);
    const all = await startReceiver();
    receivers.push(all);
    const created = await acme.post('/v1/subscriptions', { url: all.url, allowInsecure: true });
    expect(created.status).toBe(201);
    const allSecret = created.body['secret'] as string;
    expect(allSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const allId = created.body['id'] as string;
    expect(created.body).toMatchObject({ sites: '*', state: 'active', secrets: 1 });
    // Shown once: never in a read.
    expect(JSON.stringify((await acme.get(`/v1/subscriptions/${allId}`)).body)).not.toContain(allSecret);

    agent = await startAgent(enrolled);
    // Everything the hub's log holds reaches the receiver, verified, once per event id at least.
    const log = await until(
      'the relay to settle and every event to be delivered',
      async () => {
        const events = await acme.allEvents(site.siteId);
        if (events.filter((e) => String(e['type']).startsWith('patient.')).length < PATIENTS)
          return undefined;
        const got = verified(all, allSecret);
        return events.every((e) => got.has(String(e['id']))) ? events : undefined;
      },
      120_000,
    );
    const got = verified(all, allSecret);
    expect(log.some((e) => e['type'] === 'site.online')).toBe(true);
    for (const event of log)
      expect(got.get(String(event['id']))).toMatchObject({ id: event['id'], type: event['type'] });
    // Per resource, in sequence order.
    const last = new Map<string, number>();
    for (const { body } of all.received) {
      const event = JSON.parse(body) as { resourceType: string; resourceId: string; sequence: number };
      const key = `${event.resourceType}/${event.resourceId}`;
      expect(event.sequence).toBeGreaterThanOrEqual(last.get(key) ?? 0);
      last.set(key, event.sequence);
    }

    // A second subscription for site events only, made on node B while everything runs; the first
    // is disabled there too. Both changes reach node A's fan-out and dispatcher without a restart.
    const b = vendorClient(nodeB.url, vendorKey);
    const siteOnly = await startReceiver();
    receivers.push(siteOnly);
    const second = await b.post('/v1/subscriptions', {
      url: siteOnly.url,
      allowInsecure: true,
      eventTypes: ['site.*'],
    });
    expect(second.status).toBe(201);
    const secondId = second.body['id'] as string;
    const oldSecret = second.body['secret'] as string;
    const patch = async (id: string, body: unknown) =>
      fetch(`${nodeB.url}/v1/subscriptions/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${vendorKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    expect((await patch(allId, { enabled: false })).body).toMatchObject({ enabled: false });
    const rotated = await patch(secondId, { rotateSecret: true });
    expect(rotated.body).toMatchObject({ secrets: 2 });
    const newSecret = rotated.body['secret'] as string;
    expect(newSecret).not.toBe(oldSecret);
    const before = all.received.length;

    // The agent stops: no link for a second, and the hub raises site.offline.
    await agent.stop();
    agent = undefined;
    const offline = await until(
      'site.offline at the new subscription',
      () => [...verified(siteOnly, newSecret).values()].find((e) => e['type'] === 'site.offline'),
      60_000,
    );
    expect(offline).toMatchObject({ type: 'site.offline', resourceType: 'Site', resourceId: site.siteId });
    // Signed with both secrets during the rotation: the old one verifies too.
    expect([...verified(siteOnly, oldSecret).values()].some((e) => e['type'] === 'site.offline')).toBe(true);
    // Only site events went there; nothing more went to the disabled subscription.
    expect(
      [...verified(siteOnly, newSecret).values()].every((e) => String(e['type']).startsWith('site.')),
    ).toBe(true);
    expect(all.received.length).toBe(before);

    // Secrets are sealed in the database: no secret appears in any column of it, nor in any log.
    const client = new pg.Client({ connectionString: pgDb.url });
    await client.connect();
    try {
      const dump = await client.query<{ t: string }>(
        'SELECT row_to_json(s)::text AS t FROM hub_subscriptions s',
      );
      expect(dump.rows.length).toBeGreaterThan(0);
      for (const secret of [allSecret, oldSecret, newSecret]) {
        expect(dump.rows.map((r) => r.t).join('\n')).not.toContain(secret);
        expect(dump.rows.map((r) => r.t).join('\n')).not.toContain(secret.slice('whsec_'.length));
      }
    } finally {
      await client.end();
    }
    for (const text of [nodeA.stdout, nodeA.stderr, nodeB.stdout, nodeB.stderr])
      for (const secret of [allSecret, oldSecret, newSecret]) expect(text).not.toContain(secret.slice(6));
    expect(filesUnder(join(dir, 'node-a', 'hubdata')).some((f) => f.endsWith('delivery-key'))).toBe(true);
  }, 240_000);

  it('lists a dead letter and replays it with the same webhook-id, verified again', async () => {
    const acme = vendorClient(nodeA.url, vendorKey);
    // The first request is refused for good (400): a dead letter at once; the replay is accepted.
    const picky = await startReceiver((index) => (index === 0 ? 400 : 204));
    receivers.push(picky);
    const made = await acme.post('/v1/subscriptions', {
      url: picky.url,
      allowInsecure: true,
      eventTypes: ['site.online'],
    });
    const id = made.body['id'] as string;
    const secret = made.body['secret'] as string;
    // The agent links again: site.online.
    agent = await startAgent(enrolled);
    const dead = await until('the dead letter', async () => {
      const page = await acme.get(`/v1/subscriptions/${id}/deliveries?status=dead`);
      const rows = page.body['deliveries'] as { id: number; eventId: string; lastStatus: number }[];
      return rows.length > 0 ? rows : undefined;
    });
    expect(dead[0]).toMatchObject({ lastStatus: 400, eventType: 'site.online', deadReason: 'permanent' });
    // Someone else's subscription, or a bad body, is refused.
    expect(
      (await vendorClient(nodeA.url, otherKey).post(`/v1/subscriptions/${id}/replay`, { dead: true })).status,
    ).toBe(404);
    expect(
      (await acme.post(`/v1/subscriptions/${id}/replay`, { deliveryIds: [dead[0]!.id], dead: true })).status,
    ).toBe(400);
    const replayed = await acme.post(`/v1/subscriptions/${id}/replay`, { deliveryIds: [dead[0]!.id] });
    expect(replayed.status).toBe(202);
    expect(replayed.body['replayed']).toBe(1);
    await until('the replay to arrive', () => (picky.received.length >= 2 ? true : undefined));
    expect(picky.received.map((r) => r.headers['webhook-id'])).toEqual([dead[0]!.eventId, dead[0]!.eventId]);
    expect([...verified({ ...picky, received: picky.received.slice(1) }, secret).values()][0]).toMatchObject({
      type: 'site.online',
    });
    const delivered = await until('the replay recorded as delivered', async () => {
      const page = await acme.get(`/v1/subscriptions/${id}/deliveries?status=delivered`);
      const rows = page.body['deliveries'] as { origin: string; replayOf: number }[];
      return rows.length > 0 ? rows : undefined;
    });
    expect(delivered[0]).toMatchObject({ origin: 'replay', replayOf: dead[0]!.id });
    // Operators see the dead letter (kept, replayed or not) in the hub's metrics.
    const metrics = await (await fetch(`${nodeB.url}/metrics`)).text();
    expect(Number(/tendril_hub_deliveries\{status="dead"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(
      1,
    );
    expect(metrics).toMatch(/tendril_hub_deliveries\{status="pending"\} \d+/);
  }, 120_000);
});
