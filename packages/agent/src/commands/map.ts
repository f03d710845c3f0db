import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { configError, TendrilError } from '@tendril/core';
import { parse as parseYaml } from 'yaml';
import type { CommandRegistrar } from '../cli-context.js';
import { EXIT } from '../exit-codes.js';
import { answersChooser, parseMapAnswers, terminalChooser, type MapAnswers } from '../map/choosers.js';
import { renderMapResult, runMap } from '../map/run-map.js';

interface MapFlags {
  config: string;
  connection: string;
  stream?: string;
  answers?: string;
  accept?: boolean;
  sample?: string;
  maxFailureRate?: string;
  json?: boolean;
}

function readAnswers(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TendrilError('TENDRIL_E_CONFIG_NOT_FOUND', `cannot read answers file ${file}; check the path`, {
      cause,
    });
  }
  try {
    return parseYaml(text);
  } catch (cause) {
    throw configError(file, [
      { path: '(file)', message: `is not valid YAML or JSON: ${(cause as Error).message.split('\n')[0]}` },
    ]);
  }
}

/** `tendril map`. */
export const registerMapCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('map')
    .description(
      "map a connection's streams onto the live schema at install time: ranked table and column proposals, a PHI-masked preview of real rows, then a tableMap override in the config",
    )
    .requiredOption('--config <file>', 'config file (YAML); the tableMap is written into it')
    .requiredOption('--connection <id>', 'the connection to map')
    .option('--stream <name>', 'map this stream only')
    .option('--answers <file>', 'take the choices from a file (YAML/JSON) instead of asking')
    .option('--accept', 'take every proposal without asking (when not on a terminal)')
    .option('--sample <rows>', 'rows sampled and mapped for the preview', '200')
    .option(
      '--max-failure-rate <share>',
      'do not write a stream whose preview fails more than this share of rows',
      '0.05',
    )
    .option('--json', 'print the result as JSON')
    .action(async (flags: MapFlags) => {
      const sampleRows = Number(flags.sample);
      const maxFailureRate = Number(flags.maxFailureRate);
      if (!Number.isInteger(sampleRows) || sampleRows < 1)
        throw new TendrilError('TENDRIL_E_USAGE', '--sample must be a whole number ≥ 1');
      if (!(maxFailureRate >= 0 && maxFailureRate <= 1))
        throw new TendrilError('TENDRIL_E_USAGE', '--max-failure-rate must be a share from 0 to 1');
      const stdin = ctx.io.stdin;
      const interactive =
        !flags.answers && !flags.accept && stdin?.isTTY === true && ctx.io.stdout.isTTY === true;
      if (!flags.answers && !flags.accept && !interactive) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          'not on a terminal: pass --answers <file> with the choices, or --accept to take every proposal',
        );
      }
      await ctx.withAgent(flags.config, async (cradle) => {
        const connection = cradle.config.connections.find((c) => c.id === flags.connection);
        const connector = connection ? cradle.connectors.get(connection.connector) : undefined;
        let answers: MapAnswers = {};
        if (flags.answers && connector)
          answers = parseMapAnswers(flags.answers, readAnswers(flags.answers), connector.streams);
        const rl = interactive ? createInterface({ input: stdin, output: ctx.io.stdout }) : undefined;
        try {
          const result = await runMap(cradle, {
            configFile: flags.config,
            connection: flags.connection,
            ...(flags.stream ? { stream: flags.stream } : {}),
            chooser: rl ? terminalChooser(rl, ctx.write) : answersChooser(answers),
            sampleRows,
            maxFailureRate,
            ...(rl ? { say: ctx.write } : {}),
          });
          ctx.write(flags.json ? JSON.stringify(result) : renderMapResult(result));
          if (result.streams.some((s) => !s.written && s.reason !== 'not confirmed'))
            ctx.setExitCode(EXIT.partialFailure);
        } finally {
          rl?.close();
        }
      });
    });
};
