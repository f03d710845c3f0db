import type { ConnectorDefinition } from '@tendril/core';
import type { CommandRegistrar } from '../cli-context.js';
import { loadAllConnectors } from '../registry.js';

export interface ConnectorSummary {
  id: string;
  displayName: string;
  dialects: readonly string[];
  versions: readonly string[];
  verification: string;
  verifiedAgainst: string;
  streams: string[];
}

export function summarizeConnectors(
  connectors: ReadonlyMap<string, ConnectorDefinition>,
): ConnectorSummary[] {
  return [...connectors.values()].map((c) => ({
    id: c.id,
    displayName: c.displayName,
    dialects: c.dialects,
    versions: c.versions,
    verification: c.verification.level,
    verifiedAgainst: c.verification.against,
    streams: Object.keys(c.streams),
  }));
}

export function renderConnectors(summaries: readonly ConnectorSummary[]): string {
  return summaries
    .map(
      (s) =>
        `${s.id}  ${s.displayName} ${s.versions.join(', ')}  [${s.verification}]\n` +
        `  verified against: ${s.verifiedAgainst}\n` +
        `  dialects: ${s.dialects.join(', ')}\n` +
        `  streams: ${s.streams.join(', ')}`,
    )
    .join('\n\n');
}

/** `tendril connectors`. */
export const registerConnectorsCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('connectors')
    .description('list connector plugins and what each is verified against')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const summaries = summarizeConnectors(await loadAllConnectors());
      ctx.write(opts.json ? JSON.stringify(summaries) : renderConnectors(summaries));
    });
};
