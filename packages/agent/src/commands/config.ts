import { writeFile } from 'node:fs/promises';
import type { CommandRegistrar } from '../cli-context.js';
import { configSchemaText } from '../config-schema-file.js';

/** `tendril config schema`: the JSON Schema of tendril.yaml, for editors and CI. */
export const registerConfigCommand: CommandRegistrar = (program, ctx) => {
  const config = program.command('config').description('about the config file (tendril.yaml)');
  config
    .command('schema')
    .description(
      'print the JSON Schema of tendril.yaml (with every connector\'s options), for editors: "# yaml-language-server: $schema=<file>"',
    )
    .option('--output <file>', 'write it to this file instead of standard output')
    .action(async (opts: { output?: string }) => {
      const text = await configSchemaText();
      if (opts.output) await writeFile(opts.output, text);
      else ctx.io.stdout.write(text);
    });
};
