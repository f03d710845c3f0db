import { TendrilError } from '@tendril/core';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';
import type { Cradle } from '../container.js';
import { reportHealthy, startHeartbeat } from '../supervisor/heartbeat.js';
import { runSupervised } from '../supervisor/run-supervised.js';
import { runFleetWorker } from '../fleet/run-fleet-worker.js';
import { Option } from 'commander';
import { startAgentHubLink } from '../hub/start-link.js';

export interface RunAgentOptions {
  /** How long running jobs may take to finish their current page at shutdown. */
  readonly graceMs: number;
  /** Settles with the signal name when the agent should stop (SIGTERM, SIGINT). */
  readonly stopRequested: Promise<string>;
  /** Called once the API listens, with its base URL. */
  readonly onListening?: (url: string) => void;
  /** The config file (its secrets.enc keeps a rotated hub credential). */
  readonly configFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Resolves with the first of SIGTERM / SIGINT, and removes both handlers then. */
export function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}

/**
 * Runs the long-running agent until a stop is requested: the local API, then the scheduler
 * (catch-up polls, ticks, nightly jobs), and a heartbeat to the supervisor when one started this
 * process (an IPC channel exists); without one it simply runs. Stops gracefully: running jobs
 * finish the page they are on, or the page is dropped whole and redone at the next start.
 */
export async function runAgent(cradle: Cradle, options: RunAgentOptions): Promise<{ abandoned: number }> {
  const runtime = cradle.agentRuntime;
  let url: string;
  try {
    ({ url } = await runtime.start());
  } catch (error) {
    await runtime.stop({ graceMs: 0 }).catch(() => undefined);
    const code = (error as { code?: unknown })?.code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `api: cannot listen on ${cradle.config.api.host}:${cradle.config.api.port} (${String(code)}); set api.port to a free port (or api.host to an address of this machine)`,
        { cause: error },
      );
    }
    throw error;
  }
  options.onListening?.(url);
  const stopHeartbeat = startHeartbeat();
  // Store open, API listening, scheduler started: what an upgraded child must reach in time.
  reportHealthy();
  // The hub link (docs/hub.md), when configured: it never holds the agent up; polls go on without it.
  const link = startAgentHubLink(cradle, runtime, options);
  try {
    const signal = await options.stopRequested;
    cradle.logger.info({ event: 'agent.stop_requested', signal }, 'stop requested');
    await link?.stop();
    return await runtime.stop({ graceMs: options.graceMs });
  } finally {
    stopHeartbeat();
    await link?.stop();
  }
}

/** `tendril run`: the long-running agent (docs/running.md). */
export const registerRunCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('run')
    .description(
      'run the agent: scheduled polls and nightly jobs, with the status page, /healthz and /metrics',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option(
      '--grace <seconds>',
      'at shutdown, how long running jobs may take to finish their current page',
      positiveInt,
      30,
    )
    .option(
      '--no-supervise',
      'run the agent in this process, without the supervisor (when something else restarts it)',
    )
    .option(
      '--worker',
      'run as one worker of a fleet: connections from the PostgreSQL store, jobs through pg-boss (docs/fleet.md)',
    )
    .addOption(new Option('--child', 'internal: the agent process a supervisor started').hideHelp())
    .action(
      async (opts: {
        config: string;
        grace: number;
        supervise: boolean;
        child?: boolean;
        worker?: boolean;
      }) => {
        const stopRequested = waitForStopSignal();
        // Supervised by default (supervisor/run-supervised.ts): this process restarts `run --child` on crash or hang.
        if (opts.supervise && !opts.child) {
          ctx.setExitCode(
            await runSupervised({
              childArgs: [
                '--config',
                opts.config,
                '--grace',
                String(opts.grace),
                ...(opts.worker ? ['--worker'] : []),
              ],
              configFile: opts.config,
              env: ctx.io.env,
              stderr: ctx.io.stderr,
              stopRequested,
            }),
          );
          return;
        }
        await ctx.withAgent(opts.config, async (cradle) => {
          if (opts.worker) {
            await runFleetWorker(cradle, {
              configFile: opts.config,
              graceMs: opts.grace * 1000,
              stopRequested,
              onStarted: (workerId) => ctx.write(`tendril: fleet worker ${workerId} running`),
            });
            return;
          }
          if (cradle.config.fleet) {
            throw new TendrilError(
              'TENDRIL_E_CONFIG_INVALID',
              `${opts.config} is a fleet worker's config (fleet:); run tendril run --worker --config ${opts.config}`,
            );
          }
          await runAgent(cradle, {
            graceMs: opts.grace * 1000,
            stopRequested,
            configFile: opts.config,
            env: ctx.io.env,
            onListening: (url) => ctx.write(`tendril: agent running; status page ${url}/`),
          });
        });
      },
    );
};
