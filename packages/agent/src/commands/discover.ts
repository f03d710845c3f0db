import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connectorForSite, TendrilError } from '@tendril/core';
import { applyDiscoveredStrategy, discoverChangeStrategy, streamsOf } from '@tendril/scheduler';
import {
  compareConnector,
  readLiveSchema,
  supportBundle,
  type ChangeMode,
  type DiscoveryReport,
  type SkipReason,
} from '@tendril/sql';
import type { RecordedChangeStrategy, StreamState } from '@tendril/store';
import type { CommandRegistrar } from '../cli-context.js';
import type { Cradle } from '../container.js';
import { EXIT } from '../exit-codes.js';

/** What happened to each stream's stored status. */
export type DiscoverAction = 'paused' | 'resumed' | 'still-paused' | 'ok';

/** SQL Server: the change-detection strategy discovery chose and recorded for a stream (docs/sync-semantics.md, "Change-detection modes"). */
export interface DiscoveredChangeDetection {
  readonly strategy: RecordedChangeStrategy;
  /** Rungs of the ladder passed over, and why. */
  readonly skipped: readonly { readonly mode: ChangeMode; readonly reason: SkipReason }[];
  /** The mode or its column differs from the one recorded before (or declared, before any discovery). */
  readonly changed: boolean;
  /** The next run is a baseline (emits events only for rows that really differ). */
  readonly baseline: boolean;
}

export interface DiscoverResult {
  readonly connection: string;
  readonly report: DiscoveryReport;
  /** Per stream: whether it was paused or resumed, and whether its schema changed since the last discover. */
  readonly streams: readonly {
    stream: string;
    action: DiscoverAction;
    drift: 'first' | 'unchanged' | 'changed';
    /** SQL Server connections, streams that fit: the change detection chosen and recorded. */
    changeDetection?: DiscoveredChangeDetection;
  }[];
  readonly bundleFile: string;
}

/**
 * `tendril discover`: compares the connector (with this site's tableMap) with the live schema,
 * pauses every stream that no longer fits (the others keep running), resumes streams that fit
 * again, stores each stream's schema fingerprint, and writes the support bundle (metadata only).
 */
export async function runDiscover(
  cradle: Cradle,
  options: { connection: string; bundle?: string; now?: () => Date },
): Promise<DiscoverResult> {
  const { config, connectors, store, sqlClients } = cradle;
  const connection = config.connections.find((c) => c.id === options.connection);
  if (!connection) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--connection ${options.connection} is not in the config; configured: ${config.connections.map((c) => c.id).join(', ')}`,
    );
  }
  const declared = connectors.get(connection.connector)!;
  const connector = connectorForSite(declared, connection.tableMap);
  const client = sqlClients.get(connection);
  const schema = await readLiveSchema(client);
  const report = compareConnector(connector, schema, streamsOf(connection, connector));
  const at = (options.now ?? (() => new Date()))().toISOString();
  const streams: DiscoverResult['streams'][number][] = [];
  for (const result of report.streams) {
    const table = connector.streams[result.stream]!;
    const state = (await store.getStreamState(connection.id, result.stream)) ?? { mode: table.cursor.mode };
    const drift =
      state.schemaFingerprint === undefined
        ? 'first'
        : state.schemaFingerprint === result.fingerprint
          ? 'unchanged'
          : 'changed';
    const { paused, ...rest } = state;
    let action: DiscoverAction;
    let changeDetection: DiscoveredChangeDetection | undefined;
    if (result.status === 'ok') {
      action = paused ? 'resumed' : 'ok';
      let next: StreamState = { ...rest, schemaFingerprint: result.fingerprint };
      // SQL Server: probe CT / rowversion / the stamp and record the first usable rung (§1 ladder).
      if (client.dialect === 'mssql') {
        const choice = await discoverChangeStrategy(client, table);
        if (choice.strategy) {
          const update = applyDiscoveredStrategy(next, table, choice.strategy, at);
          next = update.state;
          changeDetection = {
            strategy: update.state.changeStrategy!,
            skipped: choice.skipped,
            changed: update.changed,
            baseline: update.baseline,
          };
        }
      }
      await store.saveStreamState(connection.id, result.stream, next);
    } else {
      action = paused ? 'still-paused' : 'paused';
      // The reason names tables and columns only: schema metadata, never row values.
      const problems = result.findings.filter((f) => f.status !== 'note').map((f) => f.message);
      const reason = `${result.status}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`;
      await store.saveStreamState(connection.id, result.stream, {
        ...rest,
        schemaFingerprint: result.fingerprint,
        paused: { reason, at },
      });
    }
    streams.push({ stream: result.stream, action, drift, ...(changeDetection ? { changeDetection } : {}) });
  }
  const bundleFile = resolve(options.bundle ?? `tendril-support-${connection.id}.json`);
  writeFileSync(bundleFile, `${JSON.stringify(supportBundle(report, schema, at), null, 2)}\n`, {
    mode: 0o600,
  });
  return { connection: connection.id, report, streams, bundleFile };
}

export function renderDiscover(result: DiscoverResult): string {
  const { report } = result;
  const lines = [
    `connection ${result.connection}: connector ${report.connector} [${report.verification.level}] ${report.verification.against}`,
    `server: ${report.dialect}${report.serverVersion ? ` ${report.serverVersion}` : ''}${report.edition ? ` (${report.edition})` : ''}`,
  ];
  for (const stream of report.streams) {
    const outcome = result.streams.find((s) => s.stream === stream.stream);
    const action =
      outcome?.action === 'paused' || outcome?.action === 'still-paused'
        ? '  → stream paused'
        : outcome?.action === 'resumed'
          ? '  → stream resumed'
          : '';
    const drift = outcome?.drift === 'changed' ? '  (schema changed since the last discover)' : '';
    lines.push(
      `  ${stream.stream.padEnd(20)} ${stream.status.toUpperCase().padEnd(14)} ${stream.checkedColumns} columns in ${stream.tables.join(', ')}${action}${drift}`,
    );
    for (const finding of stream.findings)
      lines.push(`      ${finding.status === 'note' ? 'note' : finding.status}: ${finding.message}`);
    const detection = outcome?.changeDetection;
    if (detection) {
      const { strategy } = detection;
      const chosen = strategy.column
        ? `${strategy.mode} (${strategy.column}${strategy.sqlType && strategy.sqlType !== 'rowversion' ? ` ${strategy.sqlType}` : ''})`
        : strategy.mode;
      const skipped = detection.skipped.length
        ? `; skipped ${detection.skipped.map((s) => `${s.mode}: ${s.reason}`).join(', ')}`
        : '';
      const baseline = detection.baseline ? '  → baseline at the next run' : '';
      lines.push(`      change detection: ${chosen}${skipped}${baseline}`);
    }
  }
  lines.push(`fingerprint: ${report.fingerprint}`);
  lines.push(`support bundle (schema metadata only, no rows): ${result.bundleFile}`);
  if (!report.ok)
    lines.push(
      'Fix the schema access or set connections[].tableMap for the paused streams, then run discover again; the other streams keep running.',
    );
  return lines.join('\n');
}

/** `tendril discover`. */
export const registerDiscoverCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('discover')
    .description(
      "compare the connector's tables, columns, types, keys and cursors with the live schema; pause streams that do not fit",
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .requiredOption('--connection <id>', 'the connection to discover')
    .option(
      '--bundle <file>',
      'where to write the support bundle (default ./tendril-support-<connection>.json)',
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: { config: string; connection: string; bundle?: string; json?: boolean }) => {
      await ctx.withAgent(opts.config, async (cradle) => {
        const result = await runDiscover(cradle, {
          connection: opts.connection,
          ...(opts.bundle ? { bundle: opts.bundle } : {}),
        });
        ctx.write(
          opts.json
            ? JSON.stringify({
                ...result.report,
                streamStatus: result.streams,
                bundleFile: result.bundleFile,
              })
            : renderDiscover(result),
        );
        if (!result.report.ok) ctx.setExitCode(EXIT.discoverMismatch);
      });
    });
};
