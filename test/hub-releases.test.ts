import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { runCli } from './support/cli.js';
import { hubAdmin, startHub, until, vendorClient, type TestHub } from './support/hub.js';

/** A vendor's webhook endpoint: a real HTTP server keeping each request's body and headers. */
interface Receiver {
  readonly url: string;
  readonly received: { body: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.writeHead(204).end();
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

interface Frame {
  type: string;
  id: string;
  [key: string]: unknown;
}

/**
 * The agent's end of the link, spoken by the test (the real agent's upgrade is built elsewhere):
 * `hello` with the site's credential, then whatever frames the test sends; every frame the hub
 * sends is kept.
 */
async function fakeAgent(hubUrl: string, hello: Record<string, unknown>) {
  const frames: Frame[] = [];
  const ws = new WebSocket(`${hubUrl.replace(/^http/, 'ws')}/v1/agent/link`);
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Frame));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let n = 0;
  const send = (frame: Record<string, unknown>) => ws.send(JSON.stringify({ id: `f${(n += 1)}`, ...frame }));
  send({ type: 'hello', protocol: 1, ...hello });
  let closed: string | undefined;
  ws.on('close', (code, reason) => (closed = `${code} ${reason.toString('utf8')}`));
  await until('welcome', () => closed ?? frames.find((f) => f.type === 'welcome'), 30_000);
  if (closed) throw new Error(`the hub closed the link: ${closed}`);
  return {
    frames,
    send,
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}

/** A file as `pnpm release` leaves it: the tarball, `<tarball>.sha256` (sha256sum format) and `<tarball>.sig`. */
function writeRelease(
  dir: string,
  name: string,
  content: Buffer,
  key: Parameters<typeof sign>[2],
  sha256 = createHash('sha256').update(content).digest('hex'),
): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  writeFileSync(`${file}.sha256`, `${sha256}  ${name}\n`);
  writeFileSync(`${file}.sig`, `${sign(null, content, key).toString('base64')}\n`);
  return file;
}

/**
 * Remote upgrade, the hub side (docs/hub.md, "Remote upgrade"), with real processes: a `tendril
 * hub` on PGlite configured with a throwaway Ed25519 release key, the CLI storing releases (a good
 * one, a damaged one, one signed by another key), an agent's download over real HTTP with its link
 * credential, the upgrade command refused for an unknown version and carrying the release
 * otherwise, and the outcomes an agent reports turned into exactly one event each at a real
 * subscription receiver — also across a hub restart.
 */
describe('hub releases and remote upgrade', () => {
  let dir: string;
  let hub: TestHub | undefined;
  let receiver: Receiver;
  let secret: string;
  let siteId: string;
  let connectionId: string;
  let credential: string;
  let goodFile: string;
  let good: Buffer;
  const releaseKey = generateKeyPairSync('ed25519');
  const settings = {
    releases: { publicKey: '../release.pub.pem' },
    delivery: { fanoutMs: 200, jitter: 0 },
    link: { pingSeconds: 60 },
  };
  const basic = (site: string, secretText: string) =>
    `Basic ${Buffer.from(`${site}:${secretText}`).toString('base64')}`;
  const status = (lastUpgrade?: Record<string, unknown>) => ({
    type: 'status',
    status: {
      health: 'ok',
      problems: [],
      connections: [
        {
          id: connectionId,
          streams: [
            {
              stream: 'patients',
              status: 'healthy',
              stale: false,
              lagSeconds: 0,
              lastSuccessAt: new Date().toISOString(),
              lastErrorCode: null,
            },
          ],
          pendingWritebacks: 0,
          outboxEvents: 0,
        },
      ],
      ...(lastUpgrade ? { lastUpgrade } : {}),
    },
  });
  const hello = (agentVersion: string) => ({
    siteId,
    credential,
    agentVersion,
    connections: [{ id: connectionId, connector: 'open-dental', capabilities: {} }],
  });
  const agentEvents = () => {
    const webhook = new Webhook(secret);
    return receiver.received
      .map(
        ({ body, headers }) =>
          webhook.verify(body, {
            'webhook-id': String(headers['webhook-id']),
            'webhook-timestamp': String(headers['webhook-timestamp']),
            'webhook-signature': String(headers['webhook-signature']),
          }) as { type: string; data: Record<string, unknown> },
      )
      .filter((e) => e.type.startsWith('agent.'));
  };
  /** Runs `hub site upgrade` while the fake agent answers the command it receives. */
  async function upgradeThrough(agent: Awaited<ReturnType<typeof fakeAgent>>, version: string) {
    const before = agent.frames.length;
    const cli = runCli([
      'hub',
      'site',
      'upgrade',
      siteId,
      '--version',
      version,
      '--config',
      hub!.configFile,
      '--json',
    ]);
    const frame = await until(
      'the command frame',
      () => agent.frames.slice(before).find((f) => f.type === 'command'),
      30_000,
    );
    const command = frame['command'] as {
      id: string;
      name: string;
      args: { release: Record<string, unknown> };
    };
    agent.send({
      type: 'command.result',
      commandId: command.id,
      status: 'ok',
      message: 'upgrading; restarting',
    });
    const result = await cli;
    return { command, result };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-releases-'));
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'release.pub.pem'), releaseKey.publicKey.export({ type: 'spki', format: 'pem' }));
    // 2.5 MB: more than two of the slices the route streams.
    good = randomBytes(2_500_000);
    goodFile = writeRelease(
      join(dir, 'files'),
      'tendril-0.9.0-linux-x64.tar.gz',
      good,
      releaseKey.privateKey,
    );
    hub = await startHub(join(dir, 'hub'), settings);
    const created = await hubAdmin<{ siteId: string; enrollmentKey: string; connectionIds: string[] }>(
      hub.configFile,
      ['site', 'create', '--vendor', 'acme', '--name', 'Upgrade Ridge Dental', '--connector', 'open-dental'],
    );
    siteId = created.siteId;
    connectionId = created.connectionIds[0]!;
    const enrolled = await fetch(`${hub.url}/v1/enroll`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.enrollmentKey}` },
    });
    credential = ((await enrolled.json()) as { credential: string }).credential;
    const key = await hubAdmin<{ key: string }>(hub.configFile, [
      'api-key',
      'create',
      '--name',
      'acme',
      '--sites',
      '*',
    ]);
    receiver = await startReceiver();
    const subscription = await vendorClient(hub.url, key.key).post('/v1/subscriptions', {
      url: receiver.url,
      allowInsecure: true,
      eventTypes: ['agent.*'],
    });
    expect(subscription.status).toBe(201);
    secret = subscription.body['secret'] as string;
  }, 180_000);

  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a release whose bytes match its .sha256 and whose signature verifies; refuses the others', async () => {
    const added = await runCli(['hub', 'release', 'add', goodFile, '--config', hub!.configFile, '--json']);
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({
      version: '0.9.0',
      platform: 'linux-x64',
      bytes: good.length,
      sha256: createHash('sha256').update(good).digest('hex'),
    });

    // A damaged copy: the bytes do not match the .sha256 written for the original.
    const original = randomBytes(4096);
    const damaged = writeRelease(
      join(dir, 'files'),
      'tendril-0.9.1-linux-x64.tar.gz',
      original.subarray(0, 4000),
      releaseKey.privateKey,
      createHash('sha256').update(original).digest('hex'),
    );
    const refused = await runCli(['hub', 'release', 'add', damaged, '--config', hub!.configFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`does not match ${damaged}.sha256`);

    // Signed with a key that is not the hub's release key.
    const stranger = generateKeyPairSync('ed25519');
    const unsigned = writeRelease(
      join(dir, 'files'),
      'tendril-0.9.2-linux-x64.tar.gz',
      randomBytes(4096),
      stranger.privateKey,
    );
    const badSignature = await runCli(['hub', 'release', 'add', unsigned, '--config', hub!.configFile]);
    expect(badSignature.code).toBe(2);
    expect(badSignature.stderr).toContain('does not verify with releases.publicKey');

    // The same version twice: never replaced.
    expect((await runCli(['hub', 'release', 'add', goodFile, '--config', hub!.configFile])).code).toBe(2);

    const listed = await hubAdmin<{ releases: { version: string }[] }>(hub!.configFile, ['release', 'list']);
    expect(listed.releases.map((r) => r.version)).toEqual(['0.9.0']);
  }, 90_000);

  it("serves the tarball to the site's agent only: 200 with the bytes, 401 for a wrong credential, 404 for an unknown version", async () => {
    const path = '/agent/v1/releases/0.9.0/artifact';
    const ok = await fetch(`${hub!.url}${path}`, { headers: { authorization: basic(siteId, credential) } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-length')).toBe(String(good.length));
    expect(Buffer.from(await ok.arrayBuffer()).equals(good)).toBe(true);

    const [, id] = credential.split('_');
    const wrong = `tha_${id}_${randomBytes(32).toString('base64url')}`;
    const refusals = await Promise.all([
      fetch(`${hub!.url}${path}`, { headers: { authorization: basic(siteId, wrong) } }),
      fetch(`${hub!.url}${path}`, { headers: { authorization: basic('st_0000000000000000', credential) } }),
      fetch(`${hub!.url}${path}`),
      // An outsider learns nothing about which versions exist: 401 before 404.
      fetch(`${hub!.url}/agent/v1/releases/7.7.7/artifact`),
    ]);
    expect(refusals.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(refusals[0]!.headers.get('www-authenticate')).toContain('Basic');

    const unknown = await fetch(`${hub!.url}/agent/v1/releases/7.7.7/artifact`, {
      headers: { authorization: basic(siteId, credential) },
    });
    expect(unknown.status).toBe(404);
  }, 60_000);

  it('refuses an upgrade to a version it does not hold before sending anything; otherwise the command carries the release', async () => {
    const agent = await fakeAgent(hub!.url, hello('0.8.0'));
    try {
      const unknown = await runCli([
        'hub',
        'site',
        'upgrade',
        siteId,
        '--version',
        '9.9.9',
        '--config',
        hub!.configFile,
      ]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no release 9.9.9 is stored on this hub; stored: 0.9.0');
      const { command, result } = await upgradeThrough(agent, '0.9.0');
      expect(result.code).toBe(0);
      // Only the stored version's command ever reached the agent.
      expect(agent.frames.filter((f) => f.type === 'command')).toHaveLength(1);
      const release = command.args.release as {
        version: string;
        sha256: string;
        signature: string;
        bytes: number;
        path: string;
      };
      expect(command.name).toBe('upgrade');
      expect(release).toEqual({
        version: '0.9.0',
        sha256: createHash('sha256').update(good).digest('hex'),
        signature: readFileSync(`${goodFile}.sig`, 'utf8').trim(),
        bytes: good.length,
        path: '/agent/v1/releases/0.9.0/artifact',
      });
      // What the agent does with it: download from the path with its link credential, check both.
      const downloaded = Buffer.from(
        await (
          await fetch(`${hub!.url}${release.path}`, { headers: { authorization: basic(siteId, credential) } })
        ).arrayBuffer(),
      );
      expect(createHash('sha256').update(downloaded).digest('hex')).toBe(release.sha256);
      expect(verify(null, downloaded, releaseKey.publicKey, Buffer.from(release.signature, 'base64'))).toBe(
        true,
      );
      const history = await hubAdmin<{
        commands: { name: string; args: { release?: { version: string } } }[];
      }>(hub!.configFile, ['site', 'commands', siteId]);
      expect(history.commands.map((c) => `${c.name}:${c.args.release?.version}`)).toEqual(['upgrade:0.9.0']);
    } finally {
      await agent.close();
    }
  }, 90_000);

  it('turns each reported outcome into exactly one event, across repeated statuses and a hub restart', async () => {
    const first = await hubAdmin<{ commands: { id: string }[] }>(hub!.configFile, [
      'site',
      'commands',
      siteId,
    ]);
    const failedReport = {
      commandId: first.commands[0]!.id,
      fromVersion: '0.8.0',
      toVersion: '0.9.0',
      outcome: 'upgrade_failed',
      reason: 'the new version was not healthy within 120 s; rolled back to 0.8.0',
      at: new Date().toISOString(),
    };
    let agent = await fakeAgent(hub!.url, hello('0.8.0'));
    for (let tick = 0; tick < 3; tick += 1) agent.send(status(failedReport));
    await until(
      'the outcome on the command',
      async () => {
        const shown = await hubAdmin<{ commands: { outcome?: string }[] }>(hub!.configFile, [
          'site',
          'commands',
          siteId,
        ]);
        return shown.commands[0]!.outcome === 'upgrade_failed' || undefined;
      },
      30_000,
    );
    await agent.close();

    // The hub restarts; the agent, still reporting the same outcome, links again.
    await hub!.stop();
    hub = await startHub(join(dir, 'hub'), settings);
    agent = await fakeAgent(hub.url, hello('0.8.0'));
    agent.send(status(failedReport));
    agent.send(status(failedReport));
    // A second upgrade that works: its event comes after anything the repeats could have raised
    // (one resource, delivered in order), so waiting for it is waiting long enough.
    const { command } = await upgradeThrough(agent, '0.9.0');
    await agent.close();
    agent = await fakeAgent(hub.url, hello('0.9.0'));
    const upgradedReport = {
      commandId: command.id,
      fromVersion: '0.8.0',
      toVersion: '0.9.0',
      outcome: 'upgraded',
      at: new Date().toISOString(),
    };
    agent.send(status(upgradedReport));
    agent.send(status(upgradedReport));
    try {
      await until(
        'agent.upgraded at the receiver',
        () => agentEvents().some((e) => e.type === 'agent.upgraded') || undefined,
        60_000,
      );
      const events = agentEvents();
      expect(events.map((e) => e.type)).toEqual(['agent.upgrade_failed', 'agent.upgraded']);
      expect(events[0]!.data).toMatchObject({
        siteId,
        commandId: failedReport.commandId,
        reason: failedReport.reason,
      });
      expect(events[1]!.data).toMatchObject({ siteId, commandId: command.id, toVersion: '0.9.0' });

      const history = await hubAdmin<{
        commands: { id: string; outcome?: string; outcomeReason?: string }[];
      }>(hub.configFile, ['site', 'commands', siteId]);
      expect(history.commands.map((c) => [c.id, c.outcome, c.outcomeReason])).toEqual([
        [command.id, 'upgraded', undefined],
        [failedReport.commandId, 'upgrade_failed', failedReport.reason],
      ]);
      // The version shown follows the agent's hello.
      const shown = await hubAdmin<{ site: { agentVersion: string } }>(hub.configFile, [
        'site',
        'show',
        siteId,
      ]);
      expect(shown.site.agentVersion).toBe('0.9.0');
    } finally {
      await agent.close();
    }
    // No credential in the hub's log.
    expect(hub.stdout + hub.stderr).not.toContain(credential);
  }, 180_000);
});
