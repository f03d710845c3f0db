import { isTendrilError, TendrilError, type ErrorCode } from '@tendril/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createAgentContainer } from './container.js';
import { loadConfigFile } from './config-file.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { createRootLogger } from './logger.js';
import { loadAllConnectors } from './registry.js';
import { renderConnectors, summarizeConnectors } from './commands/connectors.js';
import { renderSeedRows, runDemo } from './commands/demo.js';
import { parseFormat, readEvents } from './commands/events.js';
import { runSeed } from './commands/seed.js';
import { renderSyncReport, runSyncOnce } from './commands/sync.js';
import { createProgress } from './progress.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const INPUT_ERRORS: readonly ErrorCode[] = ['TENDRIL_E_CONFIG_INVALID', 'TENDRIL_E_CONFIG_NOT_FOUND', 'TENDRIL_E_USAGE', 'TENDRIL_E_CONNECTOR_UNKNOWN', 'TENDRIL_E_STREAM_UNKNOWN'];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
}

async function withAgent<T>(configFile: string, io: CliIo, work: (cradle: Awaited<ReturnType<typeof createAgentContainer>>['cradle']) => Promise<T>): Promise<T> {
  const config = await loadConfigFile(configFile, io.env);
  const logger = createRootLogger({ level: config.logLevel });
  const container = await createAgentContainer(config, logger);
  try {
    return await work(container.cradle);
  } finally {
    await container.dispose();
    logger.flush();
  }
}

/** Runs the CLI and returns the exit code (docs/cli.md). Never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok;
  const write = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const program = new Command('tendril')
    .description('Tendril: connect practice systems to the apps that need their data.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();

  program
    .command('connectors')
    .description('list connector plugins and what each is verified against')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const summaries = summarizeConnectors(await loadAllConnectors());
      write(opts.json ? JSON.stringify(summaries) : renderConnectors(summaries));
    });

  program
    .command('seed')
    .description("fill a database with generated data in a connector's schema (creating its tables if missing)")
    .requiredOption('--connector <id>', 'connector id, e.g. open-dental')
    .requiredOption('--url <db-url>', 'database URL, e.g. mysql://root@127.0.0.1:3306/opendental or sqlite:./demo.db')
    .requiredOption('--patients <n>', 'number of patients', positiveInt)
    .option('--seed <s>', 'generator seed (same seed, same rows)', 'tendril')
    .action(async (opts: { connector: string; url: string; patients: number; seed: string }) => {
      const progress = createProgress(io.stderr, 'seeding patients');
      try {
        const { createdTables, summary } = await runSeed({ ...opts, onProgress: progress.update });
        progress.stop();
        if (createdTables.length) write(`created tables: ${createdTables.join(', ')}`);
        write(`seeded ${renderSeedRows(summary)} in ${summary.durationMs} ms (seed "${summary.seed}")`);
      } finally {
        progress.stop();
      }
    });

  program
    .command('sync')
    .description('read changes from the EHR into the outbox')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--once', 'run one backload or incremental poll and exit')
    .option('--connection <id>', 'only this connection')
    .option('--stream <name>', 'only this stream')
    .option('--full', 're-read everything (backload) and confirm deletes')
    .option('--json', 'print one JSON object with the counts')
    .action(async (opts: { config: string; once?: boolean; connection?: string; stream?: string; full?: boolean; json?: boolean }) => {
      if (!opts.once) {
        throw new TendrilError('TENDRIL_E_USAGE', 'sync needs --once (the long-running agent is `tendril run`, not yet available)');
      }
      await withAgent(opts.config, io, async (cradle) => {
        const progress = opts.json ? undefined : createProgress(io.stderr, 'rows read');
        const { report, failed } = await runSyncOnce(cradle, {
          ...(opts.connection ? { connection: opts.connection } : {}),
          ...(opts.stream ? { stream: opts.stream } : {}),
          ...(opts.full ? { full: true } : {}),
          ...(progress ? { onProgress: (_c: string, stream: string, read: number) => progress.tick(stream, read) } : {}),
        });
        progress?.stop();
        write(opts.json ? JSON.stringify(report) : renderSyncReport(report));
        if (failed) exitCode = EXIT.partialFailure;
      });
    });

  program
    .command('events')
    .description('read the newest events in the outbox')
    .requiredOption('--config <file>', 'config file (YAML)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'fhir', 'flat']).default('json'))
    .option('--limit <n>', 'how many events', positiveInt, 20)
    .option('--connection <id>', 'only this connection')
    .option('--json', 'print one JSON array')
    .action(async (opts: { config: string; format: string; limit: number; connection?: string; json?: boolean }) => {
      await withAgent(opts.config, io, async (cradle) => {
        const events = await readEvents(cradle, {
          format: parseFormat(opts.format),
          limit: opts.limit,
          ...(opts.connection ? { connection: opts.connection } : {}),
        });
        write(opts.json ? JSON.stringify(events) : events.map((e) => JSON.stringify(e, null, 2)).join('\n'));
      });
    });

  program
    .command('demo')
    .description('run the whole read flow on an embedded SQLite Open Dental database (no server needed)')
    .option('--patients <n>', 'patients to generate', positiveInt, 2000)
    .option('--dir <dir>', 'where to keep the demo files', '.tendril/demo')
    .action(async (opts: { patients: number; dir: string }) => {
      await runDemo({ patients: opts.patients, dir: opts.dir, out: write });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    }
    if (isTendrilError(error)) {
      io.stderr.write(`tendril: ${error.code}: ${error.message}\n`);
      return INPUT_ERRORS.includes(error.code) ? EXIT.invalidInput : error.retryable ? EXIT.partialFailure : EXIT.failure;
    }
    io.stderr.write(`tendril: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failure;
  }
  return exitCode;
}
