import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { launchChromium } from './support/console.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { CLI, REPO_ROOT } from './support/paths.js';

const PATIENTS = 120;
const CONNECTION = 'smile-dental-main';

interface StatusJson {
  agent: {
    state: string;
    version: string;
    uptimeSeconds: number;
    pid: number;
    delivery: string;
    deliveries: { subscriptions: number; pending: number | null; dead: number | null };
    subscriptions: { id: string; state: string; pending: number | null; dead: number | null }[];
  };
  connections: {
    id: string;
    outbox: { events: number | null; undelivered: number | null };
    deadLetters: number | null;
    pendingWritebacks: number | null;
    quarantined: number | null;
    streams: {
      stream: string;
      status: string;
      liveRecords: number | null;
      freshness: { state: string; lastReadAt?: string; expectedEverySeconds: number };
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

/** A webhook receiver on loopback answering every request with `status`; counts what it got. */
async function receiver(
  status: number,
): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server: Server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received++;
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * `tendril run` end to end: the built CLI runs the agent against a real MariaDB Open Dental
 * database with two webhook subscriptions (one receiver accepts, one answers 410 Gone); the
 * catch-up poll backloads it; the status page (real Chromium), /healthz, /readyz, /metrics and
 * /v1/status show the seeded numbers, the per-connection delivery figures and the delivery
 * problems; SIGTERM stops it cleanly.
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
  let accepting: Awaited<ReturnType<typeof receiver>>;
  let gone: Awaited<ReturnType<typeof receiver>>;

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

    accepting = await receiver(204);
    gone = await receiver(410);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    dir = mkdtempSync(join(tmpdir(), 'tendril-run-'));
    port = await freePort();
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: info',
        `api: { host: 127.0.0.1, port: ${port} }`,
        // The map pool on, whatever the machine's cores: the backload's pages are mapped in a
        // worker thread, and SIGTERM must still stop the process (docs/sync.md, "The map pool").
        'mapThreads: 1',
        'connections:',
        `  - id: ${CONNECTION}`,
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://root@127.0.0.1:3306/${db.name}" }`,
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 500 }',
        'subscriptions:',
        '  - id: crm',
        `    url: ${accepting.url}`,
        '    allowInsecure: true',
        '    resourceTypes: [Patient]',
        `    secrets: ["${secret}"]`,
        '  - id: retired-app',
        `    url: ${gone.url}`,
        '    allowInsecure: true',
        '    resourceTypes: [Patient]',
        `    secrets: ["${secret}"]`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await accepting?.close();
    await gone?.close();
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
    expect(status.agent.version).toBe('0.1.0');
    // Every patient event goes to both subscriptions: the accepting one drains, the 410 one is
    // disabled with dead letters, and the rest of its queue waits.
    const settled = await until('deliveries to settle', async () => {
      const body = (await (await fetch(`${base}/v1/status`)).json()) as StatusJson;
      const crm = body.agent.subscriptions.find((s) => s.id === 'crm');
      const retired = body.agent.subscriptions.find((s) => s.id === 'retired-app');
      return crm?.pending === 0 && retired?.state === 'disabled' && (retired.dead ?? 0) > 0
        ? body
        : undefined;
    });
    expect(accepting.received()).toBeGreaterThanOrEqual(livePatients);
    const retired = settled.agent.subscriptions.find((s) => s.id === 'retired-app')!;
    const figures = settled.connections[0]!;
    // Per connection, counted by the store: never n/a.
    expect(figures.outbox.undelivered).toBe(retired.pending);
    expect(figures.deadLetters).toBe(retired.dead);
    expect(figures.deadLetters).toBe(settled.agent.deliveries.dead);
    expect(figures.pendingWritebacks).toBe(0);
    expect(figures.outbox.undelivered! + figures.deadLetters!).toBe(livePatients);
    // Counted by the store (docs/quarantine.md): 0 here, never n/a.
    expect(figures.quarantined).toBe(0);
    const patientsFreshness = figures.streams.find((s) => s.stream === 'patients')!.freshness;
    expect(patientsFreshness).toMatchObject({ state: 'fresh', expectedEverySeconds: 600 });

    // Liveness stays 200; readiness is 503 with the delivery problems.
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'live', live: true, state: 'running' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    const verdict = (await ready.json()) as {
      status: string;
      problems: string[];
      streams: { unhealthy: number };
    };
    expect(verdict.status).toBe('degraded');
    expect(verdict.streams.unhealthy).toBe(0);
    expect(verdict.problems).toContain(
      'subscription retired-app: disabled: the endpoint answered 410 Gone; fix the URL, then tendril deliveries resume (--subscription retired-app)',
    );
    expect(
      verdict.problems.some((p) => /^\d+ dead letters?: tendril deliveries list --status dead/.test(p)),
    ).toBe(true);

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
    expect(text).toContain(`tendril_dead_letters{connection="${CONNECTION}"} ${figures.deadLetters}`);
    expect(text).toContain('tendril_subscription_state{subscription="retired-app",state="disabled"} 1');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    // Histograms observed by the running agent: pages of the backload, deliveries to the receiver.
    const pages = Number(
      /^tendril_page_duration_seconds_count\{connection="smile-dental-main",stream="patients"\} (\d+)$/m.exec(
        text,
      )?.[1],
    );
    expect(pages).toBeGreaterThanOrEqual(1);
    const delivered = Number(
      /^tendril_delivery_latency_seconds_count\{subscription="crm"\} (\d+)$/m.exec(text)?.[1],
    );
    expect(delivered).toBe(accepting.received());
    expect(text).toMatch(
      /^tendril_delivery_request_duration_seconds_count\{subscription="retired-app",outcome="permanent"\} [1-9]/m,
    );

    browser = await launchChromium();
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
    expect(await page.title()).toBe('Tendril agent status: degraded');
    const problems = page.locator('section[aria-labelledby="problems"] li');
    await expect(problems.allTextContents()).resolves.toContain(
      'subscription retired-app: disabled: the endpoint answered 410 Gone; fix the URL, then tendril deliveries resume (--subscription retired-app)',
    );
    const retiredRow = page.locator('tr[data-subscription="retired-app"]');
    expect((await retiredRow.locator('td').nth(0).textContent())?.trim()).toBe('disabled');
    const section = page.locator(`section[data-connection="${CONNECTION}"]`);
    await expect(section.locator('h2').textContent()).resolves.toContain(CONNECTION);
    const patientsRow = section.locator('tr[data-stream="patients"]');
    expect((await patientsRow.locator('td[data-metric="live"]').textContent())?.trim()).toBe(
      livePatients.toLocaleString('en-US'),
    );
    expect((await patientsRow.locator('td').nth(0).textContent())?.trim()).toBe('healthy');
    // Freshness: the last read in the office's zone (New York), UTC on hover.
    const lastRead = patientsRow.locator('td[data-metric="freshness"] time');
    const lastReadAt = patientsFreshness.lastReadAt!;
    expect(await lastRead.getAttribute('datetime')).toBe(lastReadAt);
    expect(await lastRead.getAttribute('title')).toBe(
      `${lastReadAt.slice(0, 10)} ${lastReadAt.slice(11, 19)} UTC`,
    );
    expect(await lastRead.textContent()).toMatch(/ E[DS]T$/);
    expect(await patientsRow.locator('td[data-metric="freshness"] .badge').textContent()).toBe('fresh');
    expect((await section.locator('[data-metric="outbox-events"]').textContent())?.trim()).toBe(
      totalCreated.toLocaleString('en-US'),
    );
    const current = (await (await fetch(`${base}/v1/status`)).json()) as StatusJson;
    expect((await section.locator('[data-metric="dead-letters"]').textContent())?.trim()).toBe(
      current.connections[0]!.deadLetters!.toLocaleString('en-US'),
    );
    expect((await section.locator('[data-metric="outbox-undelivered"]').textContent())?.trim()).toBe(
      current.connections[0]!.outbox.undelivered!.toLocaleString('en-US'),
    );
    expect((await section.locator('[data-metric="pending-writebacks"]').textContent())?.trim()).toBe('0');
    expect((await section.locator('span[data-metric="quarantined"]').textContent())?.trim()).toBe('0');
    expect(await page.locator('[data-metric="uptime"]').textContent()).toMatch(/\d+ (s|min)/);
    // No site key here: the store is plain text, said plainly on the page, in /v1/status and in the
    // log with its code; its size is shown (docs/security.md, "PHI at rest").
    const store = (current as unknown as { store: { encryption: string; sizeBytes: number } }).store;
    expect(store.encryption).toBe('none');
    expect(store.sizeBytes).toBeGreaterThan(0);
    expect(await page.locator('[data-metric="store-encryption"]').textContent()).toContain(
      'patient data is stored in plain text',
    );
    expect(await page.locator('[data-metric="store-size"]').textContent()).toMatch(/^\d+(\.\d)? (B|kB|MB)$/);
    expect(stderr).toContain('"event":"store.plaintext","code":"TENDRIL_W_STORE_PLAINTEXT"');
    expect(statSync(join(dir, 'tendril.db')).mode & 0o777).toBe(0o600);
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
    // No error or fatal log line but the dispatcher's report of the 410 it was given.
    const errors = stderr
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line) && !line.includes('"subscriptionId":"retired-app"'));
    expect(errors).toEqual([]);
  });
});
