import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore } from '@tendril/store';
import { startOpenDentalApiFake, type OpenDentalApiFake } from '@tendril/connector-open-dental/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
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

const PATIENTS = 1200;
const DEVELOPER_KEY = 'faultDevKeyFake';
const CUSTOMER_KEY = 'faultCustKeyFake';

/**
 * A TCP proxy under the test's control between an agent and the hub. `blackhole()` stops moving
 * bytes in both directions without closing anything (no FIN, no RST), as a dead NAT or a pulled
 * cable does; `clear()` forwards again (new connections; the blackholed ones stay dead).
 */
async function startProxy(target: { host: string; port: number }) {
  let holes = false;
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections += 1;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (holes) {
      client.pause(); // swallowed: never answered, never closed
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => sockets.delete(upstream));
    client.on('data', (chunk) => {
      if (!holes) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!holes) client.write(chunk);
    });
    client.on('end', () => !holes && upstream.end());
    upstream.on('end', () => !holes && client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    blackhole() {
      holes = true;
    },
    clear() {
      holes = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every outbox event id of an agent's connection, read from its SQLite store. */
async function outboxIds(agent: EnrolledAgent): Promise<string[]> {
  const file = (parse(readFileSync(agent.configFile, 'utf8')) as { store: { sqlite: string } }).store.sqlite;
  // The agent runs with its site key, so its store's payloads are sealed with it (docs/security.md, "PHI at rest").
  const store = openSqliteStore(file, {
    siteKey: Buffer.from(agent.siteKey.slice('tsk_'.length), 'base64url'),
  });
  try {
    const ids: string[] = [];
    let after = 0;
    for (;;) {
      const page = await store.listEvents({
        connectionId: agent.connectionId,
        afterSequence: after,
        limit: 5000,
      });
      if (page.length === 0) return ids;
      ids.push(...page.map((e) => e.envelope.id));
      after = page[page.length - 1]!.envelope.sequence;
    }
  } finally {
    await store.close();
  }
}

/** The outbox once the agent's backload is over (its size unchanged over two looks). */
async function settledOutbox(agent: EnrolledAgent): Promise<string[]> {
  let previous = -1;
  return until(
    'the backload to end',
    async () => {
      const ids = await outboxIds(agent);
      const settled = ids.length > PATIENTS && ids.length === previous;
      previous = ids.length;
      return settled ? ids : undefined;
    },
    120_000,
    2000,
  );
}

/** The vendor's view is exact: each outbox event once, nothing else, and per resource in sequence order. */
function expectExactlyOnceInOrder(events: Record<string, unknown>[], outbox: readonly string[]): void {
  const relayed = events.filter((e) => !String(e['type']).startsWith('site.'));
  const ids = relayed.map((e) => String(e['id']));
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual([...outbox].sort());
  const last = new Map<string, number>();
  for (const e of relayed) {
    const key = `${String(e['connectionId'])}|${String(e['resourceType'])}|${String(e['resourceId'])}`;
    const sequence = Number(e['sequence']);
    expect(sequence, key).toBeGreaterThan(last.get(key) ?? -1);
    last.set(key, sequence);
  }
}

describe('hub faults: credentials, crashes, a blackholed link, offline writebacks, bad frames', () => {
  let pgDb: { url: string; drop(): Promise<void> };
  let ehrDb: TestDatabase;
  let ehr: SqlClient;
  let fake: OpenDentalApiFake;
  let dir: string;
  let hub: TestHub;
  let hubPort: number;
  let vendorKey: string;
  const processes: TestProcess[] = [];
  const secrets: string[] = [];

  const newSite = async (name: string) => {
    const site = await hubAdmin<{ siteId: string; enrollmentKey: string; connectionIds: string[] }>(
      hub.configFile,
      [
        'site',
        'create',
        '--vendor',
        'acme',
        '--name',
        name,
        '--connector',
        'open-dental',
        '--contact-email',
        'it@faults.example',
        '--contact-name',
        'Front Desk',
      ],
    );
    secrets.push(site.enrollmentKey);
    return site;
  };
  const enroll = async (name: string, extra: Record<string, unknown> = {}) => {
    const site = await newSite(name);
    const agent = await enrollAgent({
      dir: join(dir, name),
      hubUrl: hub.url,
      enrollmentKey: site.enrollmentKey,
      database: ehrDb.name,
      writebackApi: { url: fake.url, developerKey: DEVELOPER_KEY, customerKey: CUSTOMER_KEY },
      extra,
    });
    secrets.push(agent.siteKey);
    return { site, agent };
  };
  const run = async (agent: EnrolledAgent) => {
    const proc = await startAgent(agent);
    processes.push(proc);
    return proc;
  };
  const vendor = () => vendorClient(hub.url, vendorKey);
  const heldBy = async (siteId: string) =>
    (await vendor().allEvents(siteId)).filter((e) => !String(e['type']).startsWith('site.')).length;
  const restartHub = async () => {
    hub = await startHub(
      join(dir, 'hub'),
      { store: { postgres: pgDb.url }, link: { maxFrameBytes: 65_536 } },
      { port: hubPort },
    );
    processes.push(hub);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-faults-'));
    pgDb = await createHubTestDatabase();
    ehrDb = await createTestDatabase('tendril_hub_faults');
    await loadOpenDentalSchema(ehrDb);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      ehrDb.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'faults',
    ]);
    if (seeded.code !== 0) throw new Error(seeded.stderr);
    ehr = createSqlClient({ url: ehrDb.url });
    await ehr.knex.raw('DELETE FROM appointment WHERE AptDateTime >= CURDATE()');
    fake = await startOpenDentalApiFake({
      knex: ehr.knex,
      dialect: 'mysql',
      developerKey: DEVELOPER_KEY,
      customerKey: CUSTOMER_KEY,
      timezone: 'America/New_York',
    });
    hub = await startHub(join(dir, 'hub'), {
      store: { postgres: pgDb.url },
      link: { maxFrameBytes: 65_536 },
    });
    processes.push(hub);
    hubPort = Number(new URL(hub.url).port);
    await newSite('bootstrap'); // creates the vendor acme
    vendorKey = (
      await hubAdmin<{ key: string }>(hub.configFile, ['api-key', 'create', '--name', 'acme', '--sites', '*'])
    ).key;
    secrets.push(vendorKey);
  }, 240_000);

  afterAll(async () => {
    for (const proc of processes) await proc.stop();
    await fake?.close();
    await ehr?.close();
    await pgDb?.drop();
    await ehrDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a wrong credential with a coded close: nothing relayed, the agent says so plainly and keeps syncing', async () => {
    const { site, agent } = await enroll('wrong-credential');
    const doc = parse(readFileSync(agent.configFile, 'utf8')) as { hub: Record<string, unknown> };
    doc.hub['credential'] = `tha_${'0'.repeat(16)}_${'B'.repeat(43)}`;
    writeFileSync(agent.configFile, stringify(doc));
    const proc = await run(agent);
    await until(
      'the refusal in the agent log',
      () => proc.stderr.includes('"event":"hub.link_refused"') || undefined,
    );
    expect(proc.stderr).toMatch(/"closeCode":4001/);
    await until('local syncing', () => proc.stderr.includes('"event":"stream.synced"') || undefined);
    expect(await heldBy(site.siteId)).toBe(0);
    await proc.stop();
  });

  it('refuses a used or expired enrollment key at init, and the key of a revoked site', async () => {
    const site = await newSite('keys');
    const first = await enrollAgent({
      dir: join(dir, 'keys-1'),
      hubUrl: hub.url,
      enrollmentKey: site.enrollmentKey,
      database: ehrDb.name,
    });
    secrets.push(first.siteKey);
    const reuse = await runCli(
      [
        'init',
        '--config',
        join(dir, 'keys-2', 'tendril.yaml'),
        '--hub',
        hub.url,
        '--enroll',
        site.enrollmentKey,
        '--non-interactive',
        '--host',
        '127.0.0.1',
        '--database',
        ehrDb.name,
        '--user',
        'root',
        '--password-env',
        'NO_PW',
      ],
      { env: { NO_PW: '' } },
    );
    expect(reuse.code).toBe(2);
    expect(reuse.stderr).toContain('TENDRIL_E_HUB_REFUSED');
    expect(reuse.stderr).toContain('enrollment_key_used');
    const fresh = await hubAdmin<{ enrollmentKey: string }>(hub.configFile, [
      'site',
      'enroll-key',
      site.siteId,
    ]);
    secrets.push(fresh.enrollmentKey);
    const db = new pg.Client({ connectionString: pgDb.url });
    await db.connect();
    await db.query(
      `UPDATE hub_enrollment_keys SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL AND site_id = $1`,
      [site.siteId],
    );
    await db.end();
    const expired = await runCli(
      [
        'init',
        '--config',
        join(dir, 'keys-3', 'tendril.yaml'),
        '--hub',
        hub.url,
        '--enroll',
        fresh.enrollmentKey,
        '--non-interactive',
        '--host',
        '127.0.0.1',
        '--database',
        ehrDb.name,
        '--user',
        'root',
        '--password-env',
        'NO_PW',
      ],
      { env: { NO_PW: '' } },
    );
    expect(expired.code).toBe(2);
    expect(expired.stderr).toContain('enrollment_key_expired');
  });

  it('re-enrolls a replaced server (the old credential is refused, the new agent relays) and rotates a credential without a gap', async () => {
    const { site, agent } = await enroll('replaced');
    const old = await run(agent);
    await until('the old server linked', () => old.stderr.includes('"event":"hub.linked"') || undefined);
    const key = await hubAdmin<{ enrollmentKey: string }>(hub.configFile, [
      'site',
      'enroll-key',
      site.siteId,
    ]);
    secrets.push(key.enrollmentKey);
    const replacement = await enrollAgent({
      dir: join(dir, 'replaced-new'),
      hubUrl: hub.url,
      enrollmentKey: key.enrollmentKey,
      database: ehrDb.name,
    });
    secrets.push(replacement.siteKey);
    expect(replacement.connectionId).toBe(agent.connectionId);
    // The old server's link closes at once and it is refused from then on.
    await until('the old link refused', () => /"closeCode":4002/.test(old.stderr) || undefined, 15_000);
    await old.stop();
    const next = await run(replacement);
    await until('the replacement linked', () => next.stderr.includes('"event":"hub.linked"') || undefined);
    await until(
      'the replacement relayed',
      async () => ((await heldBy(site.siteId)) > PATIENTS ? true : undefined),
      90_000,
    );

    const secretsBefore = readFileSync(join(dir, 'replaced-new', 'secrets.enc'), 'utf8');
    const rotated = await runCli([
      'hub',
      'site',
      'rotate-credential',
      site.siteId,
      '--config',
      hub.configFile,
    ]);
    expect(rotated.code).toBe(0);
    await until(
      'the rotated credential stored',
      () => next.stderr.includes('"event":"hub.credential_rotated"') || undefined,
    );
    expect(readFileSync(join(dir, 'replaced-new', 'secrets.enc'), 'utf8')).not.toBe(secretsBefore);
    await next.stop();
    const restarted = await run(replacement);
    await until(
      'linked again with the new credential',
      () => restarted.stderr.includes('"event":"hub.linked"') || undefined,
    );
    await restarted.stop();
  });

  it('kill -9 of the hub mid-relay, then a restart: every event reaches the vendor once, in per-resource order', async () => {
    const { site, agent } = await enroll('hub-crash');
    const doc = parse(readFileSync(agent.configFile, 'utf8')) as { hub: Record<string, unknown> };
    doc.hub['batchEvents'] = 20; // small batches: the relay takes long enough to be cut in the middle
    writeFileSync(agent.configFile, stringify(doc));
    const proc = await run(agent);
    await until(
      'part of the relay',
      async () => ((await heldBy(site.siteId)) > 40 ? true : undefined),
      60_000,
      50,
    );
    await hub.kill9();
    await restartHub();
    const outbox = await settledOutbox(agent);
    await until(
      'the relay to finish after the restart',
      async () => ((await heldBy(site.siteId)) >= outbox.length ? true : undefined),
      120_000,
      500,
    );
    expectExactlyOnceInOrder(await vendor().allEvents(site.siteId), outbox);
    await proc.stop();
  });

  it('kill -9 of the agent mid-relay, then a restart: every event reaches the vendor once, in per-resource order', async () => {
    const { site, agent } = await enroll('agent-crash');
    const doc = parse(readFileSync(agent.configFile, 'utf8')) as { hub: Record<string, unknown> };
    doc.hub['batchEvents'] = 20;
    writeFileSync(agent.configFile, stringify(doc));
    const first = await run(agent);
    await until(
      'part of the relay',
      async () => ((await heldBy(site.siteId)) > 40 ? true : undefined),
      60_000,
      50,
    );
    await first.kill9();
    const partial = await heldBy(site.siteId);
    expect(partial).toBeLessThan((await outboxIds(agent)).length);
    const second = await run(agent);
    const outbox = await settledOutbox(agent);
    await until(
      'the relay to finish',
      async () => ((await heldBy(site.siteId)) >= outbox.length ? true : undefined),
      120_000,
      500,
    );
    expectExactlyOnceInOrder(await vendor().allEvents(site.siteId), outbox);
    await second.stop();
  });

  it('detects a blackholed link (no FIN) within 30 s, reconnects when it clears, and loses nothing', async () => {
    const proxy = await startProxy({ host: '127.0.0.1', port: hubPort });
    try {
      const { site, agent } = await enroll('blackhole');
      const doc = parse(readFileSync(agent.configFile, 'utf8')) as { hub: Record<string, unknown> };
      doc.hub['url'] = proxy.url;
      writeFileSync(agent.configFile, stringify(doc));
      const proc = await run(agent);
      await until(
        'linked through the proxy',
        () => proc.stderr.includes('"event":"hub.linked"') || undefined,
      );
      const before = await outboxIds(agent);
      await until(
        'caught up',
        async () => ((await heldBy(site.siteId)) >= before.length ? true : undefined),
        60_000,
        300,
      );
      proxy.blackhole();
      const holeAt = Date.now();
      // Meanwhile the practice goes on: an edit, and a poll that writes new events to the outbox.
      await ehr.knex.raw(
        "UPDATE patient SET Preferred = 'Bee', DateTStamp = NOW() WHERE PatNum IN (SELECT PatNum FROM (SELECT PatNum FROM patient ORDER BY PatNum LIMIT 5) AS t)",
      );
      await sleep(1100);
      const synced = await runCli(['sync', '--config', agent.configFile, '--once', '--stream', 'patients'], {
        env: { TENDRIL_SITE_KEY: agent.siteKey },
      });
      expect(synced.code).toBe(0);
      await until(
        'the agent to notice the dead link',
        () => proc.stderr.includes('"event":"hub.link_silent"') || undefined,
        35_000,
        250,
      );
      const detectedMs = Date.now() - holeAt;
      expect(detectedMs).toBeLessThanOrEqual(30_000 + 1000);
      const during = await outboxIds(agent);
      expect(during.length).toBeGreaterThan(before.length);
      proxy.clear();
      const linked = proc.stderr.split('"event":"hub.linked"').length - 1;
      await until(
        'linked again',
        () => proc.stderr.split('"event":"hub.linked"').length - 1 > linked || undefined,
        60_000,
        250,
      );
      await until(
        'nothing lost',
        async () => ((await heldBy(site.siteId)) >= during.length ? true : undefined),
        30_000,
        300,
      );
      expectExactlyOnceInOrder(await vendor().allEvents(site.siteId), during);
      await proc.stop();
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('times out a writeback for an offline site at its deadline, and never runs it when the site comes back', async () => {
    const { site, agent } = await enroll('offline');
    const proc = await run(agent);
    await until('linked', () => proc.stderr.includes('"event":"hub.linked"') || undefined);
    await proc.stop();
    const cancels = () => fake.requests.filter((r) => r.method === 'PUT').length;
    const before = cancels();
    const deadline = new Date(Date.now() + 3000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const accepted = await vendor().post(`/v1/sites/${site.siteId}/writebacks`, {
      command: 'Appointment.cancel',
      connectionId: agent.connectionId,
      idempotencyKey: 'offline-cancel',
      deadline,
      input: { appointmentId: '0192f0c4-0000-7000-8000-000000000001' },
    });
    expect(accepted.status).toBe(202);
    const id = String(accepted.body['id']);
    const state = await until(
      'timed_out',
      async () => {
        const { body } = await vendor().get(`/v1/writebacks/${id}`);
        return body['status'] !== 'accepted' ? body : undefined;
      },
      20_000,
    );
    expect(state['status']).toBe('timed_out');
    const event = (await vendor().allEvents(site.siteId)).find(
      (e) => e['type'] === 'appointment.writeback.timed_out',
    );
    expect((event?.['data'] as Record<string, unknown>)['id']).toBe(id);
    const back = await run(agent);
    await until('linked again', () => back.stderr.includes('"event":"hub.linked"') || undefined);
    await sleep(3000); // the hub hands queued commands down at once on a new link: give it the chance
    expect((await vendor().get(`/v1/writebacks/${id}`)).body['status']).toBe('timed_out');
    expect(back.stderr).not.toContain('hub.writeback_received');
    expect(cancels()).toBe(before);
    await back.stop();
  });

  it('revoking a site closes its link at once', async () => {
    const { site, agent } = await enroll('revoked');
    const proc = await run(agent);
    await until('linked', () => proc.stderr.includes('"event":"hub.linked"') || undefined);
    const at = Date.now();
    expect((await runCli(['hub', 'site', 'revoke', site.siteId, '--config', hub.configFile])).code).toBe(0);
    await until('closed as revoked', () => /"closeCode":4002/.test(proc.stderr) || undefined, 10_000, 50);
    expect(Date.now() - at).toBeLessThan(10_000);
    await proc.stop();
  });

  it('answers malformed, unknown and oversized frames with an error or a close, and stays up', async () => {
    const site = await newSite('frames');
    const enrolled = (await (
      await fetch(`${hub.url}/v1/enroll`, {
        method: 'POST',
        headers: { authorization: `Bearer ${site.enrollmentKey}` },
      })
    ).json()) as { credential: string; connectionIds: string[] };
    secrets.push(enrolled.credential);
    const wsUrl = `${hub.url.replace('http', 'ws')}/v1/agent/link`;
    const open = async () => {
      const ws = new WebSocket(wsUrl);
      const frames: Record<string, unknown>[] = [];
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
      ws.on('error', () => undefined);
      await new Promise((resolve) => ws.once('open', resolve));
      return { ws, frames, closed };
    };
    const hello = (credential: string) =>
      JSON.stringify({
        type: 'hello',
        id: 'h1',
        protocol: 1,
        siteId: site.siteId,
        credential,
        agentVersion: 'test',
        connections: [],
      });

    const noHello = await open();
    noHello.ws.send(JSON.stringify({ type: 'ping', id: 'p' }));
    expect(await noHello.closed).toBe(4004);
    const badCredential = await open();
    badCredential.ws.send(hello(`tha_${'1'.repeat(16)}_${'C'.repeat(43)}`));
    expect(await badCredential.closed).toBe(4001);
    const wrongVersion = await open();
    wrongVersion.ws.send(hello(enrolled.credential).replace('"protocol":1', '"protocol":99'));
    expect(await wrongVersion.closed).toBe(4003);

    const link = await open();
    link.ws.send(hello(enrolled.credential));
    await until('welcome', () => link.frames.find((f) => f['type'] === 'welcome'));
    link.ws.send(JSON.stringify({ type: 'teleport', id: 'u1' }));
    link.ws.send('{not json');
    link.ws.send(
      JSON.stringify({
        type: 'events',
        id: 'e1',
        connectionId: 'someone-else',
        events: [{ envelope: {}, kind: 'x', sourceId: '', connectorId: '', refs: {} }],
      }),
    );
    link.ws.send(
      JSON.stringify({
        type: 'events',
        id: 'e2',
        connectionId: 'someone-else',
        events: [
          {
            envelope: {
              id: 'x',
              type: 't',
              occurredAt: 'now',
              connectionId: 'someone-else',
              resourceType: 'Patient',
              resourceId: 'r',
              sequence: 1,
              data: {},
            },
            kind: 'created',
            sourceId: 's',
            connectorId: 'c',
            refs: {},
          },
        ],
      }),
    );
    link.ws.send(JSON.stringify({ type: 'ping', id: 'p2' }));
    const errors = await until('the error answers', () => {
      const found = link.frames.filter((f) => f['type'] === 'error');
      return found.length >= 4 && link.frames.some((f) => f['type'] === 'pong') ? found : undefined;
    });
    expect(errors.map((e) => e['code'])).toEqual([
      'unknown_type',
      'malformed_frame',
      'malformed_frame',
      'unknown_connection',
    ]);
    expect(errors[0]!['replyTo']).toBe('u1');
    expect(link.ws.readyState).toBe(WebSocket.OPEN);
    link.ws.send('x'.repeat(70_000)); // over link.maxFrameBytes (64 KiB here)
    expect(await link.closed).toBe(1009);
    const binary = await open();
    binary.ws.send(hello(enrolled.credential));
    await until('welcome', () => binary.frames.find((f) => f['type'] === 'welcome'));
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect(await binary.closed).toBe(4004);

    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${hub.url}/readyz`)).status).toBe(200);
    expect(await heldBy(site.siteId)).toBe(0);
  });

  it('leaves no patient data and no secret in any log', async () => {
    const patients = (
      await ehr.knex.raw("SELECT LName, FName, Birthdate, Email FROM patient WHERE Birthdate > '1800-01-01'")
    )[0] as Record<string, string>[];
    const needles = new Set<string>();
    for (const p of patients) {
      for (const name of [p['LName'], p['FName']]) if (name && name.length >= 5) needles.add(name);
      if (p['Birthdate']) needles.add(p['Birthdate']);
      if (p['Email']) needles.add(p['Email']);
    }
    needles.add('Bee');
    expect(needles.size).toBeGreaterThan(100);
    const logs = processes.map((p) => p.stdout + p.stderr).join('\n');
    expect(logs).toContain('hub.linked');
    expect([...needles].filter((n) => n.length >= 5 && logs.includes(n))).toEqual([]);
    expect(secrets.filter((s) => logs.includes(s))).toEqual([]);
    expect(logs).not.toMatch(/tha_[0-9a-f]{16}_/);
  });
});
