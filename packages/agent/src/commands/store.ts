import type { PruneReport } from '@tendril/store';
import { formatBytes } from '@tendril/api';
import type { CommandRegistrar } from '../cli-context.js';
import { pruneStore } from '../run/store-prune.js';

/** The prune report as a reader takes it in: one line per kind of row, then the size. */
export function renderPrune(report: PruneReport): string {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines = [
    `${verb}:`,
    `  delivered deliveries  ${report.deliveries}`,
    `  dead letters          ${report.deadLetters}`,
    `  delivery attempts     ${report.attempts}`,
    `  outbox events         ${report.outbox}`,
    `  finished writebacks   ${report.writebacks} (audit rows ${report.audit})`,
    `  runs                  ${report.runs}${report.fleetRuns > 0 ? ` (fleet runs ${report.fleetRuns})` : ''}`,
    report.dryRun
      ? `store size ${formatBytes(report.sizeBytesBefore)} (dry run: nothing deleted)`
      : `store size ${formatBytes(report.sizeBytesBefore)} → ${formatBytes(report.sizeBytesAfter)} (${report.reclaimed === 'vacuum' ? 'VACUUM ran' : report.reclaimed === 'autovacuum' ? 'PostgreSQL autovacuum reclaims the space' : 'freed pages are reused'})`,
  ];
  return lines.join('\n');
}

/** `tendril store prune`: the nightly prune, now (docs/store.md, "Retention and pruning"). */
export const registerStoreCommand: CommandRegistrar = (program, ctx) => {
  const store = program.command('store').description('the agent store: prune by the retention settings');
  store
    .command('prune')
    .description(
      'delete what the retention settings let go (as tendril run does every night), then give space back',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--dry-run', 'count what would be deleted; delete nothing')
    .option('--json', 'print one JSON object')
    .action(async (opts: { config: string; dryRun?: boolean; json?: boolean }) => {
      await ctx.withStore(opts.config, async (cradle) => {
        const report = await pruneStore(cradle.store, cradle.config, cradle.logger, {
          dryRun: opts.dryRun === true,
        });
        ctx.write(opts.json ? JSON.stringify(report) : renderPrune(report));
      });
    });
};
