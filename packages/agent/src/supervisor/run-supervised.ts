import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRootLogger } from '../logger.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { DEFAULT_CRASH_LOOP, type CrashLoopPolicy } from './crash-loop.js';
import { agentVersion } from '../version.js';
import { upgradesDir } from '../upgrade/upgrade-state.js';
import { SUPERVISED_ENV, UPGRADES_DIR_ENV } from './messages.js';
import type { SupervisorOutcome } from './supervise.js';
import { superviseVersions } from './supervise-versions.js';

/** Defaults for `tendril run`: a hang is 60 s without a heartbeat (beats every 5 s). */
export const RUN_SUPERVISION = {
  heartbeatTimeoutMs: 60_000,
  startupTimeoutMs: 120_000,
  backoff: DEFAULT_BACKOFF,
  crashLoop: DEFAULT_CRASH_LOOP,
} as const;

export interface RunSupervisedOptions {
  /** Arguments after `tendril run` for the child, without `--child` (added here). */
  readonly childArgs: readonly string[];
  /** The config file; the upgrades folder is beside it (upgrade/upgrade-state.ts). */
  readonly configFile: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stderr: NodeJS.WritableStream;
  readonly heartbeatTimeoutMs?: number;
  readonly startupTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly crashLoop?: CrashLoopPolicy;
  /** Settles when the supervisor itself should stop (SIGTERM/SIGINT to `tendril run`). */
  readonly stopRequested: Promise<string>;
}

/** The CLI entry the child runs (`dist/bin.js` beside this module's folder). */
export function cliEntryPath(): string {
  return fileURLToPath(new URL('../bin.js', import.meta.url));
}

/** The exit code of `tendril run` for how supervision ended (docs/cli.md). */
export function exitCodeOfOutcome(outcome: SupervisorOutcome): ExitCode {
  switch (outcome.kind) {
    case 'stopped':
      return EXIT.ok;
    case 'child-exited':
      return outcome.exitCode === EXIT.invalidInput
        ? EXIT.invalidInput
        : outcome.exitCode === 0
          ? EXIT.ok
          : EXIT.failure;
    case 'gave-up':
      return EXIT.crashLoop;
    default:
      throw new Error(`unreachable outcome ${(outcome satisfies never as { kind: string }).kind}`);
  }
}

/**
 * `tendril run` in supervised mode: forks `tendril run --child …` (the agent itself) with an IPC
 * channel and keeps it alive (crash → backoff → restart; hang → kill → restart; crash loop → exit 4).
 * The child's output goes straight to this process's stdout/stderr (the journal / service log).
 */
export async function runSupervised(options: RunSupervisedOptions): Promise<ExitCode> {
  const logger = createRootLogger({ level: 'info' }).child({ component: 'supervisor' });
  const dir = upgradesDir(options.configFile, options.env);
  // The supervisor stays this installed version; its child runs the version launch.json names.
  const { supervisor } = superviseVersions({
    dir,
    installed: { version: agentVersion(), entry: cliEntryPath() },
    forkEntry: (entry) =>
      fork(entry, ['run', '--child', ...options.childArgs], {
        env: { ...options.env, [SUPERVISED_ENV]: '1', [UPGRADES_DIR_ENV]: dir },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? RUN_SUPERVISION.heartbeatTimeoutMs,
    startupTimeoutMs: options.startupTimeoutMs ?? RUN_SUPERVISION.startupTimeoutMs,
    backoff: options.backoff ?? RUN_SUPERVISION.backoff,
    crashLoop: options.crashLoop ?? RUN_SUPERVISION.crashLoop,
    logger,
  });
  void options.stopRequested.then(() => supervisor.stop());
  const outcome = await supervisor.done;
  if (outcome.kind === 'gave-up')
    options.stderr.write(`tendril: ${outcome.error.code}: ${outcome.error.message}\n`);
  logger.flush();
  return exitCodeOfOutcome(outcome);
}
