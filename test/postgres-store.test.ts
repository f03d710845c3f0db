import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackReceiver, type LoopbackReceiver } from '@tendril/delivery';
// The store package's throw-away PostgreSQL database (tendril_pgs_<random>, dropped after).
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../packages/store/src/postgres-test-database.test-helper.js';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { CLI, REPO_ROOT } from './support/paths.js';

const CONNECTION = 'pg-dental';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface SyncJson {
  connections: {
    id: string;
    streams: {
      stream: string;
      read: number;
      created: number;
      updated: number;
      deleted: number;
      unchanged: number;
      error?: unknown;
    }[];
  }[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * `store: { postgres: <url> }` end to end with the built CLI: a real Open Dental schema on MariaDB
 * as the source, the agent's state in a real PostgreSQL database. `sync --once` backloads into the
 * PostgreSQL outbox (with delivery rows for the subscription), a second run finds everything
 * unchanged, and `tendril run` delivers every event from the PostgreSQL store to a loopback receiver.
 */
describe('PostgreSQL store: tendril sync --once and tendril run', () => {
  let source: TestDatabase;
  let store: PostgresTestDatabase;
  let receiver: LoopbackReceiver;
  let dir: string;
  let configFile: string;
  let port: number;
  let agent: ChildProcess | undefined;

  beforeAll(async () => {
    source = await createTestDatabase('tendril_pgs');
    await loadOpenDentalSchema(source);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      source.url,
      '--patients',
      '30',
      '--seed',
      'pg-store',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    await sleep(1100); // stamps have 1 s precision; the poll's upper bound excludes the current second

    store = await createPostgresTestDatabase();
    receiver = await startLoopbackReceiver(() => ({ status: 200 }));
    dir = mkdtempSync(join(tmpdir(), 'tendril-pgs-'));
    port = await freePort();
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { postgres: store.url },
        logLevel: 'info',
        api: { host: '127.0.0.1', port },
        connections: [
          {
            id: CONNECTION,
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { url: source.url },
            sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 200 },
          },
        ],
        subscriptions: [{ id: 'pg-sub', url: receiver.url, allowInsecure: true, secrets: [SECRET] }],
      }),
    );
  });

  afterAll(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await receiver?.close();
    await store?.drop();
    await source?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('syncs into PostgreSQL, re-syncs as no-ops, and the running agent delivers every event from it', async () => {
    const first = await runCli(['sync', '--config', configFile, '--once', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const streams = (JSON.parse(first.stdout) as SyncJson).connections[0]!.streams;
    for (const s of streams) expect(s.error, s.stream).toBeUndefined();
    const created = streams.reduce((n, s) => n + s.created, 0);
    expect(streams.find((s) => s.stream === 'patients')!.created).toBeGreaterThan(0);

    // Everything is in PostgreSQL, under the store's own tables.
    const [outbox] = await store.query<{ n: string; distinct_sequences: string }>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT sequence) AS distinct_sequences FROM outbox WHERE connection_id = $1',
      [CONNECTION],
    );
    expect(Number(outbox!.n)).toBe(created);
    expect(Number(outbox!.distinct_sequences)).toBe(created);
    const [pending] = await store.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'",
    );
    expect(Number(pending!.n)).toBe(created);
    const [live] = await store.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM shadow WHERE connection_id = $1 AND NOT deleted',
      [CONNECTION],
    );
    expect(Number(live!.n)).toBe(created);

    const second = await runCli(['sync', '--config', configFile, '--once', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const again = (JSON.parse(second.stdout) as SyncJson).connections[0]!.streams;
    // Every row read again classifies as unchanged against the PostgreSQL shadow.
    expect(again).toEqual(
      streams.map((s) => ({
        stream: s.stream,
        read: s.read,
        created: 0,
        updated: 0,
        deleted: 0,
        unchanged: s.read,
        quarantined: 0,
      })),
    );

    const events = await runCli(['events', '--config', configFile, '--limit', '3', '--format', 'json']);
    expect(events.code, events.stderr).toBe(0);

    let stderr = '';
    let stdout = '';
    agent = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    agent.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const deadline = Date.now() + 60_000;
    while (receiver.requests.length < created && Date.now() < deadline) await sleep(200);
    expect(receiver.requests.length, stderr).toBe(created);
    const status = (await (await fetch(`http://127.0.0.1:${port}/v1/status`)).json()) as {
      connections: { id: string; outbox: { events: number | null } }[];
    };
    expect(status.connections[0]).toMatchObject({ id: CONNECTION, outbox: { events: created } });

    agent.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      agent!.exitCode !== null ? resolve(agent!.exitCode) : agent!.once('exit', (c) => resolve(c)),
    );
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/"level":(50|60)/); // no error or fatal log line
    expect(stdout).toContain('status page');

    // Each event once, with its event id as the webhook-id, and every delivery recorded as delivered.
    const ids = await store.query<{ id: string }>('SELECT id FROM outbox ORDER BY id');
    const sent = receiver.requests.map((r) => String(r.headers['webhook-id'])).sort();
    expect(sent).toEqual(ids.map((r) => r.id).sort());
    const [delivered] = await store.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'delivered'",
    );
    expect(Number(delivered!.n)).toBe(created);
  });
});
