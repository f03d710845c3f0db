import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, REPO_ROOT } from '../support/paths.js';

/**
 * Support for the chaos suite (docs/testing.md, "Chaos suite"): agent processes killed with
 * SIGKILL at random points, and a webhook receiver that misbehaves on purpose.
 */

/** A seeded random source, so a failing chaos run can be repeated with the same `CHAOS_SEED`. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

export interface AgentRun {
  /** The exit code; -9 when this run was killed while still running. */
  readonly code: number | null;
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** When to kill a run: once `started()` says it is working, after `afterMs` more. */
export interface KillPlan {
  /** True once the process does real work (a page committed, a request received). */
  readonly started: () => boolean;
  readonly afterMs: number;
}

/**
 * Runs the built CLI (`tendril <args>`) and, with a kill plan, sends it SIGKILL once it is
 * working plus a random delay, if it is still running. `killed` is true only when the signal hit
 * a live process.
 */
export function runAgent(args: readonly string[], kill?: KillPlan): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let timer: NodeJS.Timeout | undefined;
    const alive = () => child.exitCode === null && child.signalCode === null;
    const watch = () => {
      if (!kill || !alive()) return;
      if (!kill.started()) {
        timer = setTimeout(watch, 25);
        return;
      }
      timer = setTimeout(() => {
        if (alive()) killed = child.kill('SIGKILL');
      }, kill.afterMs);
    };
    watch();
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: signal === 'SIGKILL' ? -9 : code,
        killed: killed && signal === 'SIGKILL',
        stdout,
        stderr,
      });
    });
  });
}

/** A `started` probe: true once any of these files changed (a store committed something). */
export function filesChanged(files: readonly string[]): () => boolean {
  const stamp = () =>
    files.map((f) => (existsSync(f) ? `${statSync(f).mtimeMs}:${statSync(f).size}` : '-')).join('|');
  const before = stamp();
  return () => stamp() !== before;
}

/** A request the chaos receiver answered with a 2xx: the signed webhook as it arrived. */
export interface Received {
  readonly webhookId: string;
  readonly body: { id: string; resourceId: string; sequence: number; data: Record<string, unknown> };
}

export const RECEIVER_FAULTS = ['500', 'hang', 'reset', '410'] as const;
export type ReceiverFault = (typeof RECEIVER_FAULTS)[number];

export interface ChaosReceiver {
  readonly url: string;
  /** Every request answered 2xx, in the order answered. */
  readonly accepted: Received[];
  /** Requests received so far, answered or not. */
  readonly requests: () => number;
  /** How often each fault was served. */
  readonly faults: Record<ReceiverFault, number>;
  /** Stops serving faults (the receiver is "fixed"). */
  heal(): void;
  close(): Promise<void>;
}

/**
 * A webhook receiver on loopback that, by the order of requests, answers 500, never answers (the
 * agent's timeout ends the attempt), resets the connection, or answers 410 Gone once (which
 * disables the subscription until `tendril deliveries resume`); every other request gets 200.
 */
export async function startChaosReceiver(gone = 30): Promise<ChaosReceiver> {
  const accepted: Received[] = [];
  const faults: Record<ReceiverFault, number> = { '500': 0, hang: 0, reset: 0, '410': 0 };
  let index = 0;
  let healed = false;
  const faultOf = (i: number): ReceiverFault | undefined => {
    if (healed) return undefined;
    if (i === gone) return '410';
    if (i % 9 === 4) return '500';
    if (i % 13 === 6) return 'hang';
    if (i % 11 === 8) return 'reset';
    return undefined;
  };
  const server: Server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const fault = faultOf(index++);
      if (fault) faults[fault] += 1;
      switch (fault) {
        case undefined: {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'];
          accepted.push({ webhookId: String(request.headers['webhook-id']), body });
          response.writeHead(200).end();
          return;
        }
        case '500':
          response.writeHead(500).end();
          return;
        case 'hang':
          return; // never answered: the attempt times out
        case 'reset':
          request.socket.destroy();
          return;
        case '410':
          response.writeHead(410).end();
          return;
        default:
          fault satisfies never;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    accepted,
    faults,
    requests: () => index,
    heal: () => (healed = true),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits `ms` (stamps have 1 s precision; a poll's upper bound excludes the current second). */
export const settle = (ms = 1100) => sleep(ms);
