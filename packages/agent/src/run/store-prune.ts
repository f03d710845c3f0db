import type { TendrilConfig } from '@tendril/core';
import type { PruneReport, Store } from '@tendril/store';
import type { Logger } from 'pino';

/**
 * One prune of the store with the config's retention (docs/store.md, "Retention and pruning"):
 * counts and sizes only in the log, never a row. With a hub, events wait for its acknowledgement.
 */
export async function pruneStore(
  store: Store,
  config: TendrilConfig,
  logger: Logger,
  options: { dryRun?: boolean } = {},
): Promise<PruneReport> {
  const r = config.retention;
  const policy = {
    deliveredDays: r.deliveredDays,
    deadLetterDays: r.deadLetterDays,
    outboxDays: r.outboxDays,
    auditDays: r.auditDays,
    runDays: r.runDays,
  };
  const report = await store.prune(policy, {
    keepUnrelayed: config.hub !== undefined,
    ...(options.dryRun === true ? { dryRun: true } : {}),
  });
  logger.info(
    { event: 'store.pruned', ...report },
    options.dryRun ? 'store prune (dry run)' : 'store pruned',
  );
  return report;
}
