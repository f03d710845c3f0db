import { spawn, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, MARIADB, type TestDatabase } from './support/mariadb.js';
import { REPO_ROOT } from './support/paths.js';

const VERSION = (
  JSON.parse(readFileSync(resolve(REPO_ROOT, 'packages/agent/package.json'), 'utf8')) as { version: string }
).version;
const NAME = `tendril-${VERSION}-linux-x64`;
const READER = `tendril_rel_${Date.now().toString(36)}`;
const PASSWORD = `Rel-${Math.random().toString(36).slice(2)}-pw`;

/**
 * What may never ship in Tendril's own packages: test support, the data generators and API fakes
 * (the connectors' `testing` exports), fixtures, the testing package, tests, TypeScript sources.
 */
const FORBIDDEN_OURS =
  /@tendril[/+]testing|fake|\/testing\/|fixture|\.test-support\.|\.test\.js$|\/src\/|(?<!\.d)\.ts$/i;

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * The release artefact: `pnpm release` builds the tarball, its SHA-256 and an Ed25519 signature;
 * only the tarball is copied to an empty folder, unpacked, and run with Node alone — a PATH holding
 * nothing but `node` and the two shell tools the launcher uses, no pnpm, no repository beside it —
 * through `--version`, `connectors`, `init`, `check` and `run` against a real MariaDB.
 */
describe('release artefact', () => {
  const work = mkdtempSync(join(tmpdir(), 'tendril-release-'));
  const out = join(work, 'out');
  const site = join(work, 'site'); // the "machine with only Node": an empty folder
  let db: TestDatabase;
  let publicKeyPem: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_rel');
    const seeded = await runCli(['seed', '--connector', 'open-dental', '--url', db.url, '--patients', '25']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyFile = join(work, 'release-key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    // The build must not change the checkout: no file (pnpm deploy hard-links files from it), and
    // not its install state (or the next pnpm command would drop the dev dependencies).
    const checkoutBefore = spawnSync('git', ['diff', '--stat'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout;
    const installState = resolve(REPO_ROOT, 'node_modules/.pnpm-workspace-state-v1.json');
    const installStateBefore = readFileSync(installState, 'utf8');
    const built = spawnSync(
      process.execPath,
      [resolve(REPO_ROOT, 'scripts/release.mjs'), '--key', keyFile, '--out', out],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { ...process.env, npm_config_nodedir: '/usr' },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(built.status, built.stderr).toBe(0);
    expect(spawnSync('git', ['diff', '--stat'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout).toBe(
      checkoutBefore,
    );
    expect(readFileSync(installState, 'utf8')).toBe(installStateBefore);
    // Only the tarball goes to the site.
    mkdirSync(site);
    copyFileSync(join(out, `${NAME}.tar.gz`), join(site, `${NAME}.tar.gz`));
    // A PATH with node and the launcher's two shell tools only.
    const tools = join(work, 'tools');
    mkdirSync(tools);
    for (const [tool, path] of [
      ['node', process.execPath],
      ['readlink', '/usr/bin/readlink'],
      ['dirname', '/usr/bin/dirname'],
    ] as const)
      symlinkSync(path, join(tools, tool));
    env = { PATH: tools, HOME: site, LANG: 'C.UTF-8' };
    const admin = await mysql.createConnection({ ...MARIADB });
    await admin.query(`DROP USER IF EXISTS '${READER}'@'%'`);
    await admin.end();
  }, 600_000);

  afterAll(async () => {
    const admin = await mysql.createConnection({ ...MARIADB });
    await admin.query(`DROP USER IF EXISTS '${READER}'@'%'`);
    await admin.end();
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('is a tarball with its SHA-256 and a detached Ed25519 signature; the public key is inside', () => {
    const tarball = readFileSync(join(out, `${NAME}.tar.gz`));
    const [digest, file] = readFileSync(join(out, `${NAME}.tar.gz.sha256`), 'utf8')
      .trim()
      .split(/\s+/);
    expect(file).toBe(`${NAME}.tar.gz`);
    expect(digest).toBe(createHash('sha256').update(tarball).digest('hex'));
    const signature = Buffer.from(readFileSync(join(out, `${NAME}.tar.gz.sig`), 'utf8').trim(), 'base64');
    expect(verify(null, tarball, publicKeyPem, signature)).toBe(true);
    const tampered = Buffer.from(tarball);
    tampered[tampered.length - 1] ^= 1;
    expect(verify(null, tampered, publicKeyPem, signature)).toBe(false);
    const inside = spawnSync(
      'tar',
      ['-xzOf', join(out, `${NAME}.tar.gz`), `${NAME}/lib/release-public-key.pem`],
      {
        encoding: 'utf8',
      },
    );
    expect(createPublicKey(inside.stdout).export({ type: 'spki', format: 'pem' })).toBe(publicKeyPem);
  });

  it('holds compiled JavaScript, production dependencies, native addons, bin/tendril, the unit and docs, and nothing of the tests', () => {
    const listing = spawnSync('tar', ['-tzvf', join(out, `${NAME}.tar.gz`)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(listing.status).toBe(0);
    const entries = listing.stdout.split('\n').filter(Boolean);
    const paths = entries.map((line) =>
      line
        .split(/\s+/)
        .slice(5)
        .join(' ')
        .replace(/ -> .*$/, ''),
    );
    for (const required of [
      `${NAME}/bin/tendril`,
      `${NAME}/lib/dist/bin.js`,
      `${NAME}/lib/package.json`,
      `${NAME}/lib/tendril.schema.json`,
      `${NAME}/lib/release-public-key.pem`,
      `${NAME}/systemd/tendril.service`,
      `${NAME}/docs/install-linux.md`,
      `${NAME}/docs/release.md`,
      `${NAME}/README.md`,
      `${NAME}/LICENSE`,
      `${NAME}/CHANGELOG.md`,
    ])
      expect(paths, required).toContain(required);
    expect(entries.find((line) => line.endsWith(`${NAME}/bin/tendril`))).toMatch(/^-rwxr-xr-x/);
    expect(paths.some((p) => p.endsWith('/better_sqlite3.node'))).toBe(true);
    const ours = paths.filter((p) => /\/@tendril[/+]/.test(p) || p.startsWith(`${NAME}/lib/dist/`));
    expect(ours.length).toBeGreaterThan(100);
    expect(ours.filter((p) => FORBIDDEN_OURS.test(p))).toEqual([]);
    expect(paths.filter((p) => /@tendril[/+]testing/.test(p))).toEqual([]);
    // No dev dependency came along.
    for (const dev of ['typescript', 'vitest', 'eslint', 'prettier', 'playwright-core', '@medplum'])
      expect(
        paths.some((p) => p.includes(`/node_modules/${dev}/`) || p.includes(`/.pnpm/${dev}@`)),
        dev,
      ).toBe(false);
  });

  it('unpacked into an empty folder with only Node, runs --version, connectors, init, check and run', async () => {
    const tar = spawnSync('tar', ['-xzf', `${NAME}.tar.gz`], { cwd: site });
    expect(tar.status).toBe(0);
    const bin = join(site, NAME, 'bin', 'tendril');
    const noPackageManager = spawnSync(
      '/bin/sh',
      ['-c', 'command -v pnpm || command -v npm || command -v npx'],
      { env },
    );
    expect(noPackageManager.status).not.toBe(0);
    const tendril = (args: readonly string[], input?: string) =>
      spawnSync(bin, args, { cwd: site, env, encoding: 'utf8', ...(input === undefined ? {} : { input }) });

    const version = tendril(['--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${VERSION}\n`);

    const connectors = tendril(['connectors', '--json']);
    expect(connectors.status, connectors.stderr).toBe(0);
    // Every connector of the checkout (test/registry.test.ts: each folder is registered), a
    // scaffolded one included.
    const checkedOut = readdirSync(resolve(REPO_ROOT, 'connectors'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(checkedOut).toEqual(expect.arrayContaining(['dentrix-enterprise', 'open-dental', 'openemr']));
    expect((JSON.parse(connectors.stdout) as { id: string }[]).map((c) => c.id).sort()).toEqual(checkedOut);

    // The generators are not inside: seed says so plainly.
    const seed = tendril(['seed', '--connector', 'open-dental', '--url', 'sqlite:./x.db', '--patients', '1']);
    expect(seed.status).not.toBe(0);
    expect(seed.stderr).toContain('TENDRIL_E_NOT_AVAILABLE');

    // The least-privilege reader, from the release's own `tendril grants`.
    const grants = tendril([
      'grants',
      '--connector',
      'open-dental',
      '--dialect',
      'mysql',
      '--database',
      db.name,
      '--user',
      READER,
      '--password',
      PASSWORD,
    ]);
    expect(grants.status, grants.stderr).toBe(0);
    const admin = await mysql.createConnection({ ...MARIADB, multipleStatements: true });
    await admin.query(grants.stdout);
    await admin.end();

    const init = tendril(
      [
        'init',
        '--non-interactive',
        '--practice-name',
        'Release Dental',
        '--contact-name',
        'Ann',
        '--contact-email',
        'ann@release.example',
        '--connector',
        'open-dental',
        '--host',
        '127.0.0.1',
        '--database',
        db.name,
        '--user',
        READER,
        '--password-stdin',
        '--key-file',
        join(site, 'site.key'),
        '--json',
      ],
      `${PASSWORD}\n`,
    );
    expect(init.status, init.stderr).toBe(0);
    const { configFile } = JSON.parse(init.stdout) as { configFile: string };
    expect(configFile).toBe(join(site, 'tendril.yaml'));
    const port = await freePort();
    writeFileSync(
      configFile,
      `${readFileSync(configFile, 'utf8')}api: { host: 127.0.0.1, port: ${port} }\n`.replace(
        '    timezone:',
        '    sync: { settleSeconds: 0 }\n    timezone:',
      ),
    );
    const keyEnv = { ...env, TENDRIL_SITE_KEY_FILE: join(site, 'site.key') };

    const check = spawnSync(bin, ['check'], { cwd: site, env: keyEnv, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('all checks passed');

    const agent = spawn(bin, ['run'], { cwd: site, env: keyEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    agent.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 90_000;
      let status:
        { agent: { version: string }; connections: { streams: { status: string }[] }[] } | undefined;
      while (Date.now() < deadline) {
        status = await fetch(`${base}/v1/status`)
          .then((r) => r.json() as Promise<typeof status>)
          .catch(() => undefined);
        if (status?.connections[0]?.streams.every((s) => s.status === 'healthy')) break;
        await sleep(500);
      }
      expect(status?.agent.version, `${stdout}\n${stderr}`).toBe(VERSION);
      expect(status!.connections[0]!.streams.every((s) => s.status === 'healthy')).toBe(true);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/`)).headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      agent.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((done) =>
      agent.exitCode !== null ? done(agent.exitCode) : agent.once('exit', (c) => done(c)),
    );
    expect(code, stderr).toBe(0);
    expect(basename(bin)).toBe('tendril');
  }, 300_000);
});
