import { TendrilError } from '@tendril/core';
import { SUPERVISOR_MESSAGE, type SupervisorMessage } from './messages.js';

/** Default heartbeat interval: several beats fit in the supervisor's default 30 s timeout. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

/** The IPC side of a child process; injectable so the helper is testable without a fork. */
export interface HeartbeatChannel {
  send?: ((message: SupervisorMessage) => unknown) | undefined;
  connected?: boolean;
}

/**
 * Child side of hang detection: sends a heartbeat on the event loop every `intervalMs`. A blocked
 * event loop (the hang the supervisor must catch) stops the beats, so the supervisor's timer runs
 * out and it restarts the child. The timer is unref'd: it never keeps a finished process alive.
 * When the supervisor goes away (IPC disconnect) the agent stops itself with SIGTERM (its
 * graceful path). Returns a stop function. Without an IPC channel (not supervised) it does nothing.
 */
export function startHeartbeat(
  options: { intervalMs?: number; channel?: HeartbeatChannel; onSupervisorGone?: () => void } = {},
): () => void {
  const channel = options.channel ?? process;
  if (typeof channel.send !== 'function') return () => undefined;
  // The supervisor died (SIGKILL, crash): stop gracefully instead of running on unsupervised, so a
  // restarted supervisor never finds a second agent working on the same store.
  const onGone = options.onSupervisorGone ?? (() => process.kill(process.pid, 'SIGTERM'));
  const watchesProcess = channel === (process as HeartbeatChannel);
  if (watchesProcess) {
    // Gone before this was called (during start-up): nothing would ever emit `disconnect` again.
    if (process.connected === false) {
      setImmediate(onGone);
      return () => undefined;
    }
    process.once('disconnect', onGone);
  }
  const beat = () => {
    if (channel.connected === false) return;
    try {
      channel.send?.({ type: SUPERVISOR_MESSAGE.heartbeat });
    } catch {
      // The supervisor went away; it will not be waiting for beats any more.
    }
  };
  beat();
  const timer = setInterval(beat, options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (watchesProcess) process.off('disconnect', onGone);
  };
}

/**
 * Asks the supervisor to restart this agent (what `POST /v1/agent/restart` calls once the caller
 * is authenticated). The supervisor stops the child gracefully and starts a fresh one; the request
 * does not count towards the crash-loop limit. Throws when the agent is not supervised, because
 * then nothing would start it again.
 */
export function requestRestart(options: { reason?: string; channel?: HeartbeatChannel } = {}): void {
  const channel = options.channel ?? process;
  if (typeof channel.send !== 'function' || channel.connected === false) {
    throw new TendrilError(
      'TENDRIL_E_SUPERVISOR',
      'this agent is not running under the supervisor, so it cannot be restarted remotely; start it with `tendril run` (without --no-supervise) or restart the service',
    );
  }
  channel.send({ type: SUPERVISOR_MESSAGE.restartRequest, reason: options.reason ?? 'api' });
}

/**
 * Tells the supervisor this agent is healthy: its store is open, the API listens and the scheduler
 * started (commands/run.ts calls it once, after `runtime.start()`). After a remote upgrade the
 * supervisor keeps the new version only once this arrives (supervisor/upgrade-launcher.ts). Does
 * nothing when not supervised.
 */
export function reportHealthy(channel: HeartbeatChannel = process): void {
  if (typeof channel.send !== 'function' || channel.connected === false) return;
  try {
    channel.send({ type: SUPERVISOR_MESSAGE.healthy });
  } catch {
    // The supervisor went away; the disconnect handler stops this agent.
  }
}
