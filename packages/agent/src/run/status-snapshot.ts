import type { ConnectionStatus, StatusSnapshot, StreamStatus } from '@tendril/api';
import { isTendrilError } from '@tendril/core';
import type { SchedulerSnapshot } from '@tendril/scheduler';
import type { Store } from '@tendril/store';

export interface SnapshotSources {
  readonly store: Store;
  readonly scheduler: SchedulerSnapshot;
  readonly agent: { version: string; pid: number; startedAt: Date; state: StatusSnapshot['agent']['state'] };
  /** Subscriptions the dispatcher sends to; undefined when no dispatcher runs. */
  readonly subscriptions?: number;
  /** What a stream is verified against at this site (core `streamVerification`). */
  readonly streamVerification?: (connectionId: string, stream: string) => string | undefined;
  readonly now: Date;
}

/**
 * Builds the status snapshot from the store (durable: cursors, last runs, counts) and the
 * scheduler (this process: health, backoff, next runs). A store that fails is reported as such and
 * its numbers become null ("n/a"), never zeros. Per-connection outbox depth and dead letters are null
 * (the delivery store counts per subscription; the agent-wide counts are given), pending writebacks
 * until writeback exists.
 */
export async function buildStatusSnapshot(sources: SnapshotSources): Promise<StatusSnapshot> {
  const { store, scheduler, now } = sources;
  let storeError: { code: string; message: string } | undefined;
  const guard = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
    if (storeError) return undefined;
    try {
      return await work();
    } catch (error) {
      storeError = isTendrilError(error)
        ? { code: error.code, message: error.message }
        : { code: 'TENDRIL_E_STORE', message: 'the store failed; see the log' };
      return undefined;
    }
  };

  const connections: ConnectionStatus[] = [];
  for (const c of scheduler.connections) {
    const streams: StreamStatus[] = [];
    for (const h of c.streams) {
      const state = await guard(() => store.getStreamState(c.id, h.stream));
      const live = await guard(() => store.countLive(c.id, h.stream));
      const [run] =
        (await guard(() => store.listRuns({ connectionId: c.id, stream: h.stream, limit: 1 }))) ?? [];
      const finished = state?.lastPollFinishedAt ?? h.lastSuccessAt;
      const lastError = h.lastError ?? state?.lastError;
      const verification = sources.streamVerification?.(c.id, h.stream);
      streams.push({
        stream: h.stream,
        ...(state?.mode ? { mode: state.mode } : {}),
        ...(verification ? { verification } : {}),
        status: h.status,
        stale: h.stale,
        ...(state?.lastPollStartedAt ? { lastPollStartedAt: state.lastPollStartedAt } : {}),
        ...(finished ? { lastPollFinishedAt: finished } : {}),
        lagSeconds: finished ? Math.max(0, Math.round((now.getTime() - Date.parse(finished)) / 1000)) : null,
        ...(state?.watermark ? { watermark: state.watermark } : {}),
        consecutiveFailures: h.consecutiveFailures,
        ...(h.nextRetryAt ? { nextRetryAt: h.nextRetryAt } : {}),
        ...(lastError
          ? { lastError: { code: lastError.code, message: lastError.message, at: lastError.at } }
          : {}),
        liveRecords: live ?? null,
        ...(run
          ? {
              lastRun: {
                kind: run.kind,
                status: run.status,
                startedAt: run.startedAt,
                ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
                counts: run.counts,
              },
            }
          : {}),
        ...(h.lastNightlyAt ? { lastNightlyAt: h.lastNightlyAt } : {}),
        ...(h.lastNightlyError
          ? { lastNightlyError: { code: h.lastNightlyError.code, message: h.lastNightlyError.message } }
          : {}),
      });
    }
    const events = await guard(() => store.countEvents(c.id));
    connections.push({
      id: c.id,
      connector: c.connector,
      timezone: c.timezone,
      ...(c.nextPollAt ? { nextPollAt: c.nextPollAt } : {}),
      ...(c.nextNightlyAt ? { nextNightlyAt: c.nextNightlyAt } : {}),
      ...(c.lastNightlyAt ? { lastNightlyAt: c.lastNightlyAt } : {}),
      pollIntervalSeconds: c.pollIntervalSeconds,
      offsetSeconds: c.offsetSeconds,
      running: c.running,
      skippedTicks: c.skippedTicks,
      // The delivery store counts per subscription, not per connection: the agent-wide numbers are
      // in `agent.deliveries`; per connection stays n/a until the store can count it.
      outbox: { events: events ?? null, undelivered: null },
      deadLetters: null,
      // TODO(writeback): pending writebacks come from the writeback queue once it exists.
      pendingWritebacks: null,
      scripts: c.scripts,
      streams,
    });
  }
  const pending = await guard(() => store.deliveries.count({ status: 'pending' }));
  const dead = await guard(() => store.deliveries.count({ status: 'dead' }));
  return {
    generatedAt: now.toISOString(),
    agent: {
      version: sources.agent.version,
      pid: sources.agent.pid,
      startedAt: sources.agent.startedAt.toISOString(),
      uptimeSeconds: Math.max(0, Math.round((now.getTime() - sources.agent.startedAt.getTime()) / 1000)),
      state: sources.agent.state,
      readStaleMinutes: scheduler.readStaleMinutes,
      delivery: sources.subscriptions === undefined ? 'not-yet' : 'running',
      deliveries: { subscriptions: sources.subscriptions ?? 0, pending: pending ?? null, dead: dead ?? null },
      writebackWorker: scheduler.writebackWorker,
    },
    store: storeError ? { ok: false, error: storeError } : { ok: true },
    connections,
  };
}
