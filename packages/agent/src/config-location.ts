import { existsSync } from 'node:fs';
import type { Command } from 'commander';

/** The environment variable naming the config file when `--config` is not given. */
export const CONFIG_ENV = 'TENDRIL_CONFIG';
/** The config file looked for in the current folder when neither `--config` nor TENDRIL_CONFIG is given. */
export const DEFAULT_CONFIG_FILE = 'tendril.yaml';

/** Where a command's config comes from: `--config`, then TENDRIL_CONFIG, then `./tendril.yaml`. */
export function resolveConfigFile(given: string | undefined, env: NodeJS.ProcessEnv): string {
  if (given !== undefined && given !== '') return given;
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return DEFAULT_CONFIG_FILE;
}

function commandsOf(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandsOf)];
}

/**
 * Gives every command that has a `--config <file>` option the same lookup (docs/cli.md):
 * `--config`, then TENDRIL_CONFIG, then `./tendril.yaml`. Commands declare the option as they
 * like; this fills it in before the action runs, so no command repeats the rule. A command that
 * needs a config (the option was required, or had a default) gets `./tendril.yaml` as the last
 * resort, which it reports as missing when it is not there; one for which the config is optional
 * (`tendril connectors`) gets it only when the file exists.
 */
export function applyConfigLookup(program: Command, env: NodeJS.ProcessEnv): void {
  const optional = new WeakSet<Command>();
  for (const command of commandsOf(program)) {
    const option = command.options.find((o) => o.long === '--config');
    if (!option) continue;
    if (!option.mandatory && option.defaultValue === undefined) optional.add(command);
    option.makeOptionMandatory(false);
    option.defaultValue = undefined;
    option.description = `${option.description.replace(/\s*\(default[^)]*\)$/, '')} (default: $${CONFIG_ENV}, else ./${DEFAULT_CONFIG_FILE}${optional.has(command) ? ' if there' : ''})`;
  }
  program.hook('preAction', (_program, action) => {
    if (!action.options.some((o) => o.long === '--config')) return;
    const given =
      action.getOptionValueSource('config') === 'cli' ? (action.opts()['config'] as string) : undefined;
    const file = resolveConfigFile(given, env);
    if (optional.has(action) && given === undefined && file === DEFAULT_CONFIG_FILE && !existsSync(file)) {
      action.setOptionValueWithSource('config', undefined, 'default');
      return;
    }
    action.setOptionValueWithSource('config', file, given ? 'cli' : 'env');
  });
}
