import { connectorForSite, isTendrilError, TendrilError } from '@tendril/core';
import { streamsOf, syncConnection } from '@tendril/scheduler';
import type { Cradle } from '../container.js';
import type { CommandRegistrar } from '../cli-context.js';
import { createProgress } from '../progress.js';
import { EXIT } from '../exit-codes.js';
import { heldBackRows, type HeldBack } from '../sync/held-back.js';
import { backloadTotals } from '../sync/backload-totals.js';

export interface SyncOptions {
  connection?: string;
  stream?: string;
  full?: boolean;
  /** Called with (connectionId, stream, rowsRead, total) after each page; `total` for full reads only. */
  onProgress?: (connectionId: string, stream: string, read: number, total?: number) => void;
}

export interface StreamReport {
  stream: string;
  read: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  error?: { code: string; message: string };
  /** Set when `tendril discover` paused the stream (schema drift): it was not read. */
  paused?: string;
  /** Rows changed inside the settle window: not read by this poll, readable from `readableAt`. */
  heldBack?: HeldBack;
  /** Values dropped with a warning code while mapping (docs/errors.md, "Warning codes"). */
  warnings?: { code: string; table: string; field: string; count: number }[];
}

export interface SyncReport {
  connections: { id: string; streams: StreamReport[] }[];
  durationMs: number;
}

/** One backload or incremental poll of the configured connections (`tendril sync --once`). */
export async function runSyncOnce(
  cradle: Cradle,
  options: SyncOptions,
): Promise<{ report: SyncReport; failed: boolean }> {
  const { config, connectors, store, sqlClients, logger } = cradle;
  const started = Date.now();
  const selected = config.connections.filter((c) => !options.connection || c.id === options.connection);
  if (options.connection && selected.length === 0) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--connection ${options.connection} is not in the config; configured: ${config.connections.map((c) => c.id).join(', ')}`,
    );
  }
  const report: SyncReport = { connections: [], durationMs: 0 };
  let failed = false;
  for (const connection of selected) {
    const connector = connectors.get(connection.connector)!;
    if (options.stream && !streamsOf(connection, connector).includes(options.stream)) {
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `--stream ${options.stream} is not a stream of connection ${connection.id}; streams: ${streamsOf(connection, connector).join(', ')}`,
      );
    }
    const siteConnector = connectorForSite(connector, connection.tableMap);
    // Totals cost one COUNT per fully read stream: only when someone watches the progress line.
    const totals = options.onProgress
      ? await backloadTotals({
          sql: sqlClients.get(connection),
          store,
          connection,
          connector: siteConnector,
          streams: streamsOf(connection, connector, options.stream),
          full: options.full === true,
        })
      : new Map<string, number>();
    const { result, errors, paused, warnings } = await syncConnection(
      { sql: sqlClients.get(connection), store, logger: logger },
      {
        connection,
        connector,
        ...(options.stream ? { stream: options.stream } : {}),
        ...(options.full ? { full: true } : {}),
        ...(options.onProgress
          ? {
              onProgress: (stream: string, read: number) =>
                options.onProgress!(connection.id, stream, read, totals.get(stream)),
            }
          : {}),
      },
    );
    const streams: StreamReport[] = [];
    for (const s of result.streams) {
      const dropped = (warnings ?? [])
        .filter((w) => w.stream === s.stream)
        .map(({ code, table, field, count }) => ({ code, table, field, count }));
      // Counting what the settle window held back is advice: if it fails, the sync still succeeded.
      const heldBack = await heldBackRows({
        sql: sqlClients.get(connection),
        store,
        connection,
        connector: siteConnector,
        stream: s.stream,
      }).catch(() => undefined);
      streams.push({
        stream: s.stream,
        read: s.read,
        created: s.created,
        updated: s.updated,
        deleted: s.deleted,
        unchanged: s.unchanged,
        ...(dropped.length > 0 ? { warnings: dropped } : {}),
        ...(heldBack ? { heldBack } : {}),
      });
    }
    for (const { stream, reason } of paused ?? []) {
      streams.push({ stream, read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0, paused: reason });
    }
    for (const { stream, error } of errors) {
      failed = true;
      const code = isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
      const message = isTendrilError(error) ? error.message : 'unexpected failure; see the log';
      streams.push({
        stream,
        read: 0,
        created: 0,
        updated: 0,
        deleted: 0,
        unchanged: 0,
        error: { code, message },
      });
    }
    report.connections.push({ id: connection.id, streams });
  }
  report.durationMs = Date.now() - started;
  return { report, failed };
}

export function renderSyncReport(report: SyncReport, now: Date = new Date()): string {
  const lines: string[] = [];
  for (const connection of report.connections) {
    lines.push(`connection ${connection.id}`);
    lines.push('  stream              read  created  updated  deleted  unchanged');
    for (const s of connection.streams) {
      if (s.paused) {
        lines.push(
          `  ${s.stream.padEnd(18)} PAUSED by discover: ${s.paused} (run tendril discover after fixing the schema or the tableMap)`,
        );
        continue;
      }
      if (s.error) {
        lines.push(`  ${s.stream.padEnd(18)} FAILED ${s.error.code}: ${s.error.message}`);
        continue;
      }
      lines.push(
        `  ${s.stream.padEnd(18)}${String(s.read).padStart(6)}${String(s.created).padStart(9)}${String(s.updated).padStart(9)}${String(s.deleted).padStart(9)}${String(s.unchanged).padStart(11)}`,
      );
      for (const w of s.warnings ?? [])
        lines.push(`      ${w.code}: ${w.field} omitted in ${w.count} row(s) of ${w.table}`);
    }
  }
  for (const connection of report.connections) {
    const held = connection.streams.filter((s) => s.heldBack);
    if (held.length === 0) continue;
    const settle = held[0]!.heldBack!.settleSeconds;
    const readable = Math.max(...held.map((s) => Date.parse(s.heldBack!.readableAt)));
    const inSeconds = Math.max(0, Math.round((readable - now.getTime()) / 1000));
    lines.push(
      `held back by the settle window (rows of ${connection.id} changed in the last ${settle} s, sync.settleSeconds): ${held
        .map((s) => `${s.stream} ${s.heldBack!.rows.toLocaleString('en-US')}`)
        .join(', ')}`,
      `  a sync from ${new Date(readable).toTimeString().slice(0, 8)} (in ${inSeconds} s) reads them`,
    );
  }
  lines.push(`done in ${report.durationMs} ms`);
  return lines.join('\n');
}

/** `tendril sync`. */
export const registerSyncCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('sync')
    .description('read changes from the EHR into the outbox')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--once', 'run one backload or incremental poll and exit')
    .option('--connection <id>', 'only this connection')
    .option('--stream <name>', 'only this stream')
    .option('--full', 're-read everything (backload) and confirm deletes')
    .option('--json', 'print one JSON object with the counts')
    .action(
      async (opts: {
        config: string;
        once?: boolean;
        connection?: string;
        stream?: string;
        full?: boolean;
        json?: boolean;
      }) => {
        if (!opts.once) {
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            'sync runs once: add --once. To keep polling on a schedule, run the agent: tendril run (docs/running.md)',
          );
        }
        await ctx.withAgent(opts.config, async (cradle) => {
          const progress =
            opts.json || !ctx.io.stderr.isTTY ? undefined : createProgress(ctx.io.stderr, 'rows read');
          const { report, failed } = await runSyncOnce(cradle, {
            ...(opts.connection ? { connection: opts.connection } : {}),
            ...(opts.stream ? { stream: opts.stream } : {}),
            ...(opts.full ? { full: true } : {}),
            ...(progress
              ? {
                  onProgress: (_c: string, stream: string, read: number, total?: number) =>
                    progress.tick(stream, read, total),
                }
              : {}),
          });
          progress?.stop();
          ctx.write(opts.json ? JSON.stringify(report) : renderSyncReport(report));
          if (failed) ctx.setExitCode(EXIT.partialFailure);
        });
      },
    );
};
