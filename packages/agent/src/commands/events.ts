import {
  formatEvent,
  OUTPUT_FORMATS,
  TendrilError,
  type OutputFormat,
  type StoredEvent,
} from '@tendril/core';
import type { Cradle } from '../container.js';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';
import { Option } from 'commander';

export interface EventsOptions {
  format: OutputFormat;
  limit: number;
  connection?: string;
}

export function parseFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) {
    throw new TendrilError('TENDRIL_E_USAGE', `--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return value as OutputFormat;
}

/** The newest `limit` outbox events, oldest first, rendered in the requested format. */
export async function readEvents(cradle: Cradle, options: EventsOptions): Promise<unknown[]> {
  const events: StoredEvent[] = await cradle.store.listEvents({
    ...(options.connection ? { connectionId: options.connection } : {}),
    limit: options.limit,
    newestFirst: true,
  });
  const clientIds = new Map(cradle.config.connections.map((c) => [c.id, c.clientId ?? c.id]));
  return events.reverse().map((event) => {
    const clientId = clientIds.get(event.envelope.connectionId) ?? event.envelope.connectionId;
    return formatEvent(event, options.format, { clientId });
  });
}

/** `tendril events`. */
export const registerEventsCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('events')
    .description('read the newest events in the outbox')
    .requiredOption('--config <file>', 'config file (YAML)')
    .addOption(
      new Option('--format <format>', 'output format').choices(['json', 'fhir', 'flat']).default('json'),
    )
    .option('--limit <n>', 'how many events', positiveInt, 20)
    .option('--connection <id>', 'only this connection')
    .option('--json', 'print one JSON array')
    .action(
      async (opts: {
        config: string;
        format: string;
        limit: number;
        connection?: string;
        json?: boolean;
      }) => {
        await ctx.withStore(opts.config, async (cradle) => {
          const events = await readEvents(cradle, {
            format: parseFormat(opts.format),
            limit: opts.limit,
            ...(opts.connection ? { connection: opts.connection } : {}),
          });
          ctx.write(
            opts.json ? JSON.stringify(events) : events.map((e) => JSON.stringify(e, null, 2)).join('\n'),
          );
        });
      },
    );
};
