import type { ChildProcess } from 'node:child_process';
import { TendrilError } from '@tendril/core';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { CrashLoopDetector, DEFAULT_CRASH_LOOP, type CrashLoopPolicy } from './crash-loop.js';
import { isSupervisorMessage, SUPERVISOR_MESSAGE, type SupervisorMessage } from './messages.js';

/** Timers and time, injectable so tests can drive the supervisor without waiting. */
export interface SupervisorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_CLOCK: SupervisorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The part of a pino logger the supervisor uses (structured fields first, then the message). */
export interface SupervisorLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Why a child ended, as the supervisor saw it. */
export const CHILD_END_REASONS = ['crash', 'hang', 'restart-request', 'stopped', 'exited'] as const;
export type ChildEndReason = (typeof CHILD_END_REASONS)[number];

/** What happened, in order; for status pages, logs and tests. */
export type SupervisorEvent =
  | { readonly type: 'started'; readonly pid: number | undefined; readonly generation: number }
  | {
      readonly type: 'ended';
      readonly pid: number | undefined;
      readonly code: number | null;
      readonly signal: string | null;
      readonly reason: ChildEndReason;
    }
  | { readonly type: 'hang'; readonly pid: number | undefined; readonly silentForMs: number }
  | { readonly type: 'restart-requested'; readonly reason: string }
  | { readonly type: 'restart-scheduled'; readonly delayMs: number; readonly consecutiveFailures: number }
  | { readonly type: 'gave-up'; readonly error: TendrilError };

/** How supervision ended. */
export type SupervisorOutcome =
  /** `stop()` was called (service stop, Ctrl-C): the child was stopped. */
  | { readonly kind: 'stopped' }
  /** The child exited by itself with 0 or a code restarting cannot fix (invalid config: 2). */
  | { readonly kind: 'child-exited'; readonly exitCode: number }
  /** Too many crashes or hangs inside the window: the supervisor stopped restarting. */
  | { readonly kind: 'gave-up'; readonly error: TendrilError };

export interface SuperviseOptions {
  /** Starts one agent child with an IPC channel (`fork`, or `spawn` with `stdio: [..., 'ipc']`). */
  spawnChild: () => ChildProcess;
  /** A child silent for this long (no heartbeat) is hung: it is killed and restarted. */
  heartbeatTimeoutMs: number;
  /** Time allowed before the first heartbeat (config load, store migration). Default: heartbeatTimeoutMs. */
  startupTimeoutMs?: number;
  backoff?: BackoffPolicy;
  crashLoop?: CrashLoopPolicy;
  logger: SupervisorLogger;
  /** Called when a restart is requested (by the child's API or {@link Supervisor.requestRestart}), before it happens. */
  onRestartRequest?: (request: { reason: string }) => void;
  /** Grace after SIGTERM before SIGKILL, for stop and requested restarts. Default 10 s. */
  stopGraceMs?: number;
  /** Child exit codes after which a restart cannot help; default [2] (invalid config, docs/cli.md). */
  fatalExitCodes?: readonly number[];
  clock?: SupervisorClock;
  onEvent?: (event: SupervisorEvent) => void;
  /** The child's `healthy` and `upgrade` messages (the upgrade launcher, supervisor/upgrade-launcher.ts). */
  onChildMessage?: (message: SupervisorMessage) => void;
  /**
   * Asked when a child crashed, hung or exited on its own. `restart-now` starts the next child at
   * once, without backoff and without counting towards the crash-loop limit: an upgraded child that
   * dies before it reported healthy is rolled back, not restarted (supervisor/upgrade-launcher.ts).
   */
  onUnplannedEnd?: (end: {
    readonly reason: ChildEndReason;
    readonly code: number | null;
  }) => 'restart-now' | undefined;
}

export interface Supervisor {
  /** Settles once supervision ends. Never rejects. */
  readonly done: Promise<SupervisorOutcome>;
  /** Unplanned restarts so far (crashes and hangs; requested restarts are not counted). */
  readonly restarts: number;
  /** The running child's pid, if one is running. */
  readonly childPid: number | undefined;
  /** Stops the child gracefully and starts a fresh one at once (no backoff, not a crash). */
  requestRestart(reason?: string): void;
  /** Stops the child (SIGTERM, then SIGKILL after the grace) and ends supervision. */
  stop(): Promise<SupervisorOutcome>;
}

/**
 * Runs the agent as a child process and keeps it running: the monitor/restart pair of a Windows
 * agent install, in one process. A crash (non-zero exit, signal) or a hang (heartbeats stop) is
 * followed by a restart after an exponential backoff; more than `crashLoop.maxRestarts` failures
 * inside `crashLoop.windowMs` end supervision with TENDRIL_E_CRASH_LOOP, so the service manager
 * reports a failed service instead of a process that flaps forever. The child's data is safe
 * across a kill: every page commits in one local transaction (docs/sync-semantics.md, "The commit rule").
 */
export function superviseAgent(options: SuperviseOptions): Supervisor {
  const clock = options.clock ?? REAL_CLOCK;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const crashLoop = options.crashLoop ?? DEFAULT_CRASH_LOOP;
  const detector = new CrashLoopDetector(crashLoop);
  const stopGraceMs = options.stopGraceMs ?? 10_000;
  const fatalExitCodes = options.fatalExitCodes ?? [2];
  const log = options.logger;
  const emit = (event: SupervisorEvent) => options.onEvent?.(event);

  let child: ChildProcess | undefined;
  let childStartedAt = 0;
  let lastBeatAt = 0;
  let generation = 0;
  let restarts = 0;
  let consecutiveFailures = 0;
  let hangTimer: unknown;
  let killTimer: unknown;
  let restartTimer: unknown;
  let pendingEnd: ChildEndReason | undefined;
  let stopping = false;
  let finished = false;
  let settle!: (outcome: SupervisorOutcome) => void;
  const done = new Promise<SupervisorOutcome>((resolve) => (settle = resolve));

  const finish = (outcome: SupervisorOutcome) => {
    if (finished) return;
    finished = true;
    clock.clearTimeout(restartTimer);
    clock.clearTimeout(hangTimer);
    clock.clearTimeout(killTimer);
    settle(outcome);
  };

  const armHangTimer = (ms: number) => {
    clock.clearTimeout(hangTimer);
    hangTimer = clock.setTimeout(onHang, ms);
  };

  function onHang(): void {
    if (!child || pendingEnd) return;
    const silentForMs = clock.now() - lastBeatAt;
    emit({ type: 'hang', pid: child.pid, silentForMs });
    log.warn(
      { childPid: child.pid, silentForMs },
      'agent stopped sending heartbeats (hung); killing it to restart',
    );
    pendingEnd = 'hang';
    // A hung event loop cannot run a SIGTERM handler: kill at once.
    child.kill('SIGKILL');
  }

  const terminate = (reason: ChildEndReason) => {
    if (!child) return;
    pendingEnd = reason;
    clock.clearTimeout(hangTimer);
    const target = child;
    target.kill('SIGTERM');
    clock.clearTimeout(killTimer);
    killTimer = clock.setTimeout(() => {
      if (target.exitCode === null && target.signalCode === null) {
        log.warn(
          { childPid: target.pid, graceMs: stopGraceMs },
          'agent did not stop after SIGTERM; killing it',
        );
        target.kill('SIGKILL');
      }
    }, stopGraceMs);
  };

  const start = () => {
    if (stopping || finished) return;
    generation += 1;
    let spawned: ChildProcess;
    try {
      spawned = options.spawnChild();
    } catch (cause) {
      log.error({ err: (cause as Error)?.message }, 'could not start the agent process');
      onEnd(undefined, null, null);
      return;
    }
    child = spawned;
    childStartedAt = clock.now();
    lastBeatAt = childStartedAt;
    pendingEnd = undefined;
    emit({ type: 'started', pid: spawned.pid, generation });
    log.info({ childPid: spawned.pid, generation }, 'agent started');
    armHangTimer(options.startupTimeoutMs ?? options.heartbeatTimeoutMs);
    spawned.on('message', (message: unknown) => {
      if (spawned !== child || !isSupervisorMessage(message)) return;
      switch (message.type) {
        case SUPERVISOR_MESSAGE.heartbeat:
          lastBeatAt = clock.now();
          if (!pendingEnd) armHangTimer(options.heartbeatTimeoutMs);
          return;
        case SUPERVISOR_MESSAGE.restartRequest:
          api.requestRestart(message.reason ?? 'child');
          return;
        case SUPERVISOR_MESSAGE.healthy:
        case SUPERVISOR_MESSAGE.upgrade:
          options.onChildMessage?.(message);
          return;
        default:
          message.type satisfies never;
      }
    });
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      onEnd(spawned, code, signal);
    };
    spawned.once('exit', end);
    spawned.once('error', (error) => {
      // `error` without `exit` means the process never started (ENOENT, EACCES).
      if (spawned.pid === undefined) {
        log.error({ err: error.message }, 'could not start the agent process');
        end(null, null);
      }
    });
  };

  function onEnd(ended: ChildProcess | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    clock.clearTimeout(hangTimer);
    clock.clearTimeout(killTimer);
    const pid = ended?.pid;
    const planned = pendingEnd;
    child = undefined;
    pendingEnd = undefined;
    const now = clock.now();
    if (stopping) {
      emit({ type: 'ended', pid, code, signal, reason: 'stopped' });
      log.info({ childPid: pid, code, signal }, 'agent stopped');
      finish({ kind: 'stopped' });
      return;
    }
    if (planned === 'restart-request') {
      emit({ type: 'ended', pid, code, signal, reason: 'restart-request' });
      log.info({ childPid: pid, code, signal }, 'agent stopped for the requested restart; starting it again');
      consecutiveFailures = 0;
      start();
      return;
    }
    const reason: ChildEndReason = planned === 'hang' ? 'hang' : 'crash';
    if (options.onUnplannedEnd?.({ reason, code }) === 'restart-now') {
      emit({ type: 'ended', pid, code, signal, reason });
      log.warn(
        { childPid: pid, code, signal },
        'agent ended before it reported healthy; starting the previous version',
      );
      consecutiveFailures = 0;
      start();
      return;
    }
    if (planned !== 'hang' && code !== null && (code === 0 || fatalExitCodes.includes(code))) {
      emit({ type: 'ended', pid, code, signal, reason: 'exited' });
      if (code === 0) log.info({ childPid: pid }, 'agent exited normally; not restarting');
      else
        log.error(
          { childPid: pid, code },
          'agent exited with a code a restart cannot fix (see its error above); not restarting',
        );
      finish({ kind: 'child-exited', exitCode: code });
      return;
    }
    emit({ type: 'ended', pid, code, signal, reason });
    const upMs = now - childStartedAt;
    consecutiveFailures = upMs >= (backoff.resetAfterMs ?? 60_000) ? 1 : consecutiveFailures + 1;
    if (detector.recordFailure(now)) {
      const error = new TendrilError(
        'TENDRIL_E_CRASH_LOOP',
        `the agent failed ${crashLoop.maxRestarts + 1} times within ${Math.round(crashLoop.windowMs / 1000)} s (last: ${reason}${code === null ? '' : `, exit code ${code}`}${signal ? `, signal ${signal}` : ''}); the supervisor stopped restarting it. Read the log lines before this one for the cause, fix it, then start the service again`,
        {
          details: {
            failures: crashLoop.maxRestarts + 1,
            windowMs: crashLoop.windowMs,
            lastReason: reason,
            lastExitCode: code,
            lastSignal: signal,
          },
        },
      );
      emit({ type: 'gave-up', error });
      log.error(
        { code: error.code, failures: crashLoop.maxRestarts + 1, windowMs: crashLoop.windowMs },
        error.message,
      );
      finish({ kind: 'gave-up', error });
      return;
    }
    restarts += 1;
    const delayMs = backoffDelay(backoff, consecutiveFailures);
    emit({ type: 'restart-scheduled', delayMs, consecutiveFailures });
    log.warn(
      { childPid: pid, code, signal, reason, delayMs, restarts },
      `agent ${reason === 'hang' ? 'hung' : 'crashed'}; restarting after ${delayMs} ms`,
    );
    restartTimer = clock.setTimeout(start, delayMs);
  }

  const api: Supervisor = {
    done,
    get restarts() {
      return restarts;
    },
    get childPid() {
      return child?.pid;
    },
    requestRestart(reason = 'api') {
      if (stopping || finished) return;
      emit({ type: 'restart-requested', reason });
      log.info({ reason }, 'restart requested');
      options.onRestartRequest?.({ reason });
      if (child) {
        if (!pendingEnd) terminate('restart-request');
        return;
      }
      // Waiting out a backoff: start now instead.
      clock.clearTimeout(restartTimer);
      consecutiveFailures = 0;
      start();
    },
    stop() {
      if (finished) return done;
      stopping = true;
      clock.clearTimeout(restartTimer);
      if (child) terminate('stopped');
      else finish({ kind: 'stopped' });
      return done;
    },
  };
  start();
  return api;
}
