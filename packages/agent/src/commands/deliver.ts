import { setTimeout as sleep } from 'node:timers/promises';
import { TendrilError } from '@tendril/core';
import type { DrainReport } from '@tendril/delivery';
import type { Cradle } from '../container.js';
import type { CommandRegistrar } from '../cli-context.js';
import { dispatcherFor } from '../delivery/dispatcher-factory.js';

/**
 * `tendril deliver --once`: sends every delivery that is due now (retries scheduled for later are
 * left for the next run or for `tendril run`). Deliveries held back only by a subscription's
 * throttle are waited for, so "due now" really is drained.
 */
export async function deliverOnce(
  cradle: Cradle,
): Promise<DrainReport & { pending: number; durationMs: number }> {
  const started = Date.now();
  const { dispatcher } = dispatcherFor(cradle);
  const total: DrainReport = {
    attempted: 0,
    delivered: 0,
    retrying: 0,
    dead: 0,
    throttled: 0,
    probes: 0,
    redriven: 0,
  };
  try {
    for (;;) {
      const report = await dispatcher.drainOnce();
      for (const key of Object.keys(total) as (keyof DrainReport)[])
        total[key] += key === 'throttled' ? 0 : report[key];
      if (report.throttled === 0) break;
      total.throttled += report.throttled;
      const next = await cradle.store.deliveries.nextDueAtMs(cradle.config.subscriptions.map((s) => s.id));
      await sleep(Math.max(10, (next ?? Date.now()) - Date.now()));
    }
  } finally {
    await dispatcher.stop();
  }
  const pending = await cradle.store.deliveries.count({ status: 'pending' });
  return { ...total, pending, durationMs: Date.now() - started };
}

/** `tendril deliver`. */
export const registerDeliverCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('deliver')
    .description(
      'send the webhook deliveries that are due now, then exit (the agent, tendril run, sends continuously)',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--once', 'drain what is due now and exit (the only mode; continuous delivery is tendril run)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { config: string; once?: boolean; json?: boolean }) => {
      if (opts.once !== true) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          'tendril deliver needs --once; continuous delivery runs inside tendril run.',
        );
      }
      await ctx.withStore(opts.config, async (cradle) => {
        const report = await deliverOnce(cradle);
        ctx.write(
          opts.json
            ? JSON.stringify(report)
            : `delivered ${report.delivered}, retrying later ${report.retrying}, dead-lettered ${report.dead}` +
                `, still pending ${report.pending} (${report.attempted} requests, ${report.durationMs} ms)`,
        );
      });
    });
};
