import { fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readLastUpgrade, readLaunchState } from '../upgrade/upgrade-state.js';
import { SUPERVISOR_MESSAGE, type UpgradeHandover } from './messages.js';
import type { Supervisor } from './supervise.js';
import { superviseVersions } from './supervise-versions.js';

/**
 * A fake agent of one version speaking the supervisor protocol. It logs its version to $LOG when
 * it starts; a staged version "migrates" the store ($STORE gets its version, as a newer store
 * schema would); MODE `healthy` reports healthy, `silent` only beats (never healthy), `crash`
 * exits 1. When $TRIGGER appears it sends the upgrade handover in it (what upgrade/start-upgrade.ts
 * sends once a release is staged).
 */
const childScript = (version: string, mode: 'healthy' | 'silent' | 'crash', migrates: boolean) => `
const { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
appendFileSync(process.env.LOG, '${version}\\n');
if (${migrates}) writeFileSync(process.env.STORE, 'migrated by ${version}');
if ('${mode}' === 'crash') setTimeout(() => process.exit(1), 50);
else {
  const beat = () => process.send({ type: '${SUPERVISOR_MESSAGE.heartbeat}' });
  beat();
  const timer = setInterval(() => {
    beat();
    if (existsSync(process.env.TRIGGER)) {
      const upgrade = JSON.parse(readFileSync(process.env.TRIGGER, 'utf8'));
      rmSync(process.env.TRIGGER);
      process.send({ type: '${SUPERVISOR_MESSAGE.upgrade}', upgrade });
    }
  }, 40);
  if ('${mode}' === 'healthy') process.send({ type: '${SUPERVISOR_MESSAGE.healthy}' });
  process.on('SIGTERM', () => { clearInterval(timer); process.exit(0); });
}
`;

const quietLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const running: Supervisor[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'tendril-upgrade-launcher-'));
  const dir = join(root, 'upgrades');
  const files = {
    log: join(root, 'versions.log'),
    store: join(root, 'tendril.db'),
    trigger: join(root, 'trigger.json'),
  };
  writeFileSync(files.store, 'original');
  mkdirSync(join(root, 'installed'));
  const installed = { version: '0.1.0', entry: join(root, 'installed', 'bin.js') };
  writeFileSync(installed.entry, childScript('0.1.0', 'healthy', false));
  /** A release staged the way upgrade/stage-release.ts leaves it: `<dir>/<version>/<name>/lib/dist/bin.js`. */
  const stage = (version: string, mode: 'healthy' | 'silent' | 'crash', inside = true): string => {
    const distDir = join(inside ? dir : root, version, `tendril-${version}-linux-x64`, 'lib', 'dist');
    mkdirSync(distDir, { recursive: true });
    writeFileSync(join(distDir, 'bin.js'), childScript(version, mode, true));
    return join(distDir, 'bin.js');
  };
  const handover = (toVersion: string, entry: string, healthSeconds = 5): UpgradeHandover => ({
    commandId: `cmd_${toVersion.replace(/\./g, '_')}`,
    fromVersion: '0.1.0',
    toVersion,
    entry,
    storeFile: files.store,
    healthSeconds,
  });
  const start = (installedVersion = installed.version) => {
    const { supervisor } = superviseVersions({
      dir,
      installed: { ...installed, version: installedVersion },
      forkEntry: (entry) =>
        fork(entry, [], {
          env: { ...process.env, LOG: files.log, STORE: files.store, TRIGGER: files.trigger },
          stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
        }),
      heartbeatTimeoutMs: 5_000,
      backoff: { initialMs: 20, maxMs: 1_000 },
      crashLoop: { maxRestarts: 5, windowMs: 60_000 },
      stopGraceMs: 2_000,
      logger: quietLogger,
    });
    running.push(supervisor);
    return supervisor;
  };
  const versions = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8').trim().split('\n') : []);
  const send = (h: UpgradeHandover) => writeFileSync(files.trigger, JSON.stringify(h));
  const latest = () => running.at(-1)!;
  return { root, dir, files, stage, handover, start, versions, send, running: latest };
}

describe('upgrade launcher (real supervisor, fake agent children)', () => {
  it('switches to a healthy version, keeps it, and launches it again after a supervisor restart', async () => {
    const t = setup();
    const supervisor = t.start();
    await until(() => t.versions().length === 1, 'the installed version');
    t.send(t.handover('0.2.0', t.stage('0.2.0', 'healthy')));
    await until(() => readLastUpgrade(t.dir) !== undefined, 'the upgrade outcome');
    expect(readLastUpgrade(t.dir)).toMatchObject({
      commandId: 'cmd_0_2_0',
      fromVersion: '0.1.0',
      toVersion: '0.2.0',
      outcome: 'upgraded',
    });
    expect(readLaunchState(t.dir)).toMatchObject({
      current: { version: '0.2.0' },
      previous: { version: '0.1.0' },
    });
    expect(readLaunchState(t.dir)?.pending).toBeUndefined();
    expect(t.versions()).toEqual(['0.1.0', '0.2.0']);
    expect(readFileSync(t.files.store, 'utf8')).toBe('migrated by 0.2.0');
    // The store copy is dropped once the new version is kept.
    expect(existsSync(join(t.dir, '0.2.0', 'store-backup.db'))).toBe(false);
    expect(supervisor.restarts).toBe(0);
    await supervisor.stop();
    // A service restart: the new supervisor (still the installed version) launches 0.2.0.
    t.start();
    await until(() => t.versions().length === 3, 'the relaunch');
    expect(t.versions()[2]).toBe('0.2.0');
    await t.running().stop();
    // The install replaced by hand (another installed version): its supervisor launches itself.
    t.start('0.6.0');
    await until(() => t.versions().length === 4, 'the manual install');
    expect(t.versions()[3]).toBe('0.1.0');
    rmSync(t.root, { recursive: true, force: true });
  }, 30_000);

  it('rolls back a version that never reports healthy: store copy restored, previous version running', async () => {
    const t = setup();
    const supervisor = t.start();
    await until(() => t.versions().length === 1, 'the installed version');
    t.send(t.handover('0.3.0', t.stage('0.3.0', 'silent'), 1));
    await until(() => readLastUpgrade(t.dir) !== undefined, 'the upgrade outcome');
    const last = readLastUpgrade(t.dir)!;
    expect(last).toMatchObject({ toVersion: '0.3.0', fromVersion: '0.1.0', outcome: 'upgrade_failed' });
    expect(last.reason).toContain('TENDRIL_E_UPGRADE_UNHEALTHY');
    expect(last.reason).toContain('did not report healthy within 1 s');
    await until(() => t.versions().length === 3, 'the previous version again');
    expect(t.versions()).toEqual(['0.1.0', '0.3.0', '0.1.0']);
    expect(readFileSync(t.files.store, 'utf8')).toBe('original');
    expect(readLaunchState(t.dir)).toMatchObject({ current: { version: '0.1.0' } });
    // The failed release and its store copy are removed once the copy is back.
    expect(existsSync(join(t.dir, '0.3.0'))).toBe(false);
    expect(readLaunchState(t.dir)?.pending).toBeUndefined();
    expect(supervisor.restarts).toBe(0);
    rmSync(t.root, { recursive: true, force: true });
  }, 30_000);

  it('rolls back at once a version that exits before it reports healthy, without counting a crash', async () => {
    const t = setup();
    const supervisor = t.start();
    await until(() => t.versions().length === 1, 'the installed version');
    t.send(t.handover('0.4.0', t.stage('0.4.0', 'crash'), 60));
    await until(() => readLastUpgrade(t.dir) !== undefined, 'the upgrade outcome');
    expect(readLastUpgrade(t.dir)).toMatchObject({ toVersion: '0.4.0', outcome: 'upgrade_failed' });
    expect(readLastUpgrade(t.dir)?.reason).toContain('exited with code 1 before it reported healthy');
    await until(() => t.versions().length === 3, 'the previous version again');
    expect(t.versions()).toEqual(['0.1.0', '0.4.0', '0.1.0']);
    expect(readFileSync(t.files.store, 'utf8')).toBe('original');
    expect(supervisor.restarts).toBe(0);
    rmSync(t.root, { recursive: true, force: true });
  }, 30_000);

  it('rolls back when the supervisor restarts before the new version reported healthy', async () => {
    const t = setup();
    const first = t.start();
    await until(() => t.versions().length === 1, 'the installed version');
    t.send(t.handover('0.3.0', t.stage('0.3.0', 'silent'), 60));
    await until(() => t.versions().length === 2, 'the new version');
    await until(() => readFileSync(t.files.store, 'utf8') !== 'original', 'the migration');
    expect(readLaunchState(t.dir)?.pending?.to.version).toBe('0.3.0');
    await first.stop(); // the service restarts while the health wait runs
    t.start();
    await until(() => readLastUpgrade(t.dir) !== undefined, 'the upgrade outcome');
    expect(readLastUpgrade(t.dir)).toMatchObject({ toVersion: '0.3.0', outcome: 'upgrade_failed' });
    expect(readLastUpgrade(t.dir)?.reason).toContain('the supervisor restarted before version 0.3.0');
    await until(() => t.versions().length === 3, 'the previous version again');
    expect(t.versions()).toEqual(['0.1.0', '0.3.0', '0.1.0']);
    expect(readFileSync(t.files.store, 'utf8')).toBe('original');
    expect(readLaunchState(t.dir)?.pending).toBeUndefined();
    rmSync(t.root, { recursive: true, force: true });
  }, 30_000);

  it('refuses a staged entry outside the upgrades folder: nothing backed up, nothing switched', async () => {
    const t = setup();
    const supervisor = t.start();
    await until(() => t.versions().length === 1, 'the installed version');
    const pid = supervisor.childPid;
    t.send(t.handover('0.5.0', t.stage('0.5.0', 'healthy', false)));
    await until(() => readLastUpgrade(t.dir) !== undefined, 'the upgrade outcome');
    expect(readLastUpgrade(t.dir)).toMatchObject({ toVersion: '0.5.0', outcome: 'upgrade_failed' });
    expect(readLastUpgrade(t.dir)?.reason).toContain('not in the upgrades folder');
    // The running child was not even stopped.
    expect(t.versions()).toEqual(['0.1.0']);
    expect(supervisor.childPid).toBe(pid);
    expect(readFileSync(t.files.store, 'utf8')).toBe('original');
    expect(existsSync(join(t.root, '0.5.0', 'store-backup.db'))).toBe(false);
    expect(readLaunchState(t.dir)).toBeUndefined();
    rmSync(t.root, { recursive: true, force: true });
  }, 30_000);
});
