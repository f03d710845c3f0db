import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createAgentContainer, type Cradle } from './container.js';
import { loadConfigFile, type SecretScope } from './config-file.js';
import { loadSiteKey } from './secrets/site-key.js';
import type { ExitCode } from './exit-codes.js';
import { createConfiguredLogger } from './logger.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Terminal input for interactive commands (`tendril map`); absent when there is none. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** What every command gets: its streams, a way to set the exit code, and the agent's services. */
export interface CliContext {
  readonly io: CliIo;
  /** Writes a line (or block) to standard output; a property, so that it can be handed on as a callback. */
  readonly write: (text: string) => void;
  setExitCode(code: ExitCode): void;
  /** {@link CliContext.withAgent} for commands that only read the local store (scope `store`). */
  withStore<T>(configFile: string, work: (cradle: Cradle) => Promise<T>): Promise<T>;
  /**
   * Loads and validates the config, builds the composition root, runs `work`, and disposes it.
   * `scope: 'store'` for commands that only read the local store: EHR credentials are not resolved
   * (no EHR password needed) and the EHR databases cannot be opened.
   */
  withAgent<T>(
    configFile: string,
    work: (cradle: Cradle) => Promise<T>,
    options?: { scope?: SecretScope },
  ): Promise<T>;
}

/** One command's registration: adds itself (options, action) to the program. */
export type CommandRegistrar = (program: Command, ctx: CliContext) => void;

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
}

export function createCliContext(io: CliIo, onExitCode: (code: ExitCode) => void): CliContext {
  const context: CliContext = {
    io,
    write: (text) => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    setExitCode: onExitCode,
    async withAgent(configFile, work, options = {}) {
      const scope = options.scope ?? 'all';
      const config = await loadConfigFile(configFile, io.env, { scope });
      const logger = await createConfiguredLogger(config);
      const siteKey = (await loadSiteKey(io.env))?.key;
      const container = await createAgentContainer(config, logger, {
        ehr: scope === 'all',
        ...(siteKey === undefined ? {} : { siteKey }),
      });
      try {
        return await work(container.cradle);
      } finally {
        await container.dispose();
        logger.flush();
      }
    },
    withStore: (configFile, work) => context.withAgent(configFile, work, { scope: 'store' }),
  };
  return context;
}
