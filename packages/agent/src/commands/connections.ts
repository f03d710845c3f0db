import { readFile } from 'node:fs/promises';
import { configError, TendrilError, type ConfigProblem } from '@tendril/core';
import { openFleetStore, type FleetStore } from '@tendril/store';
import { parse as parseYaml } from 'yaml';
import type { CliContext, CommandRegistrar } from '../cli-context.js';
import type { Cradle } from '../container.js';
import { fleetConnectionProblems } from '../fleet/fleet-connection-config.js';

interface AddFlags {
  config: string;
  from?: string;
  id?: string;
  connector?: string;
  timezone?: string;
  databaseUrl?: string;
  poll?: string;
  nightly?: string;
  clientId?: string;
}

/** Opens the fleet tables of the config's PostgreSQL store (after the container migrated it). */
async function withFleet<T>(
  ctx: CliContext,
  configFile: string,
  work: (fleet: FleetStore, cradle: Cradle) => Promise<T>,
): Promise<T> {
  return ctx.withStore(configFile, async (cradle) => {
    const store = cradle.config.store;
    if (!('postgres' in store) || !cradle.config.fleet) {
      throw new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `${configFile}: fleet connections live in a PostgreSQL store; add fleet: true and store: { postgres: <url> } (docs/fleet.md)`,
      );
    }
    const fleet = openFleetStore(store.postgres, { poolSize: 2 });
    try {
      return await work(fleet, cradle);
    } finally {
      await fleet.close();
    }
  });
}

/** The connections a `--from` file holds: one connection object, a list, or `{ connections: [...] }`. */
function connectionsIn(raw: unknown, file: string): Record<string, unknown>[] {
  const list = Array.isArray(raw)
    ? raw
    : raw && typeof raw === 'object' && Array.isArray((raw as { connections?: unknown }).connections)
      ? (raw as { connections: unknown[] }).connections
      : [raw];
  if (list.length === 0 || list.some((c) => !c || typeof c !== 'object' || Array.isArray(c))) {
    throw configError(file, [
      {
        path: '(file)',
        message:
          'must hold a connection (as under connections: in tendril.yaml), a list of them, or connections: [...]',
      },
    ]);
  }
  return list as Record<string, unknown>[];
}

async function connectionsToAdd(flags: AddFlags): Promise<Record<string, unknown>[]> {
  if (flags.from) {
    let text: string;
    try {
      text = await readFile(flags.from, 'utf8');
    } catch (cause) {
      throw new TendrilError('TENDRIL_E_CONFIG_NOT_FOUND', `cannot read ${flags.from}; check the path`, {
        cause,
      });
    }
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (cause) {
      throw configError(flags.from, [
        { path: '(file)', message: `is not valid YAML: ${(cause as Error).message.split('\n')[0]}` },
      ]);
    }
    return connectionsIn(raw, flags.from);
  }
  const missing = (['id', 'connector', 'timezone', 'databaseUrl'] as const).filter((k) => !flags[k]);
  if (missing.length > 0) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `give --from <file>, or all of --id, --connector, --timezone and --database-url (missing: ${missing.map((m) => `--${m.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')})`,
    );
  }
  return [
    {
      id: flags.id,
      connector: flags.connector,
      timezone: flags.timezone,
      database: { url: flags.databaseUrl },
      ...(flags.clientId ? { clientId: flags.clientId } : {}),
      ...(flags.poll || flags.nightly
        ? {
            schedule: {
              ...(flags.poll ? { poll: flags.poll } : {}),
              ...(flags.nightly ? { nightly: flags.nightly } : {}),
            },
          }
        : {}),
    },
  ];
}

/**
 * `tendril connections add|list|remove|poll`: manages a fleet's connections in the PostgreSQL
 * store while workers run (docs/fleet.md). Workers pick changes up within `fleet.reloadSeconds`;
 * nothing restarts. Credentials must be references (`${secret:NAME}` / `${NAME}`), never plain text.
 */
export const registerConnectionsCommand: CommandRegistrar = (program, ctx) => {
  const connections = program
    .command('connections')
    .description("manage a fleet's connections in the PostgreSQL store (no restart needed)");

  connections
    .command('add')
    .description(
      'add connections, or replace ones with the same id (validated like tendril.yaml; credentials as references only)',
    )
    .requiredOption('--config <file>', 'a fleet config (fleet: true, store: { postgres })')
    .option(
      '--from <file>',
      'YAML: one connection as under connections: in tendril.yaml, a list, or connections: [...]',
    )
    .option('--id <id>', 'connection id (without --from)')
    .option('--connector <id>', 'connector id (without --from)')
    .option('--timezone <zone>', 'IANA zone of the practice (without --from)')
    .option(
      '--database-url <url>',
      'database URL with the password as ${secret:NAME} or ${NAME} (without --from)',
    )
    .option('--client-id <id>', 'client_id in the flat format (default: the connection id)')
    .option('--poll <cron>', 'poll schedule (default */10 * * * *)')
    .option('--nightly <HH:MM>', 'nightly time in the practice zone (default 02:00)')
    .option('--json', 'print JSON')
    .action(async (flags: AddFlags & { json?: boolean }) => {
      const list = await connectionsToAdd(flags);
      const problems: ConfigProblem[] = [];
      const ids = new Set<string>();
      for (const raw of list) {
        problems.push(...(await fleetConnectionProblems(raw)));
        const id = raw['id'];
        if (typeof id === 'string') {
          if (ids.has(id))
            problems.push({
              path: `connection ${id}.id`,
              message: 'appears twice in this file; ids must be unique',
            });
          ids.add(id);
        }
      }
      if (problems.length > 0) throw configError(flags.from ?? 'the connection', problems);
      const results = await withFleet(ctx, flags.config, async (fleet) => {
        const out: { id: string; created: boolean; version: number }[] = [];
        for (const raw of list)
          out.push({ id: raw['id'] as string, ...(await fleet.upsertConnection(raw['id'] as string, raw)) });
        return out;
      });
      if (flags.json) ctx.write(JSON.stringify({ connections: results }));
      else
        for (const r of results)
          ctx.write(`${r.created ? 'added' : 'updated'} ${r.id} (version ${r.version})`);
    });

  connections
    .command('list')
    .description("the fleet's connections, with when each is due")
    .requiredOption('--config <file>', 'a fleet config (fleet: true, store: { postgres })')
    .option('--json', 'print JSON')
    .action(async (flags: { config: string; json?: boolean }) => {
      const rows = await withFleet(ctx, flags.config, (fleet) => fleet.listConnections());
      const view = rows.map((r) => ({
        id: r.id,
        connector: r.config['connector'],
        timezone: r.config['timezone'],
        version: r.version,
        updatedAt: r.updatedAt,
        nextPollAt: r.nextPollAt,
        ...(r.nextNightlyAt ? { nextNightlyAt: r.nextNightlyAt } : {}),
        skippedTicks: r.skippedTicks,
      }));
      if (flags.json) {
        ctx.write(JSON.stringify({ connections: view }));
        return;
      }
      if (view.length === 0) {
        ctx.write('no connections in this fleet; add one with tendril connections add');
        return;
      }
      for (const c of view) {
        ctx.write(
          `${c.id}  ${String(c.connector)}  ${String(c.timezone)}  v${c.version}  next poll ${c.nextPollAt}${c.nextNightlyAt ? `  next nightly ${c.nextNightlyAt}` : ''}`,
        );
      }
    });

  connections
    .command('remove')
    .description('remove connections from the fleet (their stored cursors, shadow and outbox are kept)')
    .requiredOption('--config <file>', 'a fleet config (fleet: true, store: { postgres })')
    .argument('<ids...>', 'connection ids')
    .action(async (ids: string[], flags: { config: string }) => {
      const removed = await withFleet(ctx, flags.config, async (fleet) => {
        const out: string[] = [];
        for (const id of ids) if (await fleet.removeConnection(id)) out.push(id);
        return out;
      });
      const missing = ids.filter((id) => !removed.includes(id));
      for (const id of removed) ctx.write(`removed ${id}`);
      if (missing.length > 0) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `no connection ${missing.join(', ')} in this fleet; tendril connections list shows them`,
        );
      }
    });

  connections
    .command('poll')
    .description('make connections due for a poll now (a worker enqueues it at its next tick)')
    .requiredOption('--config <file>', 'a fleet config (fleet: true, store: { postgres })')
    .argument('[ids...]', 'connection ids')
    .option('--all', 'every connection of the fleet')
    .action(async (ids: string[], flags: { config: string; all?: boolean }) => {
      if (!flags.all && ids.length === 0)
        throw new TendrilError('TENDRIL_E_USAGE', 'name connection ids, or give --all');
      const n = await withFleet(ctx, flags.config, (fleet) => fleet.requestPoll(flags.all ? undefined : ids));
      ctx.write(`${n} connection${n === 1 ? '' : 's'} due for a poll now`);
    });
};
