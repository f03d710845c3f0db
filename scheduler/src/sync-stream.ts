import { mappingContext, TendrilError } from '@tendril/core';
import type { RunKind, StreamState } from '@tendril/store';
import { effectiveChangeMode } from './change-strategy-state.js';
import { strategyFor } from './strategies/registry.js';
import {
  isoNow,
  type StreamRun,
  type StreamSyncDeps,
  type StreamSyncInput,
  type StreamSyncResult,
} from './stream-run.js';

export type { StreamSyncDeps, StreamSyncInput, StreamSyncResult } from './stream-run.js';
export { DEFAULT_REHASH_SLICES, rehashSliceOf } from './strategies/key-reconcile.js';

/**
 * Runs one poll (or backload, with `full`) of one stream: picks the stream's change-detection
 * strategy from the registry (strategies/registry.ts), records the run and its counts, and keeps
 * the stream state — the strategy reads pages outside any local transaction and commits each
 * page's events and cursor together (stream-page.ts).
 */
export async function syncStream(deps: StreamSyncDeps, input: StreamSyncInput): Promise<StreamSyncResult> {
  const table = input.connector.streams[input.stream];
  if (!table) {
    throw new TendrilError(
      'TENDRIL_E_STREAM_UNKNOWN',
      `connector ${input.connector.id} has no stream "${input.stream}"; streams: ${Object.keys(input.connector.streams).join(', ')}`,
    );
  }
  const now = input.now ?? (() => new Date());
  const started = Date.now();
  const state = (await deps.store.getStreamState(input.connection.id, input.stream)) ?? {
    mode: table.cursor.mode,
  };
  // The mode discovery recorded (SQL Server change tracking / rowversion), else the declared one.
  const strategy = strategyFor(effectiveChangeMode(table, state));
  const full = input.full === true || state.baselineRequired !== undefined;
  // A nightly reconciliation scans keys only, unless a baseline is due (then it is the baseline).
  const keysOnly = input.reconcile === true && state.baselineRequired === undefined;
  const kind: RunKind = input.reconcile
    ? 'reconcile'
    : full || strategy.isFirstRead(state)
      ? 'backload'
      : 'poll';
  const run: StreamRun = {
    deps,
    input,
    table,
    ctx: mappingContext({
      connectionId: input.connection.id,
      connectorId: input.connector.id,
      timezone: input.connection.timezone,
      currency: input.connection.currency,
      options: input.connection.options,
    }),
    pageSize: input.connection.sync.pageSize,
    full,
    counts: { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 },
    log: deps.logger.child({ stream: input.stream }),
    now,
    state: { ...state, lastPollStartedAt: isoNow(now) },
    pages: 0,
    guardTripped: false,
    tableRowsScanned: 0,
    quarantineSeen: (await deps.store.countQuarantine(input.connection.id, input.stream)) > 0,
  };
  const runId = await deps.store.startRun({
    connectionId: input.connection.id,
    stream: input.stream,
    kind,
    startedAt: isoNow(now),
  });
  try {
    if (keysOnly) await strategy.reconcile(run);
    else await strategy.poll(run);
    const guardTripped = run.guardTripped;
    const { lastError: _cleared, ...clean } = run.state;
    const kept = guardTripped ? run.state : clean;
    // A run that read everything was the baseline a change of mode asked for.
    const { baselineRequired: _baselineDone, ...baselined } = kept;
    const finalState: StreamState = { ...(keysOnly ? kept : baselined), lastPollFinishedAt: isoNow(now) };
    await deps.store.saveStreamState(input.connection.id, input.stream, finalState);
    await deps.store.finishRun(runId, { status: 'succeeded', finishedAt: isoNow(now), counts: run.counts });
    run.log.info({ event: 'stream.synced', kind, ...run.counts }, 'stream synced');
    return {
      stream: input.stream,
      kind,
      durationMs: Date.now() - started,
      guardTripped,
      ...run.counts,
      ...(run.keysScanned !== undefined ? { keysScanned: run.keysScanned } : {}),
      ...(run.rehashSlice ? { rehashSlice: run.rehashSlice } : {}),
      ...(run.rowsAhead ? { rowsAhead: run.rowsAhead } : {}),
    };
  } catch (error) {
    // A foreign error's message may carry row values, so it travels only as `cause`.
    const failure =
      error instanceof TendrilError
        ? error
        : new TendrilError(
            'TENDRIL_E_INTERNAL',
            `stream ${input.stream} failed unexpectedly; the cause is attached`,
            { cause: error },
          );
    const lastError = { code: failure.code, message: failure.message, at: isoNow(now) };
    await deps.store
      .saveStreamState(input.connection.id, input.stream, { ...run.state, lastError })
      .catch(() => undefined);
    await deps.store
      .finishRun(runId, {
        status: 'failed',
        finishedAt: isoNow(now),
        counts: run.counts,
        error: { code: failure.code, message: failure.message },
      })
      .catch(() => undefined);
    run.log.error(
      { event: 'stream.failed', code: failure.code, retryable: failure.retryable },
      failure.message,
    );
    throw failure;
  }
}
