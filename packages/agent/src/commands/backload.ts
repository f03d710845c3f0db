import { TendrilError } from '@tendril/core';
import { findSubscription, resolveSubscriptions } from '@tendril/delivery';
import type { BackloadFilter } from '@tendril/store';
import type { Cradle } from '../container.js';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';
import { createProgress } from '../progress.js';

export interface BackloadOptions {
  subscription: string;
  resource?: string;
  since?: string;
  restart?: boolean;
  pageSize?: number;
  onProgress?: (enqueued: number, total: number) => void;
}

export interface BackloadReport {
  subscription: string;
  jobId: number;
  resumed: boolean;
  total: number;
  enqueued: number;
  durationMs: number;
}

/**
 * Re-emits the current state to one subscriber (the seed's "initial full demographic backload"):
 * the latest, not-deleted event of every resource that matches the subscription's filters (and
 * `--resource`, `--since`) is queued as a new delivery to that subscription only, with its original
 * event id as webhook-id. Page by page, each page and the job's cursor in one transaction, so an
 * interrupted backload resumes where it stopped when run again with the same filters.
 */
export async function runBackload(cradle: Cradle, options: BackloadOptions): Promise<BackloadReport> {
  const started = Date.now();
  const subscription = findSubscription(resolveSubscriptions(cradle.config), options.subscription);
  if (!subscription.enabled) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `Subscription ${subscription.id} is disabled in the config (enabled: false); enable it first.`,
    );
  }
  if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) {
    throw new TendrilError('TENDRIL_E_USAGE', '--since must be a date or instant such as 2025-01-01.');
  }
  const filter: BackloadFilter = {
    subscriptionId: subscription.id,
    ...(options.resource === undefined ? {} : { resourceType: options.resource }),
    ...(options.since === undefined ? {} : { since: options.since }),
  };
  const total = await cradle.store.deliveries.countCurrent(filter, subscription.route);
  let restart = options.restart === true;
  let first: { jobId: number; resumed: boolean } | undefined;
  let enqueued = 0;
  for (;;) {
    const page = await cradle.store.deliveries.backloadPage({
      filter,
      route: subscription.route,
      limit: options.pageSize ?? 1000,
      nowMs: Date.now(),
      restart,
    });
    restart = false;
    first ??= { jobId: page.jobId, resumed: page.resumed };
    enqueued = page.totalEnqueued;
    options.onProgress?.(enqueued, total);
    if (page.done) break;
  }
  return {
    subscription: subscription.id,
    jobId: first.jobId,
    resumed: first.resumed,
    total,
    enqueued,
    durationMs: Date.now() - started,
  };
}

/** `tendril backload`. */
export const registerBackloadCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('backload')
    .description(
      'queue the current state of every matching resource for one subscriber (resumable); tendril deliver --once sends it',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .requiredOption('--subscription <id>', 'the subscriber')
    .option('--resource <type>', 'only this resource type (e.g. Patient for a demographic backload)')
    .option('--since <date>', 'only resources whose latest change occurred at or after this date')
    .option('--restart', 'abandon an unfinished backload with the same filters and start over')
    .option('--page-size <n>', 'resources per transaction', positiveInt, 1000)
    .option('--json', 'print one JSON object')
    .action(
      async (opts: {
        config: string;
        subscription: string;
        resource?: string;
        since?: string;
        restart?: boolean;
        pageSize: number;
        json?: boolean;
      }) => {
        await ctx.withStore(opts.config, async (cradle) => {
          const progress = createProgress(ctx.io.stderr, 'queued');
          try {
            const report = await runBackload(cradle, {
              subscription: opts.subscription,
              ...(opts.resource === undefined ? {} : { resource: opts.resource }),
              ...(opts.since === undefined ? {} : { since: opts.since }),
              ...(opts.restart ? { restart: true } : {}),
              pageSize: opts.pageSize,
              onProgress: (done, total) => progress.update(done, Math.max(done, total)),
            });
            progress.stop();
            ctx.write(
              opts.json
                ? JSON.stringify(report)
                : `backload to ${report.subscription}: ${report.enqueued} of ${report.total} current resources queued` +
                    `${report.resumed ? ' (resumed an interrupted backload)' : ''}; send them with tendril deliver --once`,
            );
          } finally {
            progress.stop();
          }
        });
      },
    );
};
