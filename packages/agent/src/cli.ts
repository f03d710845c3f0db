import { isTendrilError, type ErrorCode } from '@tendril/core';
import { Command, CommanderError } from 'commander';
import { createCliContext, type CliIo } from './cli-context.js';
import { COMMAND_REGISTRARS } from './commands/index.js';
import { applyConfigLookup } from './config-location.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { agentVersion } from './version.js';

export type { CliIo } from './cli-context.js';

const INPUT_ERRORS: readonly ErrorCode[] = [
  'TENDRIL_E_CONFIG_INVALID',
  'TENDRIL_E_CONFIG_NOT_FOUND',
  'TENDRIL_E_USAGE',
  'TENDRIL_E_CONNECTOR_UNKNOWN',
  'TENDRIL_E_STREAM_UNKNOWN',
  'TENDRIL_E_HUB_REFUSED',
  // The store refuses to open until the operator acts (the site key, a chmod): a restart cannot fix it.
  'TENDRIL_E_STORE_KEY',
  'TENDRIL_E_STORE_PERMISSIONS',
];

/** Runs the CLI and returns the exit code (docs/cli.md). Never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok;
  const ctx = createCliContext(io, (code) => {
    exitCode = code;
  });
  const program = new Command('tendril')
    .description('Tendril: connect practice systems to the apps that need their data.')
    .exitOverride()
    // Lets a command with subcommands have options of its own (tendril hub --config …, tendril hub site create --config …).
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .version(agentVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError();
  for (const register of COMMAND_REGISTRARS) register(program, ctx);
  applyConfigLookup(program, io.env);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    }
    if (isTendrilError(error) && error.code === 'TENDRIL_E_INTERRUPTED') {
      io.stderr.write(`\ntendril: ${error.message}\n`);
      return EXIT.interrupted;
    }
    if (isTendrilError(error)) {
      io.stderr.write(`tendril: ${error.code}: ${error.message}\n`);
      return INPUT_ERRORS.includes(error.code)
        ? EXIT.invalidInput
        : error.retryable
          ? EXIT.partialFailure
          : EXIT.failure;
    }
    io.stderr.write(`tendril: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failure;
  }
  return exitCode;
}
