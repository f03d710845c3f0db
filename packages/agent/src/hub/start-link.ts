import { secretsFileFor } from '../secrets/secrets-file.js';
import type { Cradle } from '../container.js';
import type { AgentRuntime } from '../run/agent-runtime.js';
import { startHubLink, type HubLink, type HubLinkOptions } from './link-client.js';

/** Opens the hub link of a running agent when its config has `hub:`; undefined otherwise. */
export function startAgentHubLink(
  cradle: Pick<Cradle, 'config' | 'store' | 'logger'>,
  runtime: Pick<AgentRuntime, 'status' | 'writeback' | 'version'>,
  options: { configFile?: string; env?: NodeJS.ProcessEnv } & Partial<
    Pick<HubLinkOptions, 'backoff' | 'statusCheckMs'>
  >,
): HubLink | undefined {
  const hub = cradle.config.hub;
  if (!hub) return undefined;
  return startHubLink({
    hub,
    store: cradle.store,
    logger: cradle.logger,
    writeback: runtime.writeback,
    status: () => runtime.status(),
    version: runtime.version,
    ...(options.configFile ? { secretsFile: secretsFileFor(options.configFile) } : {}),
    env: options.env ?? process.env,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.statusCheckMs ? { statusCheckMs: options.statusCheckMs } : {}),
  });
}
