import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { healthOf, type StatusSnapshot } from './status.js';

/** Every Tendril metric family (docs/running.md lists them); the process defaults come on top. */
export const METRIC_NAMES = [
  'tendril_agent_start_time_seconds',
  'tendril_agent_uptime_seconds',
  'tendril_agent_ready',
  'tendril_stream_status',
  'tendril_stream_stale',
  'tendril_stream_lag_seconds',
  'tendril_stream_last_success_timestamp_seconds',
  'tendril_stream_consecutive_failures',
  'tendril_stream_live_records',
  'tendril_stream_last_run_rows',
  'tendril_stream_quarantined_rows',
  'tendril_outbox_events',
  'tendril_outbox_undelivered',
  'tendril_deliveries_pending',
  'tendril_deliveries_dead',
  'tendril_dead_letters',
  'tendril_writebacks_pending',
  'tendril_subscription_state',
  'tendril_scheduler_skipped_ticks_total',
  'tendril_page_duration_seconds',
  'tendril_delivery_latency_seconds',
  'tendril_delivery_request_duration_seconds',
  'tendril_writeback_latency_seconds',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

function seconds(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** What the agent observes as it works, and renders for `GET /metrics`. */
export interface AgentMetrics {
  /** One page of a poll or reconciliation: read, mapped and committed with its cursor. */
  readonly pageDuration: Histogram<'connection' | 'stream'>;
  /** A delivery from queued (its event committed) to delivered (2xx), per subscription. */
  readonly deliveryLatency: Histogram<'subscription'>;
  /** One webhook request, from send to response, per subscription and outcome. */
  readonly deliveryRequestDuration: Histogram<'subscription' | 'outcome'>;
  /** A writeback from accepted by the API to finished (written, failed or timed out). */
  readonly writebackLatency: Histogram<'connection' | 'command' | 'status'>;
  /** `content-type` of the exposition text. */
  readonly contentType: string;
  /** Prometheus text: process defaults, the histograms, and the gauges of this snapshot. */
  render(snapshot: StatusSnapshot): Promise<string>;
}

/**
 * The agent's metrics on their own prom-client registry (never the global one, so two agents in
 * one process — tests — do not share samples): the Node.js process defaults, four histograms the
 * agent observes into, and gauges set from the status snapshot at each scrape. A value Tendril
 * does not know is no sample on a labelled family and NaN on an unlabelled one, never a made-up 0.
 */
export function createAgentMetrics(): AgentMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = <L extends string>(name: MetricName, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });

  const startTime = gauge(
    'tendril_agent_start_time_seconds',
    'When the agent process started, Unix time in seconds.',
  );
  const uptime = gauge('tendril_agent_uptime_seconds', 'Seconds since the agent process started.');
  const ready = gauge(
    'tendril_agent_ready',
    '1 when the agent runs with nothing to attend to (as /readyz 200), else 0.',
  );
  const status = gauge(
    'tendril_stream_status',
    'Stream state as a state set: 1 for the current status (unknown, healthy, unhealthy), 0 for the others.',
    ['connection', 'stream', 'status'],
  );
  const stale = gauge(
    'tendril_stream_stale',
    '1 when the stream had no successful read for longer than the read-stale threshold.',
    ['connection', 'stream'],
  );
  const lag = gauge('tendril_stream_lag_seconds', 'Seconds since the last successful read of the stream.', [
    'connection',
    'stream',
  ]);
  const lastSuccess = gauge(
    'tendril_stream_last_success_timestamp_seconds',
    'End of the last successful read, Unix time in seconds.',
    ['connection', 'stream'],
  );
  const failures = gauge(
    'tendril_stream_consecutive_failures',
    'Polls of the stream that failed in a row (reset by a success).',
    ['connection', 'stream'],
  );
  const live = gauge(
    'tendril_stream_live_records',
    'Records of the stream currently live in the shadow store.',
    ['connection', 'stream'],
  );
  const lastRun = gauge(
    'tendril_stream_last_run_rows',
    'Rows of the most recent run of the stream, by change (read, created, updated, deleted, unchanged).',
    ['connection', 'stream', 'change'],
  );
  const quarantined = gauge(
    'tendril_stream_quarantined_rows',
    'Rows of the stream in quarantine (docs/quarantine.md).',
    ['connection', 'stream'],
  );
  const outbox = gauge('tendril_outbox_events', 'Events in the outbox of the connection.', ['connection']);
  const undelivered = gauge(
    'tendril_outbox_undelivered',
    "Deliveries of the connection's events not yet delivered (due, in flight or waiting to retry), all subscriptions.",
    ['connection'],
  );
  const pending = gauge(
    'tendril_deliveries_pending',
    'Webhook deliveries due, in flight or waiting to retry, over all subscriptions.',
  );
  const deadAll = gauge(
    'tendril_deliveries_dead',
    'Dead-lettered webhook deliveries over all subscriptions.',
  );
  const dead = gauge('tendril_dead_letters', "Dead-lettered deliveries of the connection's events.", [
    'connection',
  ]);
  const writebacks = gauge(
    'tendril_writebacks_pending',
    'Writeback commands of the connection accepted and not yet finished.',
    ['connection'],
  );
  const subscription = gauge(
    'tendril_subscription_state',
    'Subscription state as a state set: 1 for the current state (active, unreachable, paused, disabled).',
    ['subscription', 'state'],
  );
  const skipped = new Counter<'connection'>({
    name: 'tendril_scheduler_skipped_ticks_total',
    help: 'Scheduled runs skipped because the previous run of the same job was still running.',
    labelNames: ['connection'],
    registers: [registry],
  });

  const histograms = {
    pageDuration: new Histogram<'connection' | 'stream'>({
      name: 'tendril_page_duration_seconds',
      help: 'One page of a poll or reconciliation: read, mapped and committed with its cursor.',
      labelNames: ['connection', 'stream'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    deliveryLatency: new Histogram<'subscription'>({
      name: 'tendril_delivery_latency_seconds',
      help: 'A webhook delivery from queued (its event committed) to delivered (2xx), retries included.',
      labelNames: ['subscription'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600],
      registers: [registry],
    }),
    deliveryRequestDuration: new Histogram<'subscription' | 'outcome'>({
      name: 'tendril_delivery_request_duration_seconds',
      help: 'One webhook request, from send to response (outcome: delivered, retryable, permanent).',
      labelNames: ['subscription', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    writebackLatency: new Histogram<'connection' | 'command' | 'status'>({
      name: 'tendril_writeback_latency_seconds',
      help: 'A writeback from accepted by the API to finished (status: written, failed, timed_out).',
      labelNames: ['connection', 'command', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600],
      registers: [registry],
    }),
  };

  const perSnapshot = [
    startTime,
    uptime,
    ready,
    status,
    stale,
    lag,
    lastSuccess,
    failures,
    live,
    lastRun,
    quarantined,
    outbox,
    undelivered,
    pending,
    deadAll,
    dead,
    writebacks,
    subscription,
  ];

  function fill(snapshot: StatusSnapshot): void {
    for (const g of perSnapshot) g.reset();
    skipped.reset();
    const verdict = healthOf(snapshot);
    startTime.set(seconds(snapshot.agent.startedAt) ?? Number.NaN);
    uptime.set(snapshot.agent.uptimeSeconds);
    ready.set(verdict.ready ? 1 : 0);
    pending.set(snapshot.agent.deliveries.pending ?? Number.NaN);
    deadAll.set(snapshot.agent.deliveries.dead ?? Number.NaN);
    for (const s of snapshot.agent.subscriptions) {
      for (const state of ['active', 'unreachable', 'paused', 'disabled'] as const)
        subscription.set({ subscription: s.id, state }, s.state === state ? 1 : 0);
    }
    for (const c of snapshot.connections) {
      const conn = { connection: c.id };
      if (c.outbox.events !== null) outbox.set(conn, c.outbox.events);
      if (c.outbox.undelivered !== null) undelivered.set(conn, c.outbox.undelivered);
      if (c.deadLetters !== null) dead.set(conn, c.deadLetters);
      if (c.pendingWritebacks !== null) writebacks.set(conn, c.pendingWritebacks);
      skipped.inc(conn, c.skippedTicks);
      for (const s of c.streams) {
        const labels = { connection: c.id, stream: s.stream };
        for (const state of ['unknown', 'healthy', 'unhealthy'] as const)
          status.set({ ...labels, status: state }, s.status === state ? 1 : 0);
        stale.set(labels, s.stale ? 1 : 0);
        if (s.lagSeconds !== null) lag.set(labels, s.lagSeconds);
        const success = seconds(s.lastPollFinishedAt);
        if (success !== undefined) lastSuccess.set(labels, success);
        failures.set(labels, s.consecutiveFailures);
        if (s.liveRecords !== null) live.set(labels, s.liveRecords);
        if (s.quarantined !== null) quarantined.set(labels, s.quarantined);
        if (s.lastRun) {
          for (const change of ['read', 'created', 'updated', 'deleted', 'unchanged'] as const)
            lastRun.set({ ...labels, change }, s.lastRun.counts[change]);
        }
      }
    }
  }

  // Scrapes are serialized: one fills the gauges and reads the registry before the next resets them.
  let previous: Promise<unknown> = Promise.resolve();
  return {
    ...histograms,
    contentType: registry.contentType,
    render(snapshot) {
      const next = previous.then(
        () => {
          fill(snapshot);
          return registry.metrics();
        },
        () => {
          fill(snapshot);
          return registry.metrics();
        },
      );
      previous = next.catch(() => undefined);
      return next;
    },
  };
}
