import { streamVerification, type ConnectorDefinition, type TendrilConfig } from '@tendril/core';
import { streamsOf } from '@tendril/scheduler';
import type { CommandRegistrar } from '../cli-context.js';
import { loadConfigFile } from '../config-file.js';
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

/** One configured connection: each stream it reads and what that stream is verified against at this site. */
export interface ConnectionVerification {
  id: string;
  connector: string;
  streams: { name: string; verification: string; verifiedAtInstall: boolean }[];
}

/**
 * The connections of a config with, per stream, "verified at install (…)" when `tendril map`
 * confirmed its mapping at the site, else the stream's evidence.
 */
export function connectionVerifications(
  config: TendrilConfig,
  connectors: ReadonlyMap<string, ConnectorDefinition>,
): ConnectionVerification[] {
  return config.connections.map((connection) => {
    const connector = connectors.get(connection.connector)!;
    return {
      id: connection.id,
      connector: connector.id,
      streams: streamsOf(connection, connector).map((name) => ({
        name,
        verification: streamVerification(connector, name, connection.tableMap),
        verifiedAtInstall: connection.tableMap?.[name]?.verifiedAtInstall !== undefined,
      })),
    };
  });
}

export function renderConnectionVerifications(list: readonly ConnectionVerification[]): string {
  return list
    .map((c) => {
      const width = Math.max(...c.streams.map((s) => s.name.length));
      return [
        `connection ${c.id} (${c.connector})`,
        ...c.streams.map((s) => `    ${s.name.padEnd(width)}  ${s.verification}`),
      ].join('\n');
    })
    .join('\n\n');
}

/** `tendril connectors`. */
export const registerConnectorsCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('connectors')
    .description('list connector plugins, their streams and what each is verified against')
    .option('--json', 'print JSON')
    .option(
      '--config <file>',
      "also show each configured connection's streams, marked when verified at install",
    )
    .action(async (opts: { json?: boolean; config?: string }) => {
      const connectors = await loadAllConnectors();
      const summaries = summarizeConnectors(connectors);
      if (!opts.config) {
        ctx.write(opts.json ? JSON.stringify(summaries) : renderConnectors(summaries));
        return;
      }
      const connections = connectionVerifications(await loadConfigFile(opts.config, ctx.io.env), connectors);
      ctx.write(
        opts.json
          ? JSON.stringify({ connectors: summaries, connections })
          : `${renderConnectors(summaries)}\n\n${renderConnectionVerifications(connections)}`,
      );
    });
};
