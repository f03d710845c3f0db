import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { CLI, REPO_ROOT } from './support/paths.js';

const PATIENTS = 120;
const CONNECTION = 'smile-dental-main';

interface StatusJson {
  agent: {
    state: string;
    uptimeSeconds: number;
    pid: number;
    delivery: string;
    deliveries: { subscriptions: number; pending: number | null; dead: number | null };
  };
  connections: {
    id: string;
    outbox: { events: number | null; undelivered: number | null };
    deadLetters: number | null;
    pendingWritebacks: number | null;
    streams: {
      stream: string;
      status: string;
      liveRecords: number | null;
      lastRun?: { status: string; counts: { created: number } };
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

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * `tendril run` end to end: the built CLI runs the agent against a real MariaDB Open Dental
 * database; the catch-up poll backloads it; the status page (real Chromium), /healthz, /metrics and
 * /v1/status show the seeded numbers; SIGTERM stops it cleanly.
 */
describe('tendril run: agent, status page, health and metrics', () => {
  let db: TestDatabase;
  let dir: string;
  let configFile: string;
  let port: number;
  let agent: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';
  let browser: Browser | undefined;
  let livePatients = 0;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_run');
    await loadOpenDentalSchema(db);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'run-e2e',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    const connection = await db.connect();
    const [[row]] = (await connection.query(
      'SELECT SUM(PatStatus <> 4) AS live FROM patient',
    )) as unknown as [{ live: string }[]];
    await connection.end();
    livePatients = Number(row!.live);
    await sleep(1100); // stamps have 1 s precision; the poll's upper bound excludes the current second

    dir = mkdtempSync(join(tmpdir(), 'tendril-run-'));
    port = await freePort();
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: info',
        `api: { host: 127.0.0.1, port: ${port} }`,
        'connections:',
        `  - id: ${CONNECTION}`,
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://root@127.0.0.1:3306/${db.name}" }`,
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 500 }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await browser?.close();
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs, backloads at start, serves status/health/metrics, renders the page, and stops on SIGTERM', async () => {
    agent = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    agent.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const base = `http://127.0.0.1:${port}`;
    await until(
      'the agent to listen',
      async () => (stdout.includes(`status page ${base}/`) ? true : undefined),
      30_000,
    );

    // The store is new, so the catch-up poll backloads every stream at start.
    const status = await until('the catch-up backload', async () => {
      const body = (await (await fetch(`${base}/v1/status`)).json()) as StatusJson;
      const streams = body.connections[0]!.streams;
      return streams.every((s) => s.status === 'healthy' && s.lastRun?.status === 'succeeded')
        ? body
        : undefined;
    });
    const connection = status.connections[0]!;
    expect(connection.id).toBe(CONNECTION);
    const patients = connection.streams.find((s) => s.stream === 'patients')!;
    expect(patients.liveRecords).toBe(livePatients);
    expect(patients.lastRun!.counts.created).toBe(livePatients);
    const totalCreated = connection.streams.reduce((n, s) => n + (s.lastRun?.counts.created ?? 0), 0);
    expect(connection.outbox.events).toBe(totalCreated);
    // The dispatcher runs; with no subscription configured, nothing is queued for delivery.
    expect(status.agent.delivery).toBe('running');
    expect(status.agent.deliveries).toEqual({ subscriptions: 0, pending: 0, dead: 0 });
    // Not counted per connection in this version: shown as n/a, never as a made-up zero.
    expect(connection.outbox.undelivered).toBeNull();
    expect(connection.deadLetters).toBeNull();
    expect(connection.pendingWritebacks).toBeNull();

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      live: true,
      ready: true,
      streams: { unhealthy: 0, stale: 0 },
    });

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).toContain('# TYPE tendril_stream_live_records gauge');
    expect(text).toContain(
      `tendril_stream_live_records{connection="${CONNECTION}",stream="patients"} ${livePatients}`,
    );
    expect(text).toContain(`tendril_outbox_events{connection="${CONNECTION}"} ${totalCreated}`);
    expect(text).toContain(
      `tendril_stream_status{connection="${CONNECTION}",stream="patients",status="healthy"} 1`,
    );
    expect(text).not.toContain('tendril_dead_letters{');

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    const failedRequests: string[] = [];
    page.on('requestfailed', (request) => failedRequests.push(request.url()));
    const response = await page.goto(`${base}/`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('Tendril agent status: ok');
    const section = page.locator(`section[data-connection="${CONNECTION}"]`);
    await expect(section.locator('h2').textContent()).resolves.toContain(CONNECTION);
    const patientsRow = section.locator('tbody tr', { has: page.locator('th', { hasText: /^patients/ }) });
    expect((await patientsRow.locator('td[data-metric="live"]').textContent())?.trim()).toBe(
      livePatients.toLocaleString('en-US'),
    );
    expect((await patientsRow.locator('td').nth(0).textContent())?.trim()).toBe('healthy');
    expect((await section.locator('[data-metric="outbox-events"]').textContent())?.trim()).toBe(
      totalCreated.toLocaleString('en-US'),
    );
    expect((await section.locator('[data-metric="dead-letters"]').textContent())?.trim()).toBe('n/a');
    expect((await section.locator('[data-metric="pending-writebacks"]').textContent())?.trim()).toBe('n/a');
    expect(await page.locator('[data-metric="uptime"]').textContent()).toMatch(/\d+ (s|min)/);
    // Every stream of the connection has a row.
    expect(await section.locator('tbody tr').count()).toBe(connection.streams.length);
    await page.screenshot({ path: '/tmp/tendril-status-page.png', fullPage: true });
    expect(consoleErrors).toEqual([]);
    expect(failedRequests).toEqual([]);

    agent.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      agent!.exitCode !== null ? resolve(agent!.exitCode) : agent!.once('exit', (c) => resolve(c)),
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('"event":"agent.stopped"');
    expect(stderr).not.toMatch(/"level":(50|60)/); // no error or fatal log line
  });
});
