import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseSiteKey, SITE_KEY_ENV, SITE_KEY_FILE_ENV } from '../secrets/site-key.js';
import { requestRestart, type HeartbeatChannel } from './heartbeat.js';
import { SUPERVISED_ENV } from './messages.js';

/** What the API needs for `POST /v1/agent/restart` (structurally `RestartEndpoint` of @tendril/api). */
export interface AgentRestartEndpoint {
  authorize(token: string): boolean;
  request(reason: string): void;
}

function siteKeyBytes(env: NodeJS.ProcessEnv): Buffer | undefined {
  try {
    const direct = env[SITE_KEY_ENV];
    if (direct) return parseSiteKey(direct);
    const file = env[SITE_KEY_FILE_ENV];
    if (file) return parseSiteKey(readFileSync(file, 'utf8'));
  } catch {
    // A bad key already fails config loading with the reason; here it only means "no endpoint".
  }
  return undefined;
}

/**
 * The restart endpoint of a supervised agent: the bearer token must be the site secret key
 * (compared in constant time), and the request goes to the supervisor over IPC. Undefined (no
 * route) when the process is not supervised or no site key is configured, so the API never offers
 * a restart nobody can perform or authenticate.
 */
export function createRestartEndpoint(
  env: NodeJS.ProcessEnv = process.env,
  channel: HeartbeatChannel = process,
): AgentRestartEndpoint | undefined {
  if (env[SUPERVISED_ENV] !== '1' || typeof channel.send !== 'function') return undefined;
  const key = siteKeyBytes(env);
  if (!key) return undefined;
  return {
    authorize(token) {
      let presented: Buffer;
      try {
        presented = parseSiteKey(token);
      } catch {
        return false;
      }
      return presented.length === key.length && timingSafeEqual(presented, key);
    },
    request(reason) {
      requestRestart({ reason, channel });
    },
  };
}
