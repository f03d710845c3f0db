import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { LastUpgradeReport } from '@tendril/hub';
import {
  readLaunchState,
  writeLastUpgrade,
  writeLaunchState,
  type LaunchState,
  type LaunchTarget,
  type PendingUpgrade,
} from '../upgrade/upgrade-state.js';
import type { UpgradeHandover } from './messages.js';
import { REAL_CLOCK, type ChildEndReason, type SupervisorClock, type SupervisorLogger } from './supervise.js';

export interface UpgradeLauncherOptions {
  /** The upgrades folder (upgrade/upgrade-state.ts). */
  readonly dir: string;
  /** The version installed on disk, which the supervisor itself runs. */
  readonly installed: LaunchTarget;
  readonly logger: SupervisorLogger;
  readonly clock?: SupervisorClock;
  /** Asks the supervisor to stop the child and start the next one (planned, not counted as a crash). */
  readonly restartChild: (reason: string) => void;
}

/** The supervisor's side of remote upgrades; wired into superviseAgent by run-supervised.ts. */
export interface UpgradeLauncher {
  /** Called by spawnChild with no child running: does a pending switch or rollback, returns the entry to fork. */
  nextEntry(): string;
  /** The version `nextEntry` returned last. */
  readonly version: string;
  onHealthy(): void;
  onUpgrade(handover: UpgradeHandover): void;
  onUnplannedEnd(end: {
    readonly reason: ChildEndReason;
    readonly code: number | null;
  }): 'restart-now' | undefined;
}

/** A store's SQLite side files: a backup copies, and a restore replaces, all of them. */
const SIDE_FILES = ['-wal', '-shm'] as const;

function isInside(dir: string, file: string): boolean {
  const rel = relative(resolve(dir), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
}

/**
 * The supervisor as a launcher of versions (docs/hub.md, "Remote upgrade"). The supervisor stays the
 * installed version; its child runs whatever `launch.json` names. A switch happens only while no
 * child runs (in `nextEntry`): the SQLite store is copied first (the new version may migrate it
 * forward, and an old version refuses a newer store), the pending upgrade is recorded, and the new
 * child has `healthSeconds` to report healthy. Healthy: the switch is kept, older staged versions
 * except the previous one are removed. Not healthy in time, or ended first: it is stopped, the store
 * copy is put back and the previous version starts. A PostgreSQL store is not copied: a release
 * only adds columns and tables there, so the previous version still runs on it.
 * After a supervisor restart with an upgrade still pending, the upgrade is rolled back the same way:
 * the new version never proved healthy.
 */
export function createUpgradeLauncher(options: UpgradeLauncherOptions): UpgradeLauncher {
  const { dir, logger: log } = options;
  const clock = options.clock ?? REAL_CLOCK;
  const installedVersion = options.installed.version;
  const stored = readLaunchState(dir);
  // A state written under another installed version is stale: the install was replaced by hand.
  let state: LaunchState =
    stored && stored.installedVersion === installedVersion
      ? stored
      : { installedVersion, current: options.installed };
  let wanted: UpgradeHandover | undefined;
  let rollback: string | undefined = state.pending
    ? `the supervisor restarted before version ${state.pending.to.version} reported healthy`
    : undefined;
  let healthTimer: unknown;
  let launched = state.current.version;

  const report = (pending: PendingUpgrade, outcome: LastUpgradeReport['outcome'], reason?: string) => {
    const last: LastUpgradeReport = {
      commandId: pending.commandId,
      fromVersion: pending.from.version,
      toVersion: pending.to.version,
      outcome,
      ...(reason ? { reason } : {}),
      at: new Date(clock.now()).toISOString(),
    };
    writeLastUpgrade(dir, last);
    if (outcome === 'upgraded')
      log.info(
        {
          event: 'agent.upgraded',
          commandId: last.commandId,
          fromVersion: last.fromVersion,
          toVersion: last.toVersion,
        },
        `upgraded from ${last.fromVersion} to ${last.toVersion}`,
      );
    else
      log.error(
        {
          event: 'agent.upgrade_failed',
          code: 'TENDRIL_E_UPGRADE_UNHEALTHY',
          commandId: last.commandId,
          fromVersion: last.fromVersion,
          toVersion: last.toVersion,
        },
        `upgrade to ${last.toVersion} failed and was rolled back to ${last.fromVersion}: ${reason ?? ''}`,
      );
  };

  /** Failed before the switch (bad handover, backup impossible): nothing changed, the current version goes on. */
  const refuse = (handover: UpgradeHandover, reason: string) => {
    const to = { version: handover.toVersion, entry: handover.entry };
    report(
      {
        commandId: handover.commandId,
        from: state.current,
        to,
        storeFile: null,
        backupFile: null,
        healthSeconds: 0,
      },
      'upgrade_failed',
      reason,
    );
  };

  const backup = (storeFile: string, version: string): string => {
    const backupFile = join(dir, version, 'store-backup.db');
    copyFileSync(storeFile, backupFile);
    for (const side of SIDE_FILES) {
      if (existsSync(`${storeFile}${side}`)) copyFileSync(`${storeFile}${side}`, `${backupFile}${side}`);
      else rmSync(`${backupFile}${side}`, { force: true });
    }
    return backupFile;
  };

  const restore = (pending: PendingUpgrade) => {
    if (!pending.storeFile || !pending.backupFile) return;
    copyFileSync(pending.backupFile, pending.storeFile);
    for (const side of SIDE_FILES) {
      if (existsSync(`${pending.backupFile}${side}`))
        copyFileSync(`${pending.backupFile}${side}`, `${pending.storeFile}${side}`);
      else rmSync(`${pending.storeFile}${side}`, { force: true });
    }
  };

  /** Keeps the current and the previous version's folders; removes every other staged release. */
  const prune = () => {
    const keep = new Set(
      [state.current, state.previous]
        .filter((t): t is LaunchTarget => !!t && isInside(dir, t.entry))
        .map((t) => relative(dir, t.entry).split(sep)[0]),
    );
    for (const entry of readdirSync(dir, { withFileTypes: true }))
      if (entry.isDirectory() && !keep.has(entry.name))
        rmSync(join(dir, entry.name), { recursive: true, force: true });
  };

  const switchTo = (handover: UpgradeHandover): string => {
    if (!isInside(dir, handover.entry) || !existsSync(handover.entry)) {
      refuse(
        handover,
        `the staged release ${handover.toVersion} is not in the upgrades folder; nothing was switched`,
      );
      return state.current.entry;
    }
    let backupFile: string | null = null;
    if (handover.storeFile) {
      try {
        backupFile = backup(handover.storeFile, handover.toVersion);
      } catch (error) {
        refuse(
          handover,
          `the store could not be backed up before the switch (${(error as NodeJS.ErrnoException).code ?? 'error'}); nothing was switched`,
        );
        return state.current.entry;
      }
    }
    const pending: PendingUpgrade = {
      commandId: handover.commandId,
      from: state.current,
      to: { version: handover.toVersion, entry: handover.entry },
      storeFile: handover.storeFile,
      backupFile,
      healthSeconds: handover.healthSeconds,
    };
    state = { ...state, pending };
    writeLaunchState(dir, state);
    log.info(
      {
        event: 'agent.upgrade_switching',
        commandId: pending.commandId,
        fromVersion: pending.from.version,
        toVersion: pending.to.version,
        storeBackup: backupFile !== null,
      },
      `starting version ${pending.to.version}; it has ${pending.healthSeconds} s to report healthy`,
    );
    clock.clearTimeout(healthTimer);
    healthTimer = clock.setTimeout(() => {
      if (state.pending !== pending) return;
      rollback = `TENDRIL_E_UPGRADE_UNHEALTHY: version ${pending.to.version} did not report healthy within ${pending.healthSeconds} s (hub.remote.upgradeHealthSeconds)`;
      options.restartChild('upgrade-rollback');
    }, pending.healthSeconds * 1000);
    return pending.to.entry;
  };

  const rollBack = (reason: string): string => {
    const pending = state.pending;
    if (!pending) return state.current.entry;
    let why = reason;
    let restored = true;
    try {
      restore(pending);
    } catch (error) {
      // The previous version may refuse the store now (TENDRIL_E_STORE_SCHEMA); say where the copy is.
      restored = false;
      why = `${reason}; the store copy could not be put back (${(error as NodeJS.ErrnoException).code ?? 'error'}): copy ${pending.backupFile} over ${pending.storeFile} with the agent stopped`;
    }
    state = {
      installedVersion,
      current: pending.from,
      ...(state.previous ? { previous: state.previous } : {}),
    };
    writeLaunchState(dir, state);
    report(pending, 'upgrade_failed', why);
    // The failed release's folder (and the store copy in it, once put back) is of no more use.
    if (restored)
      try {
        prune();
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'could not remove the failed release');
      }
    return state.current.entry;
  };

  const nextEntry = (): string => {
    let entry: string;
    if (rollback !== undefined) {
      const reason = rollback;
      rollback = undefined;
      entry = rollBack(reason);
    } else if (wanted) {
      const handover = wanted;
      wanted = undefined;
      entry = switchTo(handover);
    } else entry = state.pending ? state.pending.to.entry : state.current.entry;
    launched = entry === state.pending?.to.entry ? state.pending.to.version : state.current.version;
    return entry;
  };

  return {
    nextEntry,
    get version() {
      return launched;
    },
    onHealthy() {
      const pending = state.pending;
      if (!pending) return;
      clock.clearTimeout(healthTimer);
      state = { installedVersion, current: pending.to, previous: pending.from };
      writeLaunchState(dir, state);
      if (pending.backupFile)
        for (const file of [pending.backupFile, ...SIDE_FILES.map((s) => `${pending.backupFile}${s}`)])
          rmSync(file, { force: true });
      report(pending, 'upgraded');
      try {
        prune();
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'could not remove older staged releases');
      }
    },
    onUpgrade(handover) {
      if (state.pending) {
        refuse(
          handover,
          `an upgrade to ${state.pending.to.version} is still waiting to report healthy; send this one again after it`,
        );
        return;
      }
      // Checked before the running child is stopped: a bad handover changes nothing.
      if (!isInside(dir, handover.entry) || !existsSync(handover.entry)) {
        refuse(
          handover,
          `the staged release ${handover.toVersion} is not in the upgrades folder; nothing was switched`,
        );
        return;
      }
      wanted = handover;
      options.restartChild('upgrade');
    },
    onUnplannedEnd({ code }) {
      if (!state.pending) return undefined;
      clock.clearTimeout(healthTimer);
      rollback = `TENDRIL_E_UPGRADE_UNHEALTHY: version ${state.pending.to.version} exited${code === null ? '' : ` with code ${code}`} before it reported healthy`;
      return 'restart-now';
    },
  };
}
