import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { LastUpgradeReport } from '@tendril/hub';
import { UPGRADES_DIR_ENV } from '../supervisor/messages.js';

/** One agent version the supervisor can launch: its version and its `lib/dist/bin.js`. */
export interface LaunchTarget {
  readonly version: string;
  readonly entry: string;
}

/** An upgrade the supervisor switched to and waits on (the new child has not reported healthy yet). */
export interface PendingUpgrade {
  readonly commandId: string;
  readonly from: LaunchTarget;
  readonly to: LaunchTarget;
  /** The SQLite store and its copy taken with no child running; both null for a PostgreSQL store. */
  readonly storeFile: string | null;
  readonly backupFile: string | null;
  readonly healthSeconds: number;
}

/**
 * `launch.json` in the upgrades folder: which version the supervisor starts. The supervisor itself
 * is always the installed version (a launcher); only its child moves to a staged release. Absent
 * means "the installed version".
 */
export interface LaunchState {
  /**
   * The installed version that wrote this state. A supervisor of another installed version (the
   * install was replaced by hand) ignores the state and launches itself: a manual upgrade wins.
   */
  readonly installedVersion: string;
  readonly current: LaunchTarget;
  /** The version before the last successful upgrade (kept on disk; everything older is removed). */
  readonly previous?: LaunchTarget;
  readonly pending?: PendingUpgrade;
}

const LAUNCH_FILE = 'launch.json';
const LAST_UPGRADE_FILE = 'last-upgrade.json';

/**
 * The folder where releases are staged and the upgrade state is kept: `.tendril/upgrades` beside
 * the config file (the agent already writes secrets.enc there, so it is writable), unless the
 * supervisor named it for its child in TENDRIL_UPGRADES_DIR.
 */
export function upgradesDir(configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = env[UPGRADES_DIR_ENV];
  if (given) return given;
  return join(dirname(resolve(configFile)), '.tendril', 'upgrades');
}

/** Written whole or not at all (temporary file, then rename), so a crash never leaves half a state. */
function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

function readJson(file: string): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isTarget(value: unknown): value is LaunchTarget {
  const v = value as Partial<LaunchTarget> | undefined;
  return !!v && typeof v.version === 'string' && typeof v.entry === 'string';
}

/** The launch state, or undefined when there is none (or it is unreadable: then the installed version runs). */
export function readLaunchState(dir: string): LaunchState | undefined {
  const value = readJson(join(dir, LAUNCH_FILE)) as Partial<LaunchState> | undefined;
  if (!value || !isTarget(value.current)) return undefined;
  return value as LaunchState;
}

export function writeLaunchState(dir: string, state: LaunchState): void {
  writeJson(join(dir, LAUNCH_FILE), state);
}

/** How the last upgrade ended (the child reports it to the hub as `status.lastUpgrade`). */
export function readLastUpgrade(dir: string): LastUpgradeReport | undefined {
  const value = readJson(join(dir, LAST_UPGRADE_FILE)) as Partial<LastUpgradeReport> | undefined;
  if (!value || typeof value.commandId !== 'string' || typeof value.outcome !== 'string') return undefined;
  return value as LastUpgradeReport;
}

export function writeLastUpgrade(dir: string, report: LastUpgradeReport): void {
  writeJson(join(dir, LAST_UPGRADE_FILE), report);
}

/**
 * The last upgrade for the agent's status (`/v1/status`, the status page, the hub's
 * `status.lastUpgrade`): read from the upgrades folder the supervisor named in
 * TENDRIL_UPGRADES_DIR. An agent not started by the supervisor has none.
 */
export function lastUpgradeOf(env: NodeJS.ProcessEnv): { lastUpgrade?: LastUpgradeReport } {
  const dir = env[UPGRADES_DIR_ENV];
  const last = dir ? readLastUpgrade(dir) : undefined;
  return last ? { lastUpgrade: last } : {};
}
