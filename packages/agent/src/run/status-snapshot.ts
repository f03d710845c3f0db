import type {
  ConnectionStatus,
  Freshness,
  StatusSnapshot,
  StreamStatus,
  SubscriptionStatus,
} from '@tendril/api';
import {
  isTendrilError,
  streamVerification,
  type ConnectionConfig,
  type ConnectorDefinition,
} from '@tendril/core';
import type { SchedulerSnapshot } from '@tendril/scheduler';
import type { Store } from '@tendril/store';

export interface SnapshotSources {
  readonly store: Store;
  readonly scheduler: SchedulerSnapshot;
  readonly agent: {
    version: string;
    pid: number;
    startedAt: Date;
    state: StatusSnapshot['agent']['state'];
    lastUpgrade?: StatusSnapshot['agent']['lastUpgrade'];
  };
  /** The configured subscriptions (id, enabled); undefined when no dispatcher runs in this process. */
  readonly subscriptions?: readonly { readonly id: string; readonly enabled: boolean }[];
  /** What a stream is verified against at this site (core `streamVerification`). */
  readonly streamVerification?: (connectionId: string, stream: string) => string | undefined;
  readonly now: Date;
}

/**
 * What each configured stream is verified against at this site, for the status snapshot: "verified
 * at install (…)" once `tendril map` confirmed its mapping (the connection's `tableMap`), else the
 * stream's own evidence ("replica DDL", "public queries — confirm with discover") or the
 * connector's `verification.against`. Unknown connection or connector: undefined.
 */
export function configuredStreamVerification(
  connections: readonly ConnectionConfig[],
  connectors: ReadonlyMap<string, ConnectorDefinition>,
): (connectionId: string, stream: string) => string | undefined {
  return (connectionId, stream) => {
    const connection = connections.find((c) => c.id === connectionId);
    const connector = connection ? connectors.get(connection.connector) : undefined;
    return connector && connection ? streamVerification(connector, stream, connection.tableMap) : undefined;
  };
}

/**
 * How current a stream is: the age of its last successful read against the poll interval.
 * `late` past two intervals (at least one poll missed or failed), `stale` past the read-stale
 * threshold (a problem on its own, `agent.health.degraded`).
 */
export function freshnessOf(
  lastReadAt: string | undefined,
  expectedEverySeconds: number,
  stale: boolean,
  now: Date,
): Freshness {
  if (!lastReadAt) return { state: 'never', ageSeconds: null, expectedEverySeconds };
  const ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(lastReadAt)) / 1000));
  const state = stale ? 'stale' : ageSeconds > 2 * expectedEverySeconds ? 'late' : 'fresh';
  return { state, lastReadAt, ageSeconds, expectedEverySeconds };
}

/**
 * Builds the status snapshot from the store (durable: cursors, last runs, counts per connection
 * and per subscription) and the scheduler (this process: health, backoff, next runs). A store that
 * fails is reported as such and its numbers become null ("n/a"), never zeros. Quarantined rows
 * are counted per stream and per connection (docs/quarantine.md).
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
        freshness: freshnessOf(finished, c.pollIntervalSeconds, h.stale, now),
        quarantined: (await guard(() => store.countQuarantine(c.id, h.stream))) ?? null,
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
    const undelivered = await guard(() => store.deliveries.count({ connectionId: c.id, status: 'pending' }));
    const dead = await guard(() => store.deliveries.count({ connectionId: c.id, status: 'dead' }));
    const writebacks = await guard(() => store.writebacks.countPending(c.id));
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
      outbox: { events: events ?? null, undelivered: undelivered ?? null },
      deadLetters: dead ?? null,
      pendingWritebacks: writebacks ?? null,
      quarantined: (await guard(() => store.countQuarantine(c.id))) ?? null,
      scripts: c.scripts,
      streams,
    });
  }

  const subscriptions: SubscriptionStatus[] = [];
  if (sources.subscriptions && sources.subscriptions.length > 0) {
    const states = new Map(
      ((await guard(() => store.deliveries.subscriptionStates())) ?? []).map((s) => [s.subscriptionId, s]),
    );
    for (const sub of sources.subscriptions) {
      const state = states.get(sub.id);
      const pending = await guard(() =>
        store.deliveries.count({ subscriptionId: sub.id, status: 'pending' }),
      );
      const dead = await guard(() => store.deliveries.count({ subscriptionId: sub.id, status: 'dead' }));
      subscriptions.push({
        id: sub.id,
        enabled: sub.enabled,
        state: state?.state ?? 'active',
        ...(state?.reason ? { reason: state.reason } : {}),
        ...(state && state.state !== 'active' ? { since: new Date(state.changedAtMs).toISOString() } : {}),
        pending: pending ?? null,
        dead: dead ?? null,
      });
    }
  }
  const protection = await guard(() => store.payloadProtection());
  const sizeBytes = await guard(() => store.sizeBytes());
  const pending = await guard(() => store.deliveries.count({ status: 'pending' }));
  const dead = await guard(() => store.deliveries.count({ status: 'dead' }));
  return {
    generatedAt: now.toISOString(),
    agent: {
      version: sources.agent.version,
      ...(sources.agent.lastUpgrade ? { lastUpgrade: sources.agent.lastUpgrade } : {}),
      pid: sources.agent.pid,
      startedAt: sources.agent.startedAt.toISOString(),
      uptimeSeconds: Math.max(0, Math.round((now.getTime() - sources.agent.startedAt.getTime()) / 1000)),
      state: sources.agent.state,
      readStaleMinutes: scheduler.readStaleMinutes,
      delivery: sources.subscriptions === undefined ? 'not-yet' : 'running',
      deliveries: {
        subscriptions: sources.subscriptions?.filter((s) => s.enabled).length ?? 0,
        pending: pending ?? null,
        dead: dead ?? null,
      },
      subscriptions,
      writebackWorker: scheduler.writebackWorker,
    },
    store: {
      ...(storeError ? { ok: false, error: storeError } : { ok: true }),
      encryption: protection === undefined ? null : protection.protection === 'sealed' ? 'site-key' : 'none',
      sizeBytes: sizeBytes ?? null,
    },
    connections,
  };
}
