import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqliteStore } from '@tendril/store';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { CLI, REPO_ROOT } from './support/paths.js';
import { createTestDatabase, loadOpenDentalSchema, MARIADB, type TestDatabase } from './support/mariadb.js';

const PATIENTS = 1500;
const PASSWORD = `Run-${randomBytes(6).toString('hex')}`;
const USER = `tendril_chk_${randomBytes(3).toString('hex')}_run`;

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

/** A site key's 32 bytes: the agent run with it seals its store (docs/security.md, "PHI at rest"). */
const keyBytes = (siteKey: string): Buffer => Buffer.from(siteKey.slice('tsk_'.length), 'base64url');

/** Every event as (type, source id, kind), counted: equal multisets mean nothing lost and nothing doubled. */
async function eventTally(storeFile: string, siteKey?: string): Promise<Map<string, number>> {
  const store = openSqliteStore(storeFile, siteKey === undefined ? {} : { siteKey: keyBytes(siteKey) });
  try {
    const events = await store.listEvents({ limit: 1_000_000 });
    const tally = new Map<string, number>();
    for (const e of events) {
      const key = `${e.envelope.resourceType}|${e.sourceId}|${e.kind}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    return tally;
  } finally {
    await store.close();
  }
}

async function eventCount(storeFile: string, siteKey: string): Promise<number> {
  const store = openSqliteStore(storeFile, { siteKey: keyBytes(siteKey) });
  try {
    return await store.countEvents();
  } catch {
    return 0; // not created yet
  } finally {
    await store.close();
  }
}

/** The supervisor's "agent started" log lines (pino JSON on stderr): the child pids in order. */
function childPids(stderr: string): number[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"msg":"agent started"'))
    .map((line) => (JSON.parse(line) as { childPid: number }).childPid);
}

async function until(
  what: string,
  predicate: () => Promise<boolean> | boolean,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('tendril run (supervised) on real MariaDB', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_chk');
    await loadOpenDentalSchema(db, { innodb: true });
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    const root = await mysql.createConnection({ ...MARIADB });
    await root.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY ?`, [PASSWORD]);
    await root.query(`GRANT SELECT ON \`${db.name}\`.* TO '${USER}'@'%'`);
    await root.end();
  });

  afterAll(async () => {
    const root = await mysql.createConnection({ ...MARIADB });
    await root.query(`DROP USER IF EXISTS '${USER}'@'%'`);
    await root.end();
    await db?.drop();
  });

  it('kill -9 of the agent child: the supervisor restarts it and the outbox ends exactly like an uninterrupted sync; the restart API needs the site key', async () => {
    // The oracle: one uninterrupted backload into its own store.
    const oracleDir = mkdtempSync(join(tmpdir(), 'tendril-run-oracle-'));
    const oracleConfig = join(oracleDir, 'tendril.yaml');
    writeFileSync(
      oracleConfig,
      [
        `store: { sqlite: ${join(oracleDir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: smile-dental',
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://root@127.0.0.1:3306/${db.name}" }`,
        '    sync: { settleSeconds: 0, pageSize: 100 }',
        '',
      ].join('\n'),
    );
    // Twice: rows stamped in the very second of the first poll's upper bound belong to the next poll.
    for (let poll = 0; poll < 2; poll++) {
      const oracle = await runCli(['sync', '--config', oracleConfig, '--once']);
      expect(oracle.code, oracle.stderr).toBe(0);
    }
    const expected = await eventTally(join(oracleDir, 'tendril.db'));
    expect(expected.size).toBeGreaterThan(PATIENTS);

    // The site, as an installer sets it up: init writes the config and secrets.enc.
    const dir = mkdtempSync(join(tmpdir(), 'tendril-run-'));
    const configFile = join(dir, 'tendril.yaml');
    const init = await runCli(
      [
        'init',
        '--non-interactive',
        '--config',
        configFile,
        '--practice-name',
        'Smile Dental',
        '--contact-name',
        'Ann',
        '--contact-email',
        'ann@smile.example',
        '--connector',
        'open-dental',
        '--timezone',
        'America/New_York',
        '--host',
        '127.0.0.1',
        '--database',
        db.name,
        '--user',
        USER,
        '--password-env',
        'RUN_DB_PASSWORD',
        '--json',
      ],
      { env: { RUN_DB_PASSWORD: PASSWORD } },
    );
    expect(init.code, init.stderr).toBe(0);
    const { siteKey } = JSON.parse(init.stdout) as { siteKey: string };
    const port = await freePort();
    const yaml = readFileSync(configFile, 'utf8')
      .replace(
        '    timezone: America/New_York\n',
        '    timezone: America/New_York\n    sync: { settleSeconds: 0, pageSize: 100 }\n',
      )
      .concat(`api: { host: 127.0.0.1, port: ${port} }\nlogLevel: warn\n`);
    writeFileSync(configFile, yaml);
    const storeFile = join(dir, '.tendril', 'tendril.db');

    let stderr = '';
    const agent: ChildProcess = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, TENDRIL_SITE_KEY: siteKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    agent.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
    try {
      await until('the first agent child', () => childPids(stderr).length >= 1);
      const first = childPids(stderr)[0]!;
      // Kill it as soon as the backload has committed something: mid-run.
      await until('the first committed page', async () => (await eventCount(storeFile, siteKey)) > 0);
      process.kill(first, 'SIGKILL');
      const atKill = await eventCount(storeFile, siteKey);
      await until('a restarted agent child', () => childPids(stderr).length >= 2);
      const second = childPids(stderr)[1]!;
      expect(second).not.toBe(first);
      expect(stderr).toMatch(/"reason":"crash".*agent crashed; restarting after/);

      // The restarted agent finishes the backload: same events as the oracle, none lost, none doubled.
      const total = [...expected.values()].reduce((a, b) => a + b, 0);
      expect(atKill).toBeLessThan(total); // the kill landed mid-backload
      await until('the backload to finish', async () => (await eventCount(storeFile, siteKey)) >= total);
      await sleep(500);
      expect(await eventTally(storeFile, siteKey)).toEqual(expected);

      // Authenticated restart through the API.
      await until('the API', async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/healthz`)).status > 0;
        } catch {
          return false;
        }
      });
      const refused = await fetch(`http://127.0.0.1:${port}/v1/agent/restart`, {
        method: 'POST',
        headers: { authorization: 'Bearer tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      });
      expect(refused.status).toBe(401);
      const accepted = await fetch(`http://127.0.0.1:${port}/v1/agent/restart`, {
        method: 'POST',
        headers: { authorization: `Bearer ${siteKey}` },
      });
      expect(accepted.status).toBe(202);
      await until('the agent child restarted on request', () => childPids(stderr).length >= 3);
      expect(childPids(stderr)[2]).not.toBe(second);
      expect(stderr).toContain('"msg":"restart requested"');
    } finally {
      agent.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const last = childPids(stderr).at(-1)!;
    expect(() => process.kill(last, 0)).toThrow(); // the child is gone too
    expect(stderr).not.toContain(PASSWORD);
  });

  it('an agent child whose supervisor is killed stops by itself (no orphan on the store)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-run-orphan-'));
    const configFile = join(dir, 'tendril.yaml');
    const port = await freePort();
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        `api: { host: 127.0.0.1, port: ${port} }`,
        'connections:',
        '  - id: smile-dental',
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://root@127.0.0.1:3306/${db.name}" }`,
        '',
      ].join('\n'),
    );
    let stderr = '';
    const agent = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    agent.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    await until('the agent child', () => childPids(stderr).length >= 1);
    const child = childPids(stderr)[0]!;
    agent.kill('SIGKILL');
    const alive = () => {
      try {
        process.kill(child, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until('the orphaned child to stop', () => !alive(), 30_000);
  });
});
