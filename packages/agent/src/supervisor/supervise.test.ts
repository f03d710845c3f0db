import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { CrashLoopDetector } from './crash-loop.js';
import { requestRestart, startHeartbeat } from './heartbeat.js';
import { SUPERVISOR_MESSAGE } from './messages.js';
import { superviseAgent, type Supervisor, type SupervisorEvent } from './supervise.js';

/**
 * A real child process speaking the supervisor protocol. MODE: `beat` (heartbeats forever),
 * `hang-after-beats` (two beats, then a blocked event loop), `crash` (exit 1 at once), `exit-2`
 * (invalid config), `restart-once` (asks for a restart in its first life, then beats).
 */
const CHILD = `
const mode = process.env.MODE;
const beat = () => process.send({ type: '${SUPERVISOR_MESSAGE.heartbeat}' });
const { existsSync, writeFileSync } = await import('node:fs');
if (mode === 'crash') process.exit(1);
if (mode === 'exit-2') process.exit(2);
beat();
const timer = setInterval(beat, 40);
if (mode === 'hang-after-beats') {
  setTimeout(() => { clearInterval(timer); for (;;) {} }, 100);
}
if (mode === 'restart-once' && !existsSync(process.env.MARKER)) {
  writeFileSync(process.env.MARKER, 'asked');
  setTimeout(() => process.send({ type: '${SUPERVISOR_MESSAGE.restartRequest}', reason: 'test' }), 50);
}
process.on('SIGTERM', () => { clearInterval(timer); process.exit(0); });
`;

const dir = mkdtempSync(join(tmpdir(), 'tendril-supervisor-'));
const childFile = join(dir, 'child.mjs');
writeFileSync(childFile, CHILD);

const quietLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function start(
  mode: string,
  overrides: Partial<Parameters<typeof superviseAgent>[0]> = {},
): {
  supervisor: Supervisor;
  events: SupervisorEvent[];
  waitFor: (predicate: (events: SupervisorEvent[]) => boolean) => Promise<void>;
} {
  const events: SupervisorEvent[] = [];
  const waiters: { predicate: (e: SupervisorEvent[]) => boolean; resolve: () => void }[] = [];
  const supervisor = superviseAgent({
    spawnChild: () =>
      fork(childFile, [], {
        env: { ...process.env, MODE: mode, MARKER: join(dir, `marker-${Math.random()}`) },
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      }),
    heartbeatTimeoutMs: 2_000,
    backoff: { initialMs: 20, maxMs: 1_000, factor: 2 },
    crashLoop: { maxRestarts: 5, windowMs: 60_000 },
    stopGraceMs: 2_000,
    logger: quietLogger,
    ...overrides,
    onEvent: (event) => {
      events.push(event);
      for (const w of [...waiters])
        if (w.predicate(events)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    },
  });
  running.push(supervisor);
  const waitFor = (predicate: (e: SupervisorEvent[]) => boolean) =>
    predicate(events)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ predicate, resolve }));
  return { supervisor, events, waitFor };
}

const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

const started = (events: SupervisorEvent[]) => events.filter((e) => e.type === 'started');
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('superviseAgent with real child processes', () => {
  it('restarts a child killed with SIGKILL, and stops the new one on stop()', async () => {
    const { supervisor, events, waitFor } = start('beat');
    await waitFor((e) => started(e).length === 1);
    const first = supervisor.childPid!;
    process.kill(first, 'SIGKILL');
    await waitFor((e) => started(e).length === 2);
    const second = supervisor.childPid!;
    expect(second).not.toBe(first);
    expect(supervisor.restarts).toBe(1);
    expect(events.find((e) => e.type === 'ended')).toMatchObject({
      pid: first,
      signal: 'SIGKILL',
      reason: 'crash',
    });
    expect(events.find((e) => e.type === 'restart-scheduled')).toMatchObject({
      delayMs: 20,
      consecutiveFailures: 1,
    });
    expect(await supervisor.stop()).toEqual({ kind: 'stopped' });
    expect(isAlive(second)).toBe(false);
  });

  it('kills a child whose heartbeats stop (hung event loop) and starts a new one', async () => {
    const { supervisor, events, waitFor } = start('hang-after-beats', { heartbeatTimeoutMs: 400 });
    await waitFor((e) => started(e).length === 2);
    const hang = events.find((e) => e.type === 'hang');
    expect(hang).toBeDefined();
    expect(events.find((e) => e.type === 'ended')).toMatchObject({ reason: 'hang', signal: 'SIGKILL' });
    expect(isAlive((hang as { pid: number }).pid)).toBe(false);
    expect(supervisor.restarts).toBe(1);
  });

  it('gives up after the crash-loop limit with TENDRIL_E_CRASH_LOOP, backing off exponentially', async () => {
    const { supervisor, events } = start('crash', { crashLoop: { maxRestarts: 3, windowMs: 60_000 } });
    const outcome = await supervisor.done;
    expect(outcome.kind).toBe('gave-up');
    if (outcome.kind !== 'gave-up') return;
    expect(outcome.error.code).toBe('TENDRIL_E_CRASH_LOOP');
    expect(outcome.error.message).toMatch(/failed 4 times within 60 s .*exit code 1.*stopped restarting/);
    expect(started(events)).toHaveLength(4);
    expect(supervisor.restarts).toBe(3);
    expect(
      events.filter((e) => e.type === 'restart-scheduled').map((e) => (e as { delayMs: number }).delayMs),
    ).toEqual([20, 40, 80]);
  });

  it('does not restart a child that exited with 2 (invalid config): a restart cannot fix it', async () => {
    const { supervisor, events } = start('exit-2');
    expect(await supervisor.done).toEqual({ kind: 'child-exited', exitCode: 2 });
    expect(started(events)).toHaveLength(1);
  });

  it('restarts on request from the child without counting it as a crash', async () => {
    const requests: string[] = [];
    const { supervisor, events, waitFor } = start('restart-once', {
      onRestartRequest: ({ reason }) => requests.push(reason),
    });
    await waitFor((e) => started(e).length === 2);
    expect(requests).toEqual(['test']);
    expect(events.find((e) => e.type === 'ended')).toMatchObject({ reason: 'restart-request', code: 0 });
    expect(supervisor.restarts).toBe(0);
    expect(events.some((e) => e.type === 'restart-scheduled')).toBe(false);
  });

  it('restarts on supervisor.requestRestart()', async () => {
    const { supervisor, waitFor } = start('beat');
    await waitFor((e) => started(e).length === 1);
    const first = supervisor.childPid!;
    supervisor.requestRestart('cli');
    await waitFor((e) => started(e).length === 2);
    expect(supervisor.childPid).not.toBe(first);
    expect(isAlive(first)).toBe(false);
    expect(supervisor.restarts).toBe(0);
  });
});

describe('backoff and crash-loop window', () => {
  it('doubles from the initial delay up to the cap', () => {
    const policy = { initialMs: 1_000, maxMs: 60_000 };
    expect([1, 2, 3, 4, 7, 8].map((n) => backoffDelay(policy, n))).toEqual([
      1_000, 2_000, 4_000, 8_000, 60_000, 60_000,
    ]);
  });

  it('counts failures in a sliding window', () => {
    const detector = new CrashLoopDetector({ maxRestarts: 2, windowMs: 1_000 });
    expect(detector.recordFailure(0)).toBe(false);
    expect(detector.recordFailure(500)).toBe(false);
    expect(detector.recordFailure(1_200)).toBe(false); // the failure at 0 left the window
    expect(detector.recordFailure(1_300)).toBe(true);
  });
});

describe('child-side helpers', () => {
  it('startHeartbeat sends beats through the channel until stopped; nothing without a channel', () => {
    const sent: unknown[] = [];
    const stop = startHeartbeat({
      intervalMs: 10_000,
      channel: { send: (m) => sent.push(m), connected: true },
    });
    stop();
    expect(sent).toEqual([{ type: SUPERVISOR_MESSAGE.heartbeat }]);
    expect(() => startHeartbeat({ channel: {} })()).not.toThrow();
  });

  it('requestRestart refuses when the agent is not supervised', () => {
    expect(() => requestRestart({ channel: {} })).toThrowError(/not running under the supervisor/);
    const sent: unknown[] = [];
    requestRestart({ reason: 'api', channel: { send: (m) => sent.push(m), connected: true } });
    expect(sent).toEqual([{ type: SUPERVISOR_MESSAGE.restartRequest, reason: 'api' }]);
  });
});
