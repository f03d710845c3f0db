import { TendrilError } from '@tendril/core';
import type { QuarantineRecord } from '@tendril/store';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';

/** One row of `tendril quarantine list`: key, field and reason, never a value (docs/quarantine.md). */
function line(r: QuarantineRecord): string {
  return [
    r.connectionId,
    r.stream,
    r.sourceId,
    r.errorCode,
    r.field ?? '(row)',
    r.reason,
    `×${r.count}`,
    `last ${r.lastSeenAt}`,
  ].join('  ');
}

function details(r: QuarantineRecord): string {
  return [
    `connection     ${r.connectionId}`,
    `stream         ${r.stream}`,
    `resource type  ${r.resourceType}`,
    `source key     ${r.sourceId}`,
    `error          ${r.errorCode}`,
    `field          ${r.field ?? '(the row as a whole)'}`,
    `reason         ${r.reason}`,
    `first seen     ${r.firstSeenAt}`,
    `last seen      ${r.lastSeenAt}`,
    `times seen     ${r.count}`,
    'The row is retried when it changes in the EHR and leaves quarantine once it maps (docs/quarantine.md).',
  ].join('\n');
}

/** `tendril quarantine list|show`: the rows skipped because they failed mapping or validation. */
export const registerQuarantineCommand: CommandRegistrar = (program, ctx) => {
  const quarantine = program
    .command('quarantine')
    .description('rows skipped because they failed mapping or validation (key, field, reason)');

  quarantine
    .command('list')
    .description('rows in quarantine, by connection, stream and source key')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--connection <id>', 'only this connection')
    .option('--stream <name>', 'only this stream')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--json', 'print one JSON array')
    .action(
      async (opts: {
        config: string;
        connection?: string;
        stream?: string;
        limit: number;
        json?: boolean;
      }) => {
        await ctx.withStore(opts.config, async (cradle) => {
          const rows = await cradle.store.listQuarantine({
            ...(opts.connection ? { connectionId: opts.connection } : {}),
            ...(opts.stream ? { stream: opts.stream } : {}),
            limit: opts.limit,
          });
          if (opts.json) ctx.write(JSON.stringify(rows));
          else
            ctx.write(
              rows.length === 0
                ? 'no rows in quarantine'
                : ['connection  stream  key  error  field  reason  count  last seen', ...rows.map(line)].join(
                    '\n',
                  ),
            );
        });
      },
    );

  quarantine
    .command('show <key>')
    .description('one quarantined row by its source key: field, reason, first and last seen, count')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--connection <id>', 'the connection, when several have this key')
    .option('--json', 'print a JSON array of the matching rows')
    .action(async (key: string, opts: { config: string; connection?: string; json?: boolean }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const rows = await cradle.store.listQuarantine({
          ...(opts.connection ? { connectionId: opts.connection } : {}),
          sourceId: key,
          limit: 100,
        });
        if (rows.length === 0)
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `No row with the source key ${key} is in quarantine${opts.connection ? ` for connection ${opts.connection}` : ''}; see tendril quarantine list.`,
          );
        ctx.write(opts.json ? JSON.stringify(rows) : rows.map(details).join('\n\n'));
      });
    });
};
