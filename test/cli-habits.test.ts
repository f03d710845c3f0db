import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSecretsFile, parseSiteKey } from '@tendril/agent';
import { runCli, type CliResult } from './support/cli.js';
import { REPO_ROOT } from './support/paths.js';

const LAUNCHER = resolve(REPO_ROOT, 'bin/tendril');
const AGENT_VERSION = (
  JSON.parse(readFileSync(resolve(REPO_ROOT, 'packages/agent/package.json'), 'utf8')) as { version: string }
).version;

/** Runs the built CLI with text on standard input. */
function runWithInput(
  args: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [resolve(REPO_ROOT, 'packages/agent/dist/bin.js'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A config whose EHR password is an unset variable and a secret (no site key given). */
function storeOnlyConfig(dir: string, store: string): string {
  return [
    `store: { sqlite: ${join(dir, store)} }`,
    'connections:',
    '  - id: smile-dental-main',
    '    connector: open-dental',
    '    timezone: America/New_York',
    '    database: { url: "mysql://tendril_reader:${CLI_HABITS_UNSET_PASSWORD}@127.0.0.1:3306/opendental" }',
    '  - id: second-site',
    '    connector: openemr',
    '    timezone: America/Chicago',
    '    database: { dialect: mysql, host: db, database: openemr, user: r, password: "${secret:second.db-password}" }',
    '',
  ].join('\n');
}

describe('CLI habits', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-habits-'));
    delete process.env['CLI_HABITS_UNSET_PASSWORD'];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints its version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${AGENT_VERSION}\n`);
  });

  it('finds the config by --config, then TENDRIL_CONFIG, then ./tendril.yaml', async () => {
    const work = join(dir, 'lookup');
    mkdirSync(work);
    for (const name of ['flag', 'env', 'default'])
      writeFileSync(join(work, `${name}.yaml`), storeOnlyConfig(work, `${name}.db`));
    writeFileSync(join(work, 'tendril.yaml'), storeOnlyConfig(work, 'default.db'));
    const stores = () =>
      readdirSync(work)
        .filter((f) => f.endsWith('.db'))
        .sort();

    const byFlag = await runCli(['events', '--config', join(work, 'flag.yaml')], {
      cwd: work,
      env: { TENDRIL_CONFIG: join(work, 'env.yaml') },
    });
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(stores()).toEqual(['flag.db']);

    const byEnv = await runCli(['events'], { cwd: work, env: { TENDRIL_CONFIG: join(work, 'env.yaml') } });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(stores()).toEqual(['env.db', 'flag.db']);

    const byDefault = await runCli(['events'], { cwd: work, env: { TENDRIL_CONFIG: '' } });
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect(stores()).toEqual(['default.db', 'env.db', 'flag.db']);

    // A command whose config is optional runs without one.
    const connectors = await runCli(['connectors'], { cwd: dir, env: { TENDRIL_CONFIG: '' } });
    expect(connectors.code, connectors.stderr).toBe(0);

    const none = await runCli(['events'], { cwd: dir, env: { TENDRIL_CONFIG: '' } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('TENDRIL_E_CONFIG_NOT_FOUND: cannot read config file tendril.yaml');
    expect(none.stderr).toContain('--config <file> or TENDRIL_CONFIG');
  });

  it('reads the local store without the EHR credentials; commands that open the EHR still need them', async () => {
    const file = join(dir, 'store-only.yaml');
    writeFileSync(file, storeOnlyConfig(dir, 'store-only.db'));
    const env = { TENDRIL_SITE_KEY: '', TENDRIL_SITE_KEY_FILE: '' };
    for (const args of [
      ['events', '--json'],
      ['deliveries', 'list', '--json'],
      ['deliveries', 'subscriptions'],
      ['api-key', 'list', '--json'],
    ]) {
      const result = await runCli([...args, '--config', file], { env });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stderr).not.toMatch(/CLI_HABITS_UNSET_PASSWORD|secret/);
    }
    const sync = await runCli(['sync', '--once', '--config', file], { env });
    expect(sync.code).toBe(2);
    expect(sync.stderr).toContain('environment variable CLI_HABITS_UNSET_PASSWORD is not set');
    expect(sync.stderr).toContain('connections.1.database.password: uses ${secret:…} but no site key');
  });

  it('lists YAML syntax errors by line and column, without a dangling colon', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'store: { sqlite: x\nconnections:\n  - id: a: b\n');
    const result = await runCli(['events', '--config', file]);
    expect(result.code).toBe(2);
    const problems = result.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(problems.length).toBeGreaterThan(0);
    for (const line of problems) {
      expect(line).toMatch(/^ {2}- \(line \d+, column \d+\): is not valid YAML: \S/);
      expect(line).not.toMatch(/:\s*$/);
    }
  });

  it('exits 2 and names the path of a YAML alias that contains itself', async () => {
    const file = join(dir, 'alias.yaml');
    writeFileSync(
      file,
      [
        'connections:',
        '  - &site',
        '    id: a',
        '    connector: open-dental',
        '    timezone: UTC',
        '    database: { url: "mysql://u@h/d" }',
        '    options: { again: *site }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['events', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '- connections.0.options.again: is a YAML alias to an anchor that contains it',
    );
    expect(result.stderr).not.toMatch(/Maximum call stack|unexpected failure/);
  });

  it('seed into a database that does not exist is exit 2 with the statement that creates it', async () => {
    const missing = `tendril_habits_missing_${Date.now().toString(36)}`;
    const result = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      `mysql://root@127.0.0.1:3306/${missing}`,
      '--patients',
      '1',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--url: the database "${missing}" does not exist on that server`);
    expect(result.stderr).toContain(`CREATE DATABASE ${missing}`);
    expect(result.stderr).not.toContain('unexpected failure');
  });

  it('sync without --once points at tendril run', async () => {
    const result = await runCli(['sync', '--config', join(dir, 'store-only.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tendril run');
    expect(result.stderr).not.toContain('not yet available');
  });

  it('writes the log to a rotating file when logFile is set (nothing on standard error)', async () => {
    const source = join(dir, 'od.db');
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      `sqlite:${source}`,
      '--patients',
      '5',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    const file = join(dir, 'logged.yaml');
    const logs = join(dir, 'logs');
    writeFileSync(
      file,
      [
        `store: { sqlite: ${join(dir, 'logged-store.db')} }`,
        `logFile: { path: ${join(logs, 'tendril.log')}, maxSize: 1m, keep: 3 }`,
        'connections:',
        '  - id: file-site',
        '    connector: open-dental',
        '    timezone: UTC',
        `    database: { url: "sqlite:${source}" }`,
        '    sync: { settleSeconds: 0 }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['sync', '--once', '--config', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const written = readdirSync(logs);
    expect(written.length).toBeGreaterThan(0);
    const text = written.map((f) => readFileSync(join(logs, f), 'utf8')).join('');
    expect(text).toContain('"event":"stream.synced"');
    expect(text).toContain('"name":"tendril"');
  });

  it('init writes the yaml-language-server modeline to the shipped schema, and refuses an engine the connector does not run on', async () => {
    const base = [
      'init',
      '--non-interactive',
      '--practice-name',
      'Smile Dental',
      '--contact-name',
      'Ann',
      '--contact-email',
      'ann@smile.example',
      '--connector',
      'open-dental',
      '--host',
      '127.0.0.1',
      '--user',
      'tendril_reader',
      '--password-env',
      'HABITS_PW',
    ];
    const wrong = await runCli(
      [...base, '--dialect', 'mssql', '--config', join(dir, 'wrong', 'tendril.yaml')],
      {
        env: { HABITS_PW: 'pw' },
      },
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--dialect: open-dental runs on mysql');

    const file = join(dir, 'init', 'tendril.yaml');
    const made = await runCli([...base, '--config', file], { env: { HABITS_PW: 'pw' } });
    expect(made.code, made.stderr).toBe(0);
    const schema = resolve(REPO_ROOT, 'packages/agent/tendril.schema.json');
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe(
      `# yaml-language-server: $schema=${pathToFileURL(schema).href}`,
    );
    expect(existsSync(schema)).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain('dialect: mysql');
  });

  it('Ctrl-C during init exits 130 with no file written (a real terminal, through script(1))', async () => {
    const file = join(dir, 'interrupted', 'tendril.yaml');
    // script(1) gives init a terminal; typed after the first question, \x03 reaches readline as Ctrl-C.
    const child = spawn(
      'script',
      [
        '-qec',
        `${process.execPath} ${resolve(REPO_ROOT, 'packages/agent/dist/bin.js')} init --config ${file}`,
        '/dev/null',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const exited = new Promise<number | null>((done) => child.on('close', done));
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 20_000;
      while (!output.includes(text)) {
        if (Date.now() > deadline) throw new Error(`no "${text}" in: ${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitFor('Practice name');
    child.stdin.write('Smile Dental\r');
    await waitFor('EHR connector');
    child.stdin.write('\x03');
    expect(await exited).toBe(130);
    expect(output).toContain('tendril: interrupted (Ctrl-C); nothing was written');
    expect(output).not.toContain('unexpected failure');
    expect(existsSync(file)).toBe(false);
  });

  it('secrets set changes one value under the same site key; secrets list shows names only', async () => {
    const file = join(dir, 'secrets', 'tendril.yaml');
    const init = await runCli(
      [
        'init',
        '--non-interactive',
        '--config',
        file,
        '--practice-name',
        'Smile Dental',
        '--contact-name',
        'Ann',
        '--contact-email',
        'ann@smile.example',
        '--connector',
        'open-dental',
        '--host',
        '127.0.0.1',
        '--user',
        'tendril_reader',
        '--password-env',
        'HABITS_PW',
        '--json',
      ],
      { env: { HABITS_PW: 'first-password' } },
    );
    expect(init.code, init.stderr).toBe(0);
    const { siteKey, secretsFile } = JSON.parse(init.stdout) as { siteKey: string; secretsFile: string };
    const env = { TENDRIL_SITE_KEY: siteKey };

    const set = await runWithInput(
      ['secrets', 'set', 'smile-dental.db-password', '--config', file],
      'second-password\n',
      env,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('replaced secret smile-dental.db-password');
    expect(set.stdout).toContain('used by connections.0.database.password');
    expect(`${set.stdout}${set.stderr}`).not.toContain('second-password');
    expect(await readSecretsFile(secretsFile, parseSiteKey(siteKey))).toEqual({
      'smile-dental.db-password': 'second-password',
    });

    const added = await runWithInput(['secrets', 'set', 'hub-token', '--config', file], 'tok\n', env);
    expect(added.code, added.stderr).toBe(0);
    const list = await runCli(['secrets', 'list', '--config', file], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('2 secrets');
    expect(list.stdout).toMatch(/hub-token {2}\(not used by the config\)/);
    expect(list.stdout).toMatch(
      /smile-dental\.db-password {2}\(used by connections\.0\.database\.password\)/,
    );
    expect(list.stdout).not.toMatch(/second-password|tok\b/);

    const wrongKey = await runCli(['secrets', 'list', '--config', file], {
      env: { TENDRIL_SITE_KEY: `tsk_${'A'.repeat(43)}` },
    });
    expect(wrongKey.code).not.toBe(0);
    expect(wrongKey.stderr).toContain('TENDRIL_E_SECRETS');
  });

  it('bin/tendril is a real command: executable, from any folder through a symlink, nothing but the output on stdout', () => {
    const link = join(dir, 'path-bin', 'tendril');
    mkdirSync(join(dir, 'path-bin'));
    symlinkSync(LAUNCHER, link);
    const version = spawnSync(link, ['--version'], { cwd: tmpdir(), encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(`${AGENT_VERSION}\n`);
    const grants = spawnSync(
      link,
      ['grants', '--connector', 'open-dental', '--dialect', 'mysql', '--password', 'x'],
      {
        cwd: tmpdir(),
        encoding: 'utf8',
      },
    );
    expect(grants.status).toBe(0);
    expect(grants.stdout.split('\n')[0]).toMatch(/^-- Tendril least-privilege login/);
    expect(grants.stdout).toContain('CREATE USER');
    // The entry point itself is executable, for a symlink straight to it.
    const direct = spawnSync(resolve(REPO_ROOT, 'packages/agent/dist/bin.js'), ['--version'], {
      encoding: 'utf8',
    });
    expect(direct.stdout).toBe(`${AGENT_VERSION}\n`);
  });
});
