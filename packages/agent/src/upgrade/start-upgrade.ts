import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isTendrilError, type HubLinkConfig } from '@tendril/core';
import type { UpgradeRelease } from '@tendril/hub';
import type { Logger } from 'pino';
import type { HeartbeatChannel } from '../supervisor/heartbeat.js';
import { SUPERVISOR_MESSAGE, type SupervisorMessage } from '../supervisor/messages.js';
import { stageRelease } from './stage-release.js';
import { writeLastUpgrade } from './upgrade-state.js';

/**
 * The release key this install shipped with: `lib/release-public-key.pem` of a release (two folders
 * up from this file in `lib/dist/upgrade/`). A development checkout has none: undefined.
 */
export function releasePublicKey(): string | undefined {
  try {
    return readFileSync(fileURLToPath(new URL('../../release-public-key.pem', import.meta.url)), 'utf8');
  } catch {
    return undefined;
  }
}

export interface StartUpgradeOptions {
  readonly commandId: string;
  readonly release: UpgradeRelease;
  readonly credential: string;
  readonly hub: HubLinkConfig;
  /** The upgrades folder (upgrade/upgrade-state.ts). */
  readonly dir: string;
  /** The SQLite store file (absolute), or null for a PostgreSQL store. */
  readonly storeFile: string | null;
  readonly version: string;
  readonly publicKeyPem: string;
  readonly logger: Logger;
  readonly channel?: HeartbeatChannel;
  readonly fetch?: typeof fetch;
}

/**
 * The running child's part of a remote upgrade, after it answered the command: stage the release
 * (download, verify, unpack: stage-release.ts), then hand it to the supervisor over IPC, which
 * switches and rolls back if needed (supervisor/upgrade-launcher.ts). A failure before the
 * handover changes nothing; it is written as the last upgrade (reported to the hub in the next
 * status) and logged as `agent.upgrade_failed` with its code — never the credential.
 */
export async function startUpgrade(options: StartUpgradeOptions): Promise<void> {
  const { release } = options;
  const log = options.logger.child({ component: 'upgrade' });
  try {
    const { entry } = await stageRelease({
      release,
      hubUrl: options.hub.url,
      siteId: options.hub.siteId,
      credential: options.credential,
      dir: options.dir,
      publicKeyPem: options.publicKeyPem,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const channel = options.channel ?? process;
    if (typeof channel.send !== 'function' || channel.connected === false)
      throw new Error('the supervisor went away before the switch');
    const message: SupervisorMessage = {
      type: SUPERVISOR_MESSAGE.upgrade,
      upgrade: {
        commandId: options.commandId,
        fromVersion: options.version,
        toVersion: release.version,
        entry,
        storeFile: options.storeFile,
        healthSeconds: options.hub.remote.upgradeHealthSeconds,
      },
    };
    log.info(
      { event: 'agent.upgrade_staged', commandId: options.commandId, toVersion: release.version },
      `release ${release.version} verified and unpacked; the supervisor switches to it`,
    );
    channel.send(message);
  } catch (error) {
    const code = isTendrilError(error) ? error.code : 'TENDRIL_E_UPGRADE_DOWNLOAD';
    const reason = isTendrilError(error)
      ? `${error.code}: ${error.message}`
      : `${code}: ${(error as Error).message}`;
    writeLastUpgrade(options.dir, {
      commandId: options.commandId,
      fromVersion: options.version,
      toVersion: release.version,
      outcome: 'upgrade_failed',
      reason,
      at: new Date().toISOString(),
    });
    log.error(
      { event: 'agent.upgrade_failed', code, commandId: options.commandId, toVersion: release.version },
      `upgrade to ${release.version} failed before the switch; this version goes on running. ${reason}`,
    );
  }
}
