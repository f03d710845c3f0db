import { TendrilError } from '@tendril/core';
import type { Cradle } from '../container.js';
import { secretsFileFor } from '../secrets/secrets-file.js';
import { startHeartbeat } from '../supervisor/heartbeat.js';
import { createFleetRuntime } from './fleet-runtime.js';

/**
 * `tendril run --worker`: runs one fleet worker until a stop is requested (SIGTERM / SIGINT),
 * with the supervisor's heartbeat when supervised. At stop, running jobs get `graceMs` to finish;
 * the rest go back to the queue for another worker (their committed pages are kept).
 */
export async function runFleetWorker(
  cradle: Cradle,
  options: {
    configFile: string;
    graceMs: number;
    stopRequested: Promise<string>;
    onStarted?: (workerId: string) => void;
  },
): Promise<void> {
  if (!cradle.config.fleet) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `${options.configFile}: --worker needs a fleet config; add fleet: true and store: { postgres: <url> } (docs/fleet.md)`,
    );
  }
  const runtime = createFleetRuntime(cradle, { secretsFile: secretsFileFor(options.configFile) });
  try {
    await runtime.start();
  } catch (error) {
    await runtime.stop({ graceMs: 0 }).catch(() => undefined);
    throw error;
  }
  options.onStarted?.(runtime.workerId);
  const stopHeartbeat = startHeartbeat();
  try {
    const signal = await options.stopRequested;
    cradle.logger.info({ event: 'agent.stop_requested', signal }, 'stop requested');
    await runtime.stop({ graceMs: options.graceMs });
  } finally {
    stopHeartbeat();
  }
}
