import type { ConnectorDefinition } from '@tendril/core';
import type { CommandRegistrar } from '../cli-context.js';
import { loadAllConnectors } from '../registry.js';

/** One stream of a connector: its resource and what its tables were checked against. */
export interface StreamSummary {
  name: string;
  resourceType: string;
  /** The stream's own evidence (`TableDefinition.evidence`), else the connector's `verification.against`. */
  evidence: string;
}

export interface ConnectorSummary {
  id: string;
  displayName: string;
  dialects: readonly string[];
  versions: readonly string[];
  verification: string;
  verifiedAgainst: string;
  streams: StreamSummary[];
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
    streams: Object.entries(c.streams).map(([name, table]) => ({
      name,
      resourceType: table.resourceType,
      evidence: table.evidence ?? c.verification.against,
    })),
  }));
}

export function renderConnectors(summaries: readonly ConnectorSummary[]): string {
  return summaries
    .map((s) => {
      const width = Math.max(...s.streams.map((stream) => stream.name.length));
      const typeWidth = Math.max(...s.streams.map((stream) => stream.resourceType.length));
      const lines = s.streams.map(
        (stream) =>
          `    ${stream.name.padEnd(width)}  ${stream.resourceType.padEnd(typeWidth)}  ${stream.evidence}`,
      );
      return (
        `${s.id}  ${s.displayName} ${s.versions.join(', ')}  [${s.verification}]\n` +
        `  verified against: ${s.verifiedAgainst}\n` +
        `  dialects: ${s.dialects.join(', ')}\n` +
        `  streams (${s.streams.length}):\n${lines.join('\n')}`
      );
    })
    .join('\n\n');
}

/** `tendril connectors`. */
export const registerConnectorsCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('connectors')
    .description('list connector plugins, their streams and what each is verified against')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const summaries = summarizeConnectors(await loadAllConnectors());
      ctx.write(opts.json ? JSON.stringify(summaries) : renderConnectors(summaries));
    });
};
