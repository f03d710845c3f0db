import type { ChildProcess } from 'node:child_process';
import type { LaunchTarget } from '../upgrade/upgrade-state.js';
import { SUPERVISOR_MESSAGE } from './messages.js';
import { superviseAgent, type SuperviseOptions, type Supervisor } from './supervise.js';
import { createUpgradeLauncher, type UpgradeLauncher } from './upgrade-launcher.js';

export interface SuperviseVersionsOptions extends Omit<
  SuperviseOptions,
  'spawnChild' | 'onChildMessage' | 'onUnplannedEnd'
> {
  /** The upgrades folder (upgrade/upgrade-state.ts). */
  readonly dir: string;
  /** The version installed on disk: the supervisor's own, launched when launch.json names none. */
  readonly installed: LaunchTarget;
  /** Starts the agent from `entry` (the `lib/dist/bin.js` of the version to run). */
  readonly forkEntry: (entry: string) => ChildProcess;
}

/**
 * The supervisor with remote upgrades: superviseAgent (crash, hang, crash loop) whose child is the
 * version the upgrade launcher names, with the child's `healthy` and `upgrade` messages and its
 * unplanned ends routed to the launcher (upgrade-launcher.ts). What `tendril run` uses
 * (run-supervised.ts), and what supervisor/upgrade-launcher.test.ts drives with fake children.
 */
export function superviseVersions(options: SuperviseVersionsOptions): {
  supervisor: Supervisor;
  launcher: UpgradeLauncher;
} {
  const { dir, installed, forkEntry, ...supervise } = options;
  const launcher = createUpgradeLauncher({
    dir,
    installed,
    logger: options.logger,
    ...(options.clock ? { clock: options.clock } : {}),
    // Called from timers and IPC messages only, after `supervisor` is assigned below.
    restartChild: (reason) => supervisor.requestRestart(reason),
  });
  const supervisor = superviseAgent({
    ...supervise,
    spawnChild: () => forkEntry(launcher.nextEntry()),
    onChildMessage: (message) => {
      if (message.type === SUPERVISOR_MESSAGE.healthy) launcher.onHealthy();
      else if (message.type === SUPERVISOR_MESSAGE.upgrade && message.upgrade)
        launcher.onUpgrade(message.upgrade);
    },
    onUnplannedEnd: (end) => launcher.onUnplannedEnd(end),
  });
  return { supervisor, launcher };
}
