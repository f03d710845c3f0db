import { connectorForSite, isTendrilError, TendrilError, type ConnectionConfig } from '@tendril/core';
import {
  deliverNightlyScript,
  reconcileStream,
  streamsOf,
  type Logger as EngineLogger,
  type NightlyScriptDelivery,
} from '@tendril/scheduler';
import type { CommandRegistrar } from '../cli-context.js';
import type { Cradle } from '../container.js';
import { EXIT } from '../exit-codes.js';

export interface ReconcileOptions {
  readonly connection: string;
  /** Reconcile this stream now. */
  readonly stream?: string;
  /** Release the guard for this run: emit every confirmed delete (docs/sync-semantics.md, "Nightly reconciliation" step 5). */
  readonly approve?: boolean;
  /** Run the connection's nightly scripts now (their rows go to the outbox). */
  readonly scripts?: boolean;
  /** Rolling re-hash day (tests); default: today. */
  readonly rehashDay?: number;
}

export interface ReconcileStreamReport {
  readonly stream: string;
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
  readonly keysScanned?: number;
  readonly rehashSlice?: { readonly slice: number; readonly slices: number };
  /** Deletes were held back by the guard: nothing was emitted for them. */
  readonly guardTripped: boolean;
  /** The run had the guard released (`--approve`). */
  readonly approved: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface ReconcileReport {
  readonly connection: string;
  readonly stream?: ReconcileStreamReport;
  readonly scripts?: readonly (
    NightlyScriptDelivery | { script: string; error: { code: string; message: string } }
  )[];
  readonly durationMs: number;
}

function connectionOf(cradle: Cradle, id: string): ConnectionConfig {
  const connection = cradle.config.connections.find((c) => c.id === id);
  if (!connection) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--connection ${id} is not in the config; configured: ${cradle.config.connections.map((c) => c.id).join(', ')}`,
    );
  }
  return connection;
}

function failureOf(error: unknown): { code: string; message: string } {
  return isTendrilError(error)
    ? { code: error.code, message: error.message }
    : { code: 'TENDRIL_E_INTERNAL', message: 'unexpected failure; see the log' };
}

/**
 * `tendril reconcile`: the nightly job of one connection, now. `stream`: the reconciliation of
 * that stream (keys-only scan + rolling re-hash for `timestamp` streams, full re-read otherwise;
 * deletes confirmed by point lookup, behind the guard). `approve` releases the guard for this run,
 * so deletes it held back are emitted. `scripts`: the connection's nightly scripts, their rows
 * delivered as custom element events.
 */
export async function runReconcile(cradle: Cradle, options: ReconcileOptions): Promise<ReconcileReport> {
  const { connectors, store, sqlClients, logger } = cradle;
  const started = Date.now();
  const connection = connectionOf(cradle, options.connection);
  const connector = connectorForSite(connectors.get(connection.connector)!, connection.tableMap);
  const engineLogger = (logger as unknown as EngineLogger).child({ connectionId: connection.id });
  const deps = { sql: sqlClients.get(connection), store, logger: engineLogger };
  let stream: ReconcileStreamReport | undefined;
  if (options.stream !== undefined) {
    const streams = streamsOf(connection, connector);
    if (!streams.includes(options.stream)) {
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `--stream ${options.stream} is not a stream of connection ${connection.id}; streams: ${streams.join(', ')}`,
      );
    }
    const approved = options.approve === true;
    const zero = {
      stream: options.stream,
      read: 0,
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 0,
      guardTripped: false,
      approved,
    };
    const paused = (await store.getStreamState(connection.id, options.stream))?.paused;
    if (paused) {
      stream = {
        ...zero,
        error: {
          code: 'TENDRIL_E_STREAM_PAUSED',
          message: `stream ${options.stream}: paused by tendril discover (${paused.reason}); fix the schema or the tableMap, then run tendril discover`,
        },
      };
    } else {
      try {
        const result = await reconcileStream(deps, {
          connection,
          connector,
          stream: options.stream,
          ...(approved ? { approveDeletes: true } : {}),
          ...(options.rehashDay !== undefined ? { rehashDay: options.rehashDay } : {}),
        });
        stream = {
          stream: result.stream,
          read: result.read,
          created: result.created,
          updated: result.updated,
          deleted: result.deleted,
          unchanged: result.unchanged,
          ...(result.keysScanned !== undefined ? { keysScanned: result.keysScanned } : {}),
          ...(result.rehashSlice ? { rehashSlice: result.rehashSlice } : {}),
          guardTripped: result.guardTripped,
          approved,
        };
      } catch (error) {
        stream = { ...zero, error: failureOf(error) };
      }
    }
  }
  let scripts: ReconcileReport['scripts'];
  if (options.scripts) {
    const results: NonNullable<ReconcileReport['scripts']>[number][] = [];
    for (const script of connection.nightlyScripts) {
      try {
        results.push(await deliverNightlyScript(deps, { connection, connectorId: connector.id, script }));
      } catch (error) {
        results.push({ script: script.name, error: failureOf(error) });
      }
    }
    scripts = results;
  }
  return {
    connection: connection.id,
    ...(stream ? { stream } : {}),
    ...(scripts ? { scripts } : {}),
    durationMs: Date.now() - started,
  };
}

export function renderReconcileReport(report: ReconcileReport): string {
  const lines = [`connection ${report.connection}`];
  const s = report.stream;
  if (s) {
    if (s.error) {
      lines.push(`  stream ${s.stream}: FAILED ${s.error.code}: ${s.error.message}`);
    } else {
      const keys = s.keysScanned !== undefined ? `, ${s.keysScanned} keys scanned` : '';
      const slice = s.rehashSlice
        ? `, re-hash slice ${s.rehashSlice.slice + 1} of ${s.rehashSlice.slices}`
        : '';
      lines.push(
        `  stream ${s.stream}: read ${s.read}${keys}${slice}; created ${s.created}, updated ${s.updated}, deleted ${s.deleted}, unchanged ${s.unchanged}${s.approved ? ' (guard released by --approve)' : ''}`,
      );
      if (s.guardTripped) {
        lines.push(
          `  GUARD TRIPPED: too many rows vanished at once; no delete was emitted. Check that the connection points at the right database and the user can still read the table. If the deletes are real, run: tendril reconcile --config <file> --connection ${report.connection} --stream ${s.stream} --approve`,
        );
      }
    }
  }
  for (const script of report.scripts ?? []) {
    lines.push(
      'error' in script
        ? `  script ${script.script}: FAILED ${script.error.code}: ${script.error.message}`
        : `  script ${script.script} (${script.element}, ${script.runDate}): ${script.rows} rows, ${script.inserted} queued for delivery, ${script.existing} already queued earlier today`,
    );
  }
  if (report.scripts?.length === 0) lines.push('  no nightly scripts are configured for this connection');
  lines.push(`done in ${report.durationMs} ms`);
  return lines.join('\n');
}

/** `tendril reconcile`. */
export const registerReconcileCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('reconcile')
    .description(
      "run a connection's nightly job now: reconcile one stream (--approve releases a tripped delete guard) and/or its nightly scripts",
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .requiredOption('--connection <id>', 'the connection')
    .option('--stream <name>', 'reconcile this stream')
    .option('--approve', 'release the reconciliation guard for this run: emit every confirmed delete')
    .option('--scripts', "run the connection's nightly scripts and queue their rows for delivery")
    .option('--json', 'print one JSON object')
    .action(
      async (opts: {
        config: string;
        connection: string;
        stream?: string;
        approve?: boolean;
        scripts?: boolean;
        json?: boolean;
      }) => {
        if (opts.stream === undefined && !opts.scripts) {
          throw new TendrilError('TENDRIL_E_USAGE', 'reconcile needs --stream <name>, --scripts, or both');
        }
        if (opts.approve && opts.stream === undefined) {
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            '--approve releases the guard of one stream: add --stream <name>',
          );
        }
        await ctx.withAgent(opts.config, async (cradle) => {
          const report = await runReconcile(cradle, {
            connection: opts.connection,
            ...(opts.stream !== undefined ? { stream: opts.stream } : {}),
            ...(opts.approve ? { approve: true } : {}),
            ...(opts.scripts ? { scripts: true } : {}),
          });
          ctx.write(opts.json ? JSON.stringify(report) : renderReconcileReport(report));
          const failed =
            report.stream?.error !== undefined || (report.scripts ?? []).some((s) => 'error' in s);
          if (failed) ctx.setExitCode(EXIT.partialFailure);
          else if (report.stream?.guardTripped) ctx.setExitCode(EXIT.reconcileGuard);
        });
      },
    );
};
