import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { totpCode, totpStep } from '@tendril/hub';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createConsoleUser, launchChromium, logInToConsole } from './support/console.js';
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
/** Screenshots of the console's upgrade pages, for a person to look at (test-results is not committed). */
const SHOTS = join(REPO_ROOT, 'test-results', 'console');
const OPERATOR = { email: 'ops@upgradegrove.example', password: 'correct horse battery U' };

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
  let browser: Browser | undefined;
  let page: Page;
  const sitePage = () => page.goto(`${hub!.url}/console/sites/${siteId}`);
  /**
   * Asks for an upgrade the way an operator does: the site page of the hub console in Chromium,
   * "Upgrade to a version", the release picked from the select, the confirmation. Returns the
   * command as the hub recorded it, with the agent's answer.
   */
  const upgrade = async (version: string) => {
    await sitePage();
    await page.click('text=Upgrade to a version');
    await page.selectOption('#version', version);
    await page.screenshot({ path: join(SHOTS, `upgrade-confirm-${version}.png`), fullPage: true });
    await page.click('button:has-text("Yes, upgrade the agent")');
    const message = (await page.textContent('#command-message')) ?? '';
    const commands = (
      await hubAdmin<{ commands: (CommandRecord & { actor: string })[] }>(hub!.configFile, [
        'site',
        'commands',
        siteId,
      ])
    ).commands.filter((c) => c.name === 'upgrade');
    const record = commands.find((c) => c.message && message.includes(c.message)) ?? commands[0]!;
    expect(record.actor).toBe(`user:${OPERATOR.email}`);
    return { message, record };
  };
  /** The site page's "Agent version" and the newest upgrade row of its command history. */
  const consoleShows = async () => {
    await sitePage();
    const version = await page.locator('dt:has-text("Agent version") + dd').textContent();
    const newest = await page.locator('#commands tbody tr').first().textContent();
    return { version: version?.trim(), newest: newest?.replace(/\s+/g, ' ') ?? '' };
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
      '--vendor',
      'grove',
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
    const totpSecret = await createConsoleUser(hub.configFile, { vendor: 'grove', ...OPERATOR });
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await logInToConsole(page, hub.url, OPERATOR, totpCode(totpSecret, totpStep(new Date())));
    await until('the installed version on the hub', async () => {
      const site = (await shown()).site;
      return site.linkNode && site.agentVersion === INSTALLED ? true : undefined;
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await hub?.stop();
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('upgrades to a signed release: the hub sees the new version and the outcome', async () => {
    const { message, record } = await upgrade(NEXT);
    expect(record).toMatchObject({ name: 'upgrade', status: 'ok' });
    expect(message).toContain(`downloading and verifying ${NEXT}`);
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
    // The console's site page shows the new version and the outcome.
    const shows = await consoleShows();
    expect(shows.version).toBe(NEXT);
    expect(shows.newest).toContain(`upgrade ${NEXT}`);
    expect(shows.newest).toContain('upgraded');
    await page.screenshot({ path: join(SHOTS, 'upgrade-done.png'), fullPage: true });
  }, 180_000);

  it('rolls back a release that never reports healthy: previous version running, store usable, outcome with its reason', async () => {
    const { record } = await upgrade(BROKEN);
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
    const statusPage = await (await fetch(`${base}/`)).text();
    expect(statusPage).toContain('Last upgrade');
    expect(statusPage).toContain('upgrade failed');
    // The console shows the version rolled back to and the failed upgrade with its reason.
    const shows = await consoleShows();
    expect(shows.version).toBe(NEXT);
    expect(shows.newest).toContain(`upgrade ${BROKEN}`);
    expect(shows.newest).toContain('upgrade failed');
    await page.screenshot({ path: join(SHOTS, 'upgrade-rolled-back.png'), fullPage: true });
    // The site key never reaches a log line.
    expect(agent!.stdout + agent!.stderr).not.toContain(enrolled.siteKey);
  }, 240_000);
});
