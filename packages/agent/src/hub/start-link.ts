import { connectorForSite } from '@tendril/core';
import { streamsOf } from '@tendril/scheduler';
import { compareConnector, readLiveSchema, supportBundle } from '@tendril/sql';
import { loadConfigFile } from '../config-file.js';
import { recentLogLines } from '../logger.js';
import { secretsFileFor } from '../secrets/secrets-file.js';
import type { Cradle } from '../container.js';
import type { AgentRuntime } from '../run/agent-runtime.js';
import { requestRestart } from '../supervisor/heartbeat.js';
import { SUPERVISED_ENV } from '../supervisor/messages.js';
import { releasePublicKey, startUpgrade } from '../upgrade/start-upgrade.js';
import { upgradesDir } from '../upgrade/upgrade-state.js';
import { resolve } from 'node:path';
import { startHubLink, type HubLink, type HubLinkOptions } from './link-client.js';
import type { RemoteCommandContext } from './remote-commands.js';

/** What the hub's remote commands act on in a running agent (docs/hub.md, "Remote commands"). */
function remoteCommandContext(
  cradle: Pick<Cradle, 'config' | 'connectors' | 'sqlClients' | 'logger'>,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
  version: string,
): RemoteCommandContext {
  const store = cradle.config.store;
  return {
    version,
    releasePublicKey,
    async upgrade({ commandId, release, credential }) {
      const publicKeyPem = releasePublicKey();
      if (!configFile || !publicKeyPem) {
        cradle.logger.error(
          { event: 'agent.upgrade_failed', commandId, toVersion: release.version },
          'upgrade not started: this agent has no config file or no release key (lib/release-public-key.pem)',
        );
        return;
      }
      await startUpgrade({
        commandId,
        release,
        credential,
        hub: cradle.config.hub!,
        dir: upgradesDir(configFile, env),
        storeFile: 'sqlite' in store ? resolve(store.sqlite) : null,
        version,
        publicKeyPem,
        logger: cradle.logger,
      });
    },
    remote: cradle.config.hub!.remote,
    supervised: env[SUPERVISED_ENV] === '1' && typeof process.send === 'function',
    restart: (reason) => requestRestart({ reason }),
    async validateConfig() {
      if (!configFile) throw new Error('the agent was started without a config file');
      await loadConfigFile(configFile, env);
    },
    recentLogs: (lines) => recentLogLines(lines),
    async supportBundle() {
      const at = new Date().toISOString();
      const connections: Record<string, unknown>[] = [];
      for (const connection of cradle.config.connections) {
        const connector = connectorForSite(cradle.connectors.get(connection.connector)!, connection.tableMap);
        const schema = await readLiveSchema(cradle.sqlClients.get(connection));
        const report = compareConnector(connector, schema, streamsOf(connection, connector));
        connections.push({ connection: connection.id, ...supportBundle(report, schema, at) });
      }
      return { generatedAt: at, connections };
    },
  };
}

/** Opens the hub link of a running agent when its config has `hub:`; undefined otherwise. */
export function startAgentHubLink(
  cradle: Pick<Cradle, 'config' | 'store' | 'logger' | 'connectors' | 'sqlClients'>,
  runtime: Pick<AgentRuntime, 'status' | 'writeback' | 'version'>,
  options: { configFile?: string; env?: NodeJS.ProcessEnv } & Partial<
    Pick<HubLinkOptions, 'backoff' | 'statusCheckMs'>
  >,
): HubLink | undefined {
  const hub = cradle.config.hub;
  if (!hub) return undefined;
  const env = options.env ?? process.env;
  return startHubLink({
    hub,
    store: cradle.store,
    logger: cradle.logger,
    writeback: runtime.writeback,
    status: () => runtime.status(),
    version: runtime.version,
    ...(options.configFile ? { secretsFile: secretsFileFor(options.configFile) } : {}),
    env,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.statusCheckMs ? { statusCheckMs: options.statusCheckMs } : {}),
    commands: remoteCommandContext(cradle, options.configFile, env, runtime.version),
  });
}
