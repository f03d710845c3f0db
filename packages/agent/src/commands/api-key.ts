import { generateApiKey } from '@tendril/api';
import { TendrilError } from '@tendril/core';
import { Command } from 'commander';
import type { CommandRegistrar } from '../cli-context.js';

interface CreateOptions {
  config: string;
  connection: string[];
  name?: string;
  subscription: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * `tendril api-key create|list|revoke`: client keys of the writeback API (docs/writeback.md). A
 * new key is printed once; the store keeps only its id and the SHA-256 of its secret. A key is
 * scoped to connections, and its writeback result events go to the subscriptions bound with
 * `--subscription` (none: the client polls `GET /v1/writebacks/:id`).
 */
export const registerApiKeyCommand: CommandRegistrar = (program, ctx) => {
  const command = new Command('api-key').description('manage the API keys of writeback clients');

  command
    .command('create')
    .description('create a key for a client; prints it once')
    .requiredOption('--config <file>', 'path to tendril.yaml')
    .requiredOption(
      '--connection <id>',
      'a connection the key may write to (repeat for several)',
      collect,
      [],
    )
    .option('--name <name>', 'who the key is for (shown by list)', 'client')
    .option(
      '--subscription <id>',
      'a subscription that receives this client’s writeback result events (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print { id, key } as JSON')
    .action(async (opts: CreateOptions) => {
      await ctx.withStore(opts.config, async ({ config, store }) => {
        const known = new Set(config.connections.map((c) => c.id));
        const unknown = opts.connection.filter((id) => !known.has(id));
        if (unknown.length > 0) {
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `--connection ${unknown.join(', ')}: not in ${opts.config}; known: ${[...known].join(', ')}`,
          );
        }
        const subscriptions = new Set(config.subscriptions.map((s) => s.id));
        const missing = opts.subscription.filter((id) => !subscriptions.has(id));
        if (missing.length > 0)
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `--subscription ${missing.join(', ')}: not a subscription in ${opts.config}`,
          );
        if (!/^[\x20-\x7e]{1,64}$/.test(opts.name ?? 'client'))
          throw new TendrilError('TENDRIL_E_USAGE', '--name must be 1–64 printable ASCII characters');
        const key = generateApiKey();
        await store.writebacks.createApiKey({
          id: key.id,
          name: opts.name ?? 'client',
          secretHash: key.secretHash,
          connectionIds: [...new Set(opts.connection)],
          subscriptionIds: [...new Set(opts.subscription)],
          createdAt: new Date().toISOString(),
        });
        if (opts.json) ctx.write(JSON.stringify({ id: key.id, key: key.key }));
        else {
          ctx.write(
            `API key ${key.id} for ${opts.name ?? 'client'} (connections: ${opts.connection.join(', ')})`,
          );
          ctx.write(`  ${key.key}`);
          ctx.write(
            'Shown once: store it in the client’s secret store. Send it as Authorization: Bearer <key>.',
          );
        }
      });
    });

  command
    .command('list')
    .description('list keys (never their secrets)')
    .requiredOption('--config <file>', 'path to tendril.yaml')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      await ctx.withStore(opts.config, async ({ store }) => {
        const keys = await store.writebacks.listApiKeys();
        if (opts.json) return ctx.write(JSON.stringify(keys));
        if (keys.length === 0) return ctx.write('no API keys');
        for (const k of keys) {
          ctx.write(
            [
              k.id,
              k.name.padEnd(16),
              k.revokedAt ? `revoked ${k.revokedAt}` : 'active',
              `connections=${k.connectionIds.join(',')}`,
              `subscriptions=${k.subscriptionIds.join(',') || '-'}`,
              `created ${k.createdAt}`,
            ].join('  '),
          );
        }
      });
    });

  command
    .command('revoke <id>')
    .description('revoke a key at once (its requests get 401)')
    .requiredOption('--config <file>', 'path to tendril.yaml')
    .action(async (id: string, opts: { config: string }) => {
      await ctx.withStore(opts.config, async ({ store }) => {
        if (!(await store.writebacks.revokeApiKey(id, new Date().toISOString()))) {
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `no active API key has id ${id}; tendril api-key list shows them`,
          );
        }
        ctx.write(`revoked ${id}`);
      });
    });

  program.addCommand(command);
};
