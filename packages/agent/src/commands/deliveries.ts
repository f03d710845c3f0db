import { TendrilError } from '@tendril/core';
import {
  DELIVERY_STATUSES,
  type DeliveryQuery,
  type DeliveryRecord,
  type DeliveryStatus,
  type Store,
} from '@tendril/store';
import { findSubscription, resolveSubscriptions, resumeSubscription } from '@tendril/delivery';
import type { Command } from 'commander';
import type { Cradle } from '../container.js';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';

/** The filters shared by `list` and `replay`. */
export interface DeliveryFilterOptions {
  subscription?: string;
  status?: string;
  /** `Patient` or `Patient/<resourceId>`. */
  resource?: string;
  since?: string;
  until?: string;
}

function instant(value: string, flag: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${flag} must be a date or instant such as 2025-01-31 or 2025-01-31T12:00:00Z.`,
    );
  return ms;
}

/** Turns command-line filters into a store query (unknown subscription or status is a usage error). */
export function deliveryQuery(
  cradle: Pick<Cradle, 'config'>,
  options: DeliveryFilterOptions,
): Omit<DeliveryQuery, 'limit'> {
  if (options.subscription !== undefined)
    findSubscription(resolveSubscriptions(cradle.config), options.subscription);
  if (options.status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(options.status)) {
    throw new TendrilError('TENDRIL_E_USAGE', `--status must be one of ${DELIVERY_STATUSES.join(', ')}.`);
  }
  const [resourceType, resourceId] = options.resource === undefined ? [] : options.resource.split('/', 2);
  return {
    ...(options.subscription === undefined ? {} : { subscriptionId: options.subscription }),
    ...(options.status === undefined ? {} : { status: options.status as DeliveryStatus }),
    ...(resourceType ? { resourceType } : {}),
    ...(resourceId ? { resourceId } : {}),
    ...(options.since === undefined ? {} : { sinceMs: instant(options.since, '--since') }),
    ...(options.until === undefined ? {} : { untilMs: instant(options.until, '--until') }),
  };
}

function row(d: DeliveryRecord): string {
  const last = d.lastStatus !== undefined ? String(d.lastStatus) : (d.lastError ?? '-');
  const when =
    d.status === 'pending'
      ? `due ${new Date(d.dueAtMs).toISOString()}`
      : new Date(d.finishedAtMs ?? d.createdAtMs).toISOString();
  return [
    String(d.id).padStart(6),
    d.subscriptionId.padEnd(16),
    `${d.status}${d.deadReason ? `(${d.deadReason})` : ''}`.padEnd(28),
    d.eventType.padEnd(24),
    `${d.resourceType}/${d.resourceId}`,
    `attempts=${d.attempts}`,
    `last=${last}`,
    d.origin === 'live' ? '' : `origin=${d.origin}${d.replayOf ? `#${d.replayOf}` : ''}`,
    when,
  ]
    .filter(Boolean)
    .join('  ');
}

/** Replays every delivery matching `query` (or `ids`): new rows, same event (webhook-id), fresh retry budget. */
export async function replayDeliveries(
  store: Store,
  selected: readonly DeliveryRecord[],
  nowMs: number,
): Promise<number[]> {
  const bySubscription = new Map<string, DeliveryRecord[]>();
  for (const d of selected)
    bySubscription.set(d.subscriptionId, [...(bySubscription.get(d.subscriptionId) ?? []), d]);
  const created: number[] = [];
  for (const [subscriptionId, rows] of bySubscription) {
    created.push(
      ...(await store.deliveries.enqueue({
        subscriptionId,
        items: rows.map((d) => ({ eventId: d.eventId, replayOf: d.id })),
        origin: 'replay',
        nowMs,
      })),
    );
  }
  return created;
}

async function listAll(
  store: Store,
  query: Omit<DeliveryQuery, 'limit'>,
  max: number,
): Promise<DeliveryRecord[]> {
  const out: DeliveryRecord[] = [];
  let afterId: number | undefined;
  while (out.length < max) {
    const page = await store.deliveries.list({
      ...query,
      ...(afterId === undefined ? {} : { afterId }),
      limit: Math.min(1000, max - out.length),
    });
    out.push(...page);
    if (page.length === 0) break;
    afterId = page.at(-1)!.id;
  }
  return out;
}

function deliveryId(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      'A delivery id is a whole number ≥ 1 (see tendril deliveries list).',
    );
  return n;
}

const withFilters = (command: Command): Command =>
  command
    .option('--subscription <id>', 'only this subscription')
    .option('--status <status>', `${DELIVERY_STATUSES.join(' | ')}`)
    .option('--resource <type[/id]>', 'only this resource type, or one resource (Patient/<resourceId>)')
    .option('--since <date>', 'created at or after')
    .option('--until <date>', 'created before');

/** `tendril deliveries list|show|retry|replay|resume`. */
export const registerDeliveriesCommand: CommandRegistrar = (program, ctx) => {
  const deliveries = program
    .command('deliveries')
    .description('inspect, retry and replay webhook deliveries and dead letters');

  withFilters(
    deliveries.command('list').description('deliveries, oldest first (dead letters: --status dead)'),
  )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--json', 'print one JSON array')
    .action(async (opts: DeliveryFilterOptions & { config: string; limit: number; json?: boolean }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const rows = await listAll(cradle.store, deliveryQuery(cradle, opts), opts.limit);
        if (opts.json) ctx.write(JSON.stringify(rows));
        else ctx.write(rows.length === 0 ? 'no deliveries match' : rows.map(row).join('\n'));
      });
    });

  deliveries
    .command('show <id>')
    .description('one delivery with every attempt (number, start, end, status or error, response size)')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--json', 'print one JSON object')
    .action(async (id: string, opts: { config: string; json?: boolean }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const found = await cradle.store.deliveries.get(deliveryId(id));
        if (found === undefined)
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `No delivery has the id ${id}; see tendril deliveries list.`,
          );
        if (opts.json) {
          ctx.write(JSON.stringify(found));
          return;
        }
        ctx.write(row(found.delivery));
        ctx.write(`webhook-id ${found.delivery.eventId}`);
        for (const a of found.attempts) {
          ctx.write(
            `  #${a.number}${a.probe ? ' (probe)' : ''}  ${new Date(a.startedAtMs).toISOString()} → ${new Date(a.endedAtMs).toISOString()}` +
              `  ${a.status ?? a.error ?? '-'}  ${a.outcome}${a.responseBytes === undefined ? '' : `  ${a.responseBytes} bytes`}`,
          );
        }
      });
    });

  deliveries
    .command('retry <id>')
    .description(
      'a delivery waiting to retry: make it due now (same budget); a dead letter: replay it (fresh budget)',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .action(async (id: string, opts: { config: string }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const found = await cradle.store.deliveries.get(deliveryId(id));
        if (found === undefined)
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            `No delivery has the id ${id}; see tendril deliveries list.`,
          );
        const d = found.delivery;
        if (d.status === 'pending') {
          await cradle.store.deliveries.retryNow(d.id, Date.now());
          ctx.write(`delivery ${d.id} is due now; tendril deliver --once (or the running agent) sends it`);
        } else {
          const [created] = await replayDeliveries(cradle.store, [d], Date.now());
          ctx.write(
            `delivery ${d.id} (${d.status}) replayed as delivery ${created} with webhook-id ${d.eventId}`,
          );
        }
      });
    });

  withFilters(
    deliveries
      .command('replay')
      .description(
        're-send matching deliveries (default: dead letters) with the same webhook-id and a fresh retry budget',
      ),
  )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--id <n>', 'just this delivery')
    .option('--limit <n>', 'at most this many', positiveInt, 10_000)
    .option('--json', 'print one JSON object')
    .action(
      async (
        opts: DeliveryFilterOptions & { config: string; id?: string; limit: number; json?: boolean },
      ) => {
        await ctx.withStore(opts.config, async (cradle) => {
          let selected: DeliveryRecord[];
          if (opts.id !== undefined) {
            const found = await cradle.store.deliveries.get(deliveryId(opts.id));
            if (found === undefined)
              throw new TendrilError('TENDRIL_E_USAGE', `No delivery has the id ${opts.id}.`);
            selected = [found.delivery];
          } else {
            selected = await listAll(
              cradle.store,
              deliveryQuery(cradle, { status: 'dead', ...opts }),
              opts.limit,
            );
          }
          const created = await replayDeliveries(cradle.store, selected, Date.now());
          ctx.write(
            opts.json
              ? JSON.stringify({ replayed: selected.map((d) => d.id), created })
              : `replayed ${created.length} deliveries`,
          );
        });
      },
    );

  deliveries
    .command('resume')
    .description(
      're-activate a paused, disabled or unreachable subscription (its dead letters from an outage are redriven)',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .requiredOption('--subscription <id>', 'the subscription')
    .action(async (opts: { config: string; subscription: string }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const subscription = findSubscription(resolveSubscriptions(cradle.config), opts.subscription);
        const redriven = await resumeSubscription(cradle.store, subscription.id, Date.now());
        ctx.write(
          `subscription ${subscription.id} is active${redriven > 0 ? `; ${redriven} dead letters redriven` : ''}`,
        );
      });
    });

  deliveries
    .command('subscriptions')
    .description('each subscription with its run-time state and counts of pending and dead deliveries')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--json', 'print one JSON array')
    .action(async (opts: { config: string; json?: boolean }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const states = new Map(
          (await cradle.store.deliveries.subscriptionStates()).map((s) => [s.subscriptionId, s]),
        );
        const rows = [];
        for (const s of cradle.config.subscriptions) {
          const state = states.get(s.id);
          rows.push({
            id: s.id,
            enabled: s.enabled,
            state: state?.state ?? 'active',
            ...(state?.reason ? { reason: state.reason } : {}),
            pending: await cradle.store.deliveries.count({ subscriptionId: s.id, status: 'pending' }),
            dead: await cradle.store.deliveries.count({ subscriptionId: s.id, status: 'dead' }),
          });
        }
        ctx.write(
          opts.json
            ? JSON.stringify(rows)
            : rows
                .map(
                  (r) =>
                    `${r.id}  ${r.enabled ? r.state : 'disabled in config'}  pending=${r.pending} dead=${r.dead}${r.reason ? `  (${r.reason})` : ''}`,
                )
                .join('\n') || 'no subscriptions configured',
        );
      });
    });
};
