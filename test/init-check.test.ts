import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from './support/paths.js';
import { runCli, type CliResult } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, MARIADB, type TestDatabase } from './support/mariadb.js';

const PATIENTS = 30;
const PASSWORD = `Chk-${randomBytes(6).toString('hex')}-pw`;
const SUFFIX = randomBytes(3).toString('hex');
/** A reader with SELECT on the whole database, and one with SELECT on two tables only. */
const READER = `tendril_chk_${SUFFIX}`;
const PARTIAL = `tendril_chk_${SUFFIX}_p`;

/** Runs the built CLI with text on standard input (runCli closes stdin). */
function runCliWithInput(
  args: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

interface CheckJson {
  connections: {
    id: string;
    steps: {
      step: string;
      status: string;
      message: string;
      fix?: string;
      items?: { subject: string; fix?: string }[];
    }[];
  }[];
  exitCode: number;
}

describe('tendril init, secrets and tendril check on real MariaDB', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_chk');
    await loadOpenDentalSchema(db);
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
    // Stamps have whole seconds: rows of the poll's very last second belong to the next poll, so
    // let the clock pass the seed before the one-shot sync below.
    await sleep(2_000);
    const root = await mysql.createConnection({ ...MARIADB });
    await root.query(`CREATE USER '${READER}'@'%' IDENTIFIED BY ?`, [PASSWORD]);
    await root.query(`GRANT SELECT ON \`${db.name}\`.* TO '${READER}'@'%'`);
    await root.query(`CREATE USER '${PARTIAL}'@'%' IDENTIFIED BY ?`, [PASSWORD]);
    await root.query(`GRANT SELECT ON \`${db.name}\`.\`patient\` TO '${PARTIAL}'@'%'`);
    await root.query(`GRANT SELECT ON \`${db.name}\`.\`provider\` TO '${PARTIAL}'@'%'`);
    await root.end();
  });

  afterAll(async () => {
    const root = await mysql.createConnection({ ...MARIADB });
    await root.query(`DROP USER IF EXISTS '${READER}'@'%', '${PARTIAL}'@'%'`);
    await root.end();
    await db?.drop();
  });

  const initFlags = (configFile: string, user: string) => [
    'init',
    '--non-interactive',
    '--config',
    configFile,
    '--practice-name',
    'Smile Dental',
    '--contact-name',
    'Ann Admin',
    '--contact-email',
    'ann@smile-dental.example',
    '--connector',
    'open-dental',
    '--timezone',
    'America/New_York',
    '--host',
    '127.0.0.1',
    '--port',
    '3306',
    '--database',
    db.name,
    '--user',
    user,
    '--password-env',
    'CHK_DB_PASSWORD',
  ];

  /** Seeded rows are seconds old: let the poll read up to now (production keeps the settle delay). */
  function settleNow(configFile: string): void {
    const text = readFileSync(configFile, 'utf8');
    writeFileSync(
      configFile,
      text.replace(
        '    timezone: America/New_York\n',
        '    timezone: America/New_York\n    sync: { settleSeconds: 0 }\n',
      ),
    );
  }

  async function initSite(
    user: string,
    password = PASSWORD,
  ): Promise<{ configFile: string; key: string; dir: string; result: CliResult }> {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-chk-'));
    const configFile = join(dir, 'tendril.yaml');
    const result = await runCli(initFlags(configFile, user), { env: { CHK_DB_PASSWORD: password } });
    expect(result.code, result.stderr).toBe(0);
    const keys = result.stdout.match(/tsk_[A-Za-z0-9_-]{43}/g) ?? [];
    expect(keys).toHaveLength(1); // shown exactly once
    return { configFile, key: keys[0]!, dir, result };
  }

  async function check(
    configFile: string,
    key: string,
  ): Promise<{ result: CliResult; json: CheckJson; text: CliResult }> {
    const result = await runCli(['check', '--config', configFile, '--json'], {
      env: { TENDRIL_SITE_KEY: key },
    });
    const text = await runCli(['check', '--config', configFile], { env: { TENDRIL_SITE_KEY: key } });
    return { result, json: JSON.parse(result.stdout) as CheckJson, text };
  }

  it('init --non-interactive writes the config and an encrypted secrets file; sync works with ${secret:…} and TENDRIL_SITE_KEY', async () => {
    const { configFile, key, dir } = await initSite(READER);
    const config = readFileSync(configFile, 'utf8');
    const secrets = readFileSync(join(dir, 'secrets.enc'), 'utf8');
    expect(config).not.toContain(PASSWORD);
    expect(secrets).not.toContain(PASSWORD);
    expect(config).toContain(`password: \${secret:smile-dental.db-password}`);
    expect(config).toMatch(/practiceName: Smile Dental/);
    expect(config).not.toContain(key);
    expect(statSync(join(dir, 'secrets.enc')).mode & 0o777).toBe(0o600);
    // The store's folder is made owner-only by init, the store file owner-only by the first sync.
    expect(statSync(join(dir, '.tendril')).mode & 0o777).toBe(0o700);

    settleNow(configFile);
    const synced = await runCli(['sync', '--config', configFile, '--once', '--json'], {
      env: { TENDRIL_SITE_KEY: key },
    });
    expect(synced.code, synced.stderr).toBe(0);
    expect(statSync(join(dir, '.tendril', 'tendril.db')).mode & 0o777).toBe(0o600);
    const report = JSON.parse(synced.stdout) as {
      connections: {
        streams: { stream: string; read: number; created: number; unchanged: number; error?: unknown }[];
      }[];
    };
    const patients = report.connections[0]!.streams.find((s) => s.stream === 'patients')!;
    expect(patients.error).toBeUndefined();
    // Every seeded patient was read through the login from secrets.enc (the generator's few deleted ones stay unchanged).
    expect(patients.read).toBe(PATIENTS);
    expect(patients.created + patients.unchanged).toBe(PATIENTS);
    expect(patients.created).toBeGreaterThan(0);
    expect(`${synced.stdout}${synced.stderr}`).not.toContain(PASSWORD);
    // With the site key the events' payloads are sealed: no patient's name is readable in the file.
    const connection = await db.connect();
    const [names] = (await connection.query(
      'SELECT DISTINCT LName AS name FROM patient WHERE CHAR_LENGTH(LName) >= 5 LIMIT 20',
    )) as unknown as [{ name: string }[]];
    await connection.end();
    expect(names.length).toBeGreaterThan(0);
    const storeBytes = ['', '-wal']
      .map((suffix) => join(dir, '.tendril', `tendril.db${suffix}`))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString('latin1'))
      .join('');
    expect(storeBytes).toContain('tendril_sealed');
    for (const { name } of names) expect(storeBytes).not.toContain(name);

    const noKey = await runCli(['sync', '--config', configFile, '--once'], { env: { TENDRIL_SITE_KEY: '' } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(
      /connections\.0\.database\.password: uses \$\{secret:…\} but no site key is given; set TENDRIL_SITE_KEY/,
    );
  });

  it('interactive init, answers piped in (a wrong e-mail is asked again); the key file works as TENDRIL_SITE_KEY_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-chk-'));
    const configFile = join(dir, 'tendril.yaml');
    const keyFile = join(dir, 'site.key');
    const answers = [
      'Bright Smiles',
      '',
      'Bob Builder',
      'not-an-email',
      'bob@bright.example',
      'bright-main',
      'America/Chicago',
      // No engine question: Open Dental runs on MySQL/MariaDB only.
      '127.0.0.1',
      '3306',
      db.name,
      READER,
      PASSWORD,
      '',
    ].join('\n');
    const result = await runCliWithInput(['init', '--config', configFile, '--key-file', keyFile], answers);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Practice name');
    expect(result.stderr).toContain('that is not an e-mail address');
    expect(result.stderr).toContain('Database engine: mysql (the one open-dental runs on)');
    expect(result.stderr).not.toContain('mssql');
    expect(result.stderr).not.toContain(PASSWORD); // the password prompt does not echo
    const config = readFileSync(configFile, 'utf8');
    expect(config).toContain('id: bright-main');
    expect(config).toContain('email: bob@bright.example');
    expect(config).not.toContain(PASSWORD);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(result.stdout.match(/tsk_[A-Za-z0-9_-]{43}/g)).toEqual([key]);
    const checked = await runCli(['check', '--config', configFile], {
      env: { TENDRIL_SITE_KEY_FILE: keyFile, TENDRIL_SITE_KEY: '' },
    });
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
  });

  it('check: a good config passes every step', async () => {
    const { configFile, key } = await initSite(READER);
    const { result, json, text } = await check(configFile, key);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const steps = json.connections[0]!.steps;
    expect(steps.map((s) => s.step)).toEqual([
      'dns',
      'tcp',
      'tls',
      'login',
      'database',
      'read-rights',
      'schema',
    ]);
    expect(steps.filter((s) => s.status !== 'ok').map((s) => `${s.step}:${s.status}`)).toEqual([
      'tls:skipped',
    ]);
    expect(steps.find((s) => s.step === 'read-rights')!.message).toMatch(/SELECT allowed on all 13 tables/);
    expect(text.stdout).toContain('all checks passed');
    // With the site key the store is encrypted at rest, and check says so (docs/security.md, "PHI at rest").
    expect((json as unknown as { store: { encryption: string } }).store.encryption).toBe('site-key');
    expect(text.stdout).toContain('encrypts patient data at rest with the site key');
  });

  it('check: a wrong password is explained, exit 11', async () => {
    const { configFile, key } = await initSite(READER, 'not-the-password');
    const { result, json, text } = await check(configFile, key);
    expect(result.code).toBe(11);
    const login = json.connections[0]!.steps.find((s) => s.step === 'login')!;
    expect(login.status).toBe('failed');
    expect(login.message).toContain(`the database refused user "${READER}"`);
    expect(login.message).toMatch(/the password is wrong/);
    expect(login.fix).toMatch(/check the password/);
    expect(text.stdout).toMatch(/FAIL login/);
    expect(`${text.stdout}${text.stderr}`).not.toMatch(/not-the-password|Acquire connection error/);
  });

  it('check: an unresolvable host name and a closed port are explained, exit 10', async () => {
    const { configFile, key } = await initSite(READER);
    const original = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, original.replace('host: 127.0.0.1', 'host: tendril-chk-no-such-host.invalid'));
    const unresolved = await check(configFile, key);
    expect(unresolved.result.code).toBe(10);
    const dns = unresolved.json.connections[0]!.steps.find((s) => s.step === 'dns')!;
    expect(dns.message).toMatch(/the server name "tendril-chk-no-such-host.invalid" did not resolve/);
    expect(dns.fix).toMatch(/try the server's IP address instead of the name \(or the reverse\)/);

    const port = await closedPort();
    writeFileSync(configFile, original.replace('port: 3306', `port: ${port}`));
    const closed = await check(configFile, key);
    expect(closed.result.code).toBe(10);
    const tcp = closed.json.connections[0]!.steps.find((s) => s.step === 'tcp')!;
    expect(tcp.message).toContain(`nothing accepted a connection on 127.0.0.1:${port} (connection refused)`);
    expect(tcp.fix).toMatch(/check the port number \(the usual port is 3306\)/);
    expect(
      closed.json.connections[0]!.steps.filter((s) => s.status === 'skipped').map((s) => s.step),
    ).toEqual(['tls', 'login', 'database', 'read-rights', 'schema']);
  });

  it('check: a database name that does not exist is reported as such (not as a missing grant), exit 11', async () => {
    const { configFile, key } = await initSite(READER);
    const typo = `${db.name}x`;
    writeFileSync(
      configFile,
      readFileSync(configFile, 'utf8').replace(`database: ${db.name}`, `database: ${typo}`),
    );
    const { result, json } = await check(configFile, key);
    expect(result.code).toBe(11);
    const step = json.connections[0]!.steps.find((s) => s.step === 'database')!;
    expect(step.status).toBe('failed');
    expect(step.message).toContain(`the database "${typo}" does not exist on 127.0.0.1`);
    expect(step.message).toContain(`did you mean "${db.name}"?`);
    expect(step.fix).toMatch(/^check the database name in the config/);
    expect(step.fix).not.toMatch(/^GRANT/);
  });

  it('check: a user missing grants gets the exact GRANT per table, exit 12', async () => {
    const { configFile, key } = await initSite(PARTIAL);
    const { result, json, text } = await check(configFile, key);
    expect(result.code).toBe(12);
    const rights = json.connections[0]!.steps.find((s) => s.step === 'read-rights')!;
    expect(rights.status).toBe('failed');
    const tables = rights.items!.map((i) => i.subject).sort();
    expect(tables).toEqual([
      'appointment',
      'appointmenttype',
      'carrier',
      'clinic',
      'deletedobject',
      'insplan',
      'inssub',
      'operatory',
      'patplan',
      'procedurecode',
      'procedurelog',
    ]);
    expect(rights.message).toContain(`user "${PARTIAL}" cannot read 11 of the 13 tables`);
    for (const item of rights.items!)
      expect(item.fix).toBe(`GRANT SELECT ON \`${db.name}\`.\`${item.subject}\` TO '${PARTIAL}'@'%';`);
    expect(text.stdout).toContain(`GRANT SELECT ON \`${db.name}\`.\`appointment\` TO '${PARTIAL}'@'%';`);
  });
});

/** A port nothing listens on: bound once by us, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
