import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { runCli } from './cli.js';
import { CLI, REPO_ROOT } from './paths.js';

/** A `tendril` process started by a test (hub node or agent), with its output kept for assertions and log scans. */
export interface TestProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (kill -9): no cleanup at all. */
  kill9(): Promise<void>;
  readonly exited: Promise<number | null>;
}

function startProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}, entry = CLI): TestProcess {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await proc.exited;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await proc.exited;
    },
  };
  child.stdout!.on('data', (chunk: Buffer) => (proc.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (proc.stderr += chunk.toString('utf8')));
  return proc;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface TestHub extends TestProcess {
  readonly url: string;
  readonly configFile: string;
}

/** Writes a hub.yaml in `dir` and starts `tendril hub` on it; resolves once it listens. */
export async function startHub(
  dir: string,
  settings: Record<string, unknown>,
  options: { port?: number; configName?: string } = {},
): Promise<TestHub> {
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, options.configName ?? 'hub.yaml');
  writeFileSync(
    configFile,
    stringify({
      listen: { host: '127.0.0.1', port: options.port ?? 0 },
      dataDir: './hubdata',
      logLevel: 'info',
      ...settings,
    }),
  );
  const proc = startProcess(['hub', '--config', configFile]);
  const url = await until(
    'the hub to listen',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`hub exited: ${proc.stderr}`);
      return /running on (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.stdout)?.[1];
    },
    90_000,
  );
  return Object.assign(proc, { url, configFile });
}

/** Runs a `tendril hub …` admin command and parses its --json output. */
export async function hubAdmin<T = Record<string, unknown>>(
  configFile: string,
  args: readonly string[],
): Promise<T> {
  const result = await runCli(['hub', ...args, '--config', configFile, '--json']);
  if (result.code !== 0)
    throw new Error(`tendril hub ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface EnrolledAgent {
  readonly configFile: string;
  readonly siteKey: string;
  readonly connectionId: string;
  readonly siteId: string;
}

/**
 * `tendril init --hub … --enroll … --non-interactive` for an Open Dental database on the test
 * MariaDB (root, no password), then the test's own settings: a free API port, no settle delay,
 * and optionally writeback through the Open Dental API.
 */
export async function enrollAgent(options: {
  dir: string;
  hubUrl: string;
  enrollmentKey: string;
  database: string;
  /** Writeback through the Open Dental API (in tests: its fake) at this URL with these keys. */
  writebackApi?: { url: string; developerKey: string; customerKey: string };
  extra?: Record<string, unknown>;
}): Promise<EnrolledAgent> {
  mkdirSync(options.dir, { recursive: true });
  const configFile = join(options.dir, 'tendril.yaml');
  const result = await runCli(
    [
      'init',
      '--config',
      configFile,
      '--hub',
      options.hubUrl,
      '--enroll',
      options.enrollmentKey,
      '--non-interactive',
      '--host',
      '127.0.0.1',
      '--port',
      '3306',
      '--database',
      options.database,
      '--user',
      'root',
      '--password-env',
      'TEST_DB_PASSWORD',
      '--timezone',
      'America/New_York',
      '--json',
    ],
    { env: { TEST_DB_PASSWORD: '' } },
  );
  if (result.code !== 0) throw new Error(`init --enroll failed (${result.code}): ${result.stderr}`);
  const init = JSON.parse(result.stdout) as { siteKey: string; connectionId: string; siteId: string };
  const doc = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown> & {
    connections: Record<string, unknown>[];
  };
  doc['api'] = { host: '127.0.0.1', port: 0 };
  doc.connections[0]!['sync'] = { settleSeconds: 0, overlapSeconds: 900, pageSize: 1000 };
  if (options.writebackApi) doc.connections[0]!['writeback'] = { enabled: true, api: options.writebackApi };
  Object.assign(doc, options.extra ?? {});
  writeFileSync(configFile, stringify(doc));
  return { configFile, siteKey: init.siteKey, connectionId: init.connectionId, siteId: init.siteId };
}

/**
 * `tendril run --no-supervise` for an enrolled agent (or supervised, as a service runs it, with
 * `supervise`); resolves once its API listens. `entry` runs another agent than this checkout's,
 * such as an unpacked release's `lib/dist/bin.js` (test/remote-upgrade.test.ts).
 */
export async function startAgent(
  agent: EnrolledAgent,
  env: NodeJS.ProcessEnv = {},
  options: { supervise?: boolean; entry?: string } = {},
): Promise<TestProcess> {
  const args = ['run', '--config', agent.configFile, ...(options.supervise ? [] : ['--no-supervise'])];
  const proc = startProcess(
    args,
    {
      TENDRIL_SITE_KEY: agent.siteKey,
      ...env,
    },
    options.entry,
  );
  await until(
    'the agent to run',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`agent exited: ${proc.stderr}`);
      return proc.stdout.includes('agent running') || undefined;
    },
    90_000,
  );
  return proc;
}

/** A vendor's HTTP calls to the hub API. */
export function vendorClient(hubUrl: string, key: string) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  return {
    async get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
      const response = await fetch(`${hubUrl}${path}`, { headers });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      const response = await fetch(`${hubUrl}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    /** Every event of a site, paging until the log is exhausted. */
    async allEvents(siteId: string): Promise<Record<string, unknown>[]> {
      const events: Record<string, unknown>[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await this.get(`/v1/sites/${siteId}/events?limit=1000${after ? `&after=${after}` : ''}`);
        if (page.status !== 200) throw new Error(`events: ${page.status} ${JSON.stringify(page.body)}`);
        events.push(...(page.body['events'] as Record<string, unknown>[]));
        after = page.body['next'] as string;
        if (!page.body['more']) return events;
      }
    },
  };
}
