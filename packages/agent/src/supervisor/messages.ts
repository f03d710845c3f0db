/**
 * The IPC messages between the supervisor and the agent child (`process.send`). Kept as data so
 * both sides agree on one shape and anything else on the channel is ignored.
 */
export const SUPERVISOR_MESSAGE = {
  /** Child → supervisor: the event loop is alive. */
  heartbeat: 'tendril:heartbeat',
  /** Child → supervisor: an authenticated caller asked for a restart (`POST /v1/agent/restart`). */
  restartRequest: 'tendril:restart-request',
  /**
   * Child → supervisor: the agent is healthy — its store is open, the API listens and the scheduler
   * started (commands/run.ts sends it once after `runtime.start()`). An upgraded child must send it
   * within `hub.remote.upgradeHealthSeconds` or the supervisor rolls back.
   */
  healthy: 'tendril:healthy',
  /** Child → supervisor: a verified, unpacked release is staged; switch to it (upgrade/stage-release.ts). */
  upgrade: 'tendril:upgrade',
} as const;

export type SupervisorMessageType = (typeof SUPERVISOR_MESSAGE)[keyof typeof SUPERVISOR_MESSAGE];

/** What the child hands to the supervisor once a release is downloaded, verified and unpacked. */
export interface UpgradeHandover {
  /** The hub's command id (the hub keys `agent.upgraded` / `agent.upgrade_failed` by it). */
  readonly commandId: string;
  readonly fromVersion: string;
  readonly toVersion: string;
  /** The staged release's `lib/dist/bin.js`, inside the upgrades folder. */
  readonly entry: string;
  /** The SQLite store file to back up before the new version opens it; null for a PostgreSQL store. */
  readonly storeFile: string | null;
  /** `hub.remote.upgradeHealthSeconds`. */
  readonly healthSeconds: number;
}

export interface SupervisorMessage {
  readonly type: SupervisorMessageType;
  /** Who asked (restart requests): `api`, `cli`…; never a credential. */
  readonly reason?: string;
  /** `upgrade` only. */
  readonly upgrade?: UpgradeHandover;
}

const TYPES = new Set<unknown>(Object.values(SUPERVISOR_MESSAGE));

/** True for a message the supervisor understands. */
export function isSupervisorMessage(value: unknown): value is SupervisorMessage {
  if (!value || typeof value !== 'object') return false;
  const message = value as { type?: unknown; upgrade?: unknown };
  if (!TYPES.has(message.type)) return false;
  if (message.type !== SUPERVISOR_MESSAGE.upgrade) return true;
  const u = message.upgrade as Record<string, unknown> | undefined;
  return (
    !!u &&
    typeof u['commandId'] === 'string' &&
    typeof u['fromVersion'] === 'string' &&
    typeof u['toVersion'] === 'string' &&
    typeof u['entry'] === 'string' &&
    (u['storeFile'] === null || typeof u['storeFile'] === 'string') &&
    typeof u['healthSeconds'] === 'number'
  );
}

/** Environment variable the supervisor sets on its child, so the child knows it is supervised. */
export const SUPERVISED_ENV = 'TENDRIL_SUPERVISED';

/**
 * Environment variable the supervisor sets on its child: the folder where releases are staged and
 * the upgrade state is kept (upgrade/upgrade-paths.ts), so child and supervisor agree on it.
 */
export const UPGRADES_DIR_ENV = 'TENDRIL_UPGRADES_DIR';
