import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCli } from './support/cli.js';
import {
  enrollAgent,
  hubAdmin,
  startAgent,
  startHub,
  until,
  type EnrolledAgent,
  type TestHub,
  type TestProcess,
} from './support/hub.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { REPO_ROOT } from './support/paths.js';

const INSTALLED = (
  JSON.parse(readFileSync(resolve(REPO_ROOT, 'packages/agent/package.json'), 'utf8')) as { version: string }
).version;
const NEXT = '0.2.0';
const BROKEN = '0.3.0';
const HEALTH_SECONDS = 25;

interface CommandRecord {
  id: string;
  name: string;
  status: string;
  message?: string;
  outcome?: 'upgraded' | 'upgrade_failed';
  outcomeReason?: string;
}
interface SiteShown {
  site: {
    agentVersion?: string;
    linkNode?: string;
    status?: {
      health?: string;
      lastUpgrade?: {
        commandId: string;
        outcome: string;
        reason?: string;
        toVersion: string;
        fromVersion: string;
      };
    };
  };
}

/** Packs `root/<name>` as `out/<name>.tar.gz` with its `.sha256` and `.sig`, as scripts/release.mjs does. */
function pack(root: string, name: string, out: string, privateKey: Parameters<typeof sign>[2]): string {
  const tarball = join(out, `${name}.tar.gz`);
  const tar = spawnSync('tar', ['--sort=name', '-czf', tarball, '-C', root, name]);
  expect(tar.status).toBe(0);
  const bytes = readFileSync(tarball);
  writeFileSync(`${tarball}.sha256`, `${createHash('sha256').update(bytes).digest('hex')}  ${name}.tar.gz\n`);
  writeFileSync(`${tarball}.sig`, `${sign(null, bytes, privateKey).toString('base64')}\n`);
  return tarball;
}

/**
 * Remote upgrade with rollback, end to end with real processes (docs/hub.md, "Remote upgrade"):
 * two releases built by `pnpm release` with a throwaway key (this checkout's version and 0.2.0),
 * and a broken 0.3.0 derived from 0.2.0 by repacking it with an agent that never reports healthy,
 * re-signed with the same key. The installed release runs supervised from an unpacked folder,
 * enrolled with a real hub on PGlite, on MariaDB with the Open Dental schema. The hub's own CLI
 * stores the releases and sends the upgrades.
 */
describe('remote upgrade with rollback', () => {
  const work = mkdtempSync(join(tmpdir(), 'tendril-upgrade-'));
  let hub: TestHub | undefined;
  let db: TestDatabase;
  let agent: TestProcess | undefined;
  let enrolled: EnrolledAgent;
  let siteId: string;

  const shown = () => hubAdmin<SiteShown>(hub!.configFile, ['site', 'show', siteId]);
  const commandRecord = async (id: string) =>
    (
      await hubAdmin<{ commands: CommandRecord[] }>(hub!.configFile, ['site', 'commands', siteId])
    ).commands.find((c) => c.id === id);
  const upgrade = async (version: string) => {
    const result = await runCli([
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
    return { code: result.code, record: JSON.parse(result.stdout) as CommandRecord, stderr: result.stderr };
  };

  beforeAll(async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const keyFile = join(work, 'release-key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const out = join(work, 'out');
    for (const version of [undefined, NEXT]) {
      const built = spawnSync(
        process.execPath,
        [
          resolve(REPO_ROOT, 'scripts/release.mjs'),
          '--key',
          keyFile,
          '--out',
          out,
          ...(version ? ['--version', version] : []),
        ],
        { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: '/usr' } },
      );
      expect(built.status, built.stderr).toBe(0);
    }
    // The broken release: 0.2.0 unpacked, stamped 0.3.0, its entry wrapped so the agent runs but
    // never tells the supervisor it is healthy; repacked and signed with the same release key.
    const derive = join(work, 'derive');
    mkdirSync(derive);
    expect(
      spawnSync('tar', ['-xzf', join(out, `tendril-${NEXT}-linux-x64.tar.gz`), '-C', derive]).status,
    ).toBe(0);
    const brokenName = `tendril-${BROKEN}-linux-x64`;
    renameSync(join(derive, `tendril-${NEXT}-linux-x64`), join(derive, brokenName));
    const lib = join(derive, brokenName, 'lib');
    for (const file of [join(lib, 'package.json'), join(derive, brokenName, 'RELEASE.json')]) {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
      writeFileSync(file, JSON.stringify({ ...doc, version: BROKEN }, null, 2));
    }
    renameSync(join(lib, 'dist', 'bin.js'), join(lib, 'dist', 'bin-real.js'));
    writeFileSync(
      join(lib, 'dist', 'bin.js'),
      [
        'const send = process.send.bind(process);',
        "process.send = (message, ...rest) => (message?.type === 'tendril:healthy' ? true : send(message, ...rest));",
        "await import('./bin-real.js');",
        '',
      ].join('\n'),
    );
    pack(derive, brokenName, out, privateKey);

    // The install: only the tarball of this checkout's version, unpacked.
    const install = join(work, 'install');
    mkdirSync(install);
    expect(
      spawnSync('tar', ['-xzf', join(out, `tendril-${INSTALLED}-linux-x64.tar.gz`), '-C', install]).status,
    ).toBe(0);

    db = await createTestDatabase('tendril_upgrade');
    await loadOpenDentalSchema(db);
    hub = await startHub(join(work, 'hub'), {});
    for (const version of [NEXT, BROKEN])
      await hubAdmin(hub.configFile, ['release', 'add', join(out, `tendril-${version}-linux-x64.tar.gz`)]);
    const created = await hubAdmin<{ siteId: string; enrollmentKey: string }>(hub.configFile, [
      'site',
      'create',
      '--name',
      'Upgrade Grove Dental',
      '--connector',
      'open-dental',
      '--contact-name',
      'Front Desk',
      '--contact-email',
      'desk@upgradegrove.example',
    ]);
    siteId = created.siteId;
    enrolled = await enrollAgent({
      dir: join(work, 'agent'),
      hubUrl: hub.url,
      enrollmentKey: created.enrollmentKey,
      database: db.name,
    });
    const doc = parse(readFileSync(enrolled.configFile, 'utf8')) as { hub: Record<string, unknown> };
    doc.hub['remote'] = { upgradeHealthSeconds: HEALTH_SECONDS };
    writeFileSync(enrolled.configFile, stringify(doc));
    agent = await startAgent(
      enrolled,
      {},
      { supervise: true, entry: join(install, `tendril-${INSTALLED}-linux-x64`, 'lib', 'dist', 'bin.js') },
    );
    await until('the installed version on the hub', async () => {
      const site = (await shown()).site;
      return site.linkNode && site.agentVersion === INSTALLED ? true : undefined;
    });
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('upgrades to a signed release: the hub sees the new version and the outcome', async () => {
    const { code, record, stderr } = await upgrade(NEXT);
    expect(code, stderr).toBe(0);
    expect(record).toMatchObject({ name: 'upgrade', status: 'ok' });
    expect(record.message).toContain(`downloading and verifying ${NEXT}`);
    const done = await until(
      'the upgrade outcome',
      async () => {
        const c = await commandRecord(record.id);
        return c?.outcome ? c : undefined;
      },
      120_000,
    );
    expect(done).toMatchObject({ outcome: 'upgraded' });
    const site = await until('the new version on the hub', async () => {
      const s = (await shown()).site;
      return s.agentVersion === NEXT && s.status?.lastUpgrade ? s : undefined;
    });
    expect(site.status!.lastUpgrade).toMatchObject({
      commandId: record.id,
      fromVersion: INSTALLED,
      toVersion: NEXT,
      outcome: 'upgraded',
    });
    // The supervisor (the installed version) stayed; its child is the staged release.
    expect(agent!.child.exitCode).toBeNull();
    const upgrades = join(work, 'agent', '.tendril', 'upgrades');
    const launch = JSON.parse(readFileSync(join(upgrades, 'launch.json'), 'utf8')) as {
      current: { version: string; entry: string };
    };
    expect(launch.current.version).toBe(NEXT);
    expect(existsSync(launch.current.entry)).toBe(true);
    expect(agent!.stderr).toContain('"event":"agent.upgraded"');
  }, 180_000);

  it('rolls back a release that never reports healthy: previous version running, store usable, outcome with its reason', async () => {
    const { code, record, stderr } = await upgrade(BROKEN);
    expect(code, stderr).toBe(0);
    expect(record.status).toBe('ok');
    const done = await until(
      'the rollback outcome',
      async () => {
        const c = await commandRecord(record.id);
        return c?.outcome ? c : undefined;
      },
      150_000,
    );
    expect(done.outcome).toBe('upgrade_failed');
    expect(done.outcomeReason).toContain('TENDRIL_E_UPGRADE_UNHEALTHY');
    expect(done.outcomeReason).toContain(`within ${HEALTH_SECONDS} s`);
    const site = await until(
      'the previous version back and healthy',
      async () => {
        const s = (await shown()).site;
        return s.agentVersion === NEXT &&
          s.status?.lastUpgrade?.commandId === record.id &&
          s.status.health === 'ok'
          ? s
          : undefined;
      },
      90_000,
    );
    expect(site.status!.lastUpgrade).toMatchObject({
      fromVersion: NEXT,
      toVersion: BROKEN,
      outcome: 'upgrade_failed',
    });
    expect(agent!.child.exitCode).toBeNull();
    expect(agent!.stderr).toContain('"event":"agent.upgrade_failed"');
    // Back on 0.2.0 with the store copy put back; the failed release is removed.
    const upgrades = join(work, 'agent', '.tendril', 'upgrades');
    expect(existsSync(join(upgrades, BROKEN))).toBe(false);
    expect(existsSync(join(upgrades, NEXT))).toBe(true);
    // The rolled-back agent shows it on its own status: /v1/status and the status page.
    const pages = [...agent!.stdout.matchAll(/status page (http:\/\/127\.0\.0\.1:\d+)\//g)];
    const base = pages.at(-1)![1]!;
    const status = (await (await fetch(`${base}/v1/status`)).json()) as {
      agent: { version: string; lastUpgrade?: { outcome: string; toVersion: string } };
    };
    expect(status.agent.version).toBe(NEXT);
    expect(status.agent.lastUpgrade).toMatchObject({ outcome: 'upgrade_failed', toVersion: BROKEN });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('Last upgrade');
    expect(page).toContain('upgrade failed');
    // The site key never reaches a log line.
    expect(agent!.stdout + agent!.stderr).not.toContain(enrolled.siteKey);
  }, 240_000);
});
