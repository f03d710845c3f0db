import { healthOf, type StatusSnapshot } from './status.js';

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  readonly samples: { labels: Labels; value: number }[];
}

/** Label values escaped as the exposition format requires: backslash, double quote, newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function seconds(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** Every metric name Tendril exposes (docs/running.md lists them). */
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
  'tendril_outbox_events',
  'tendril_outbox_undelivered',
  'tendril_deliveries_pending',
  'tendril_deliveries_dead',
  'tendril_dead_letters',
  'tendril_writebacks_pending',
  'tendril_scheduler_skipped_ticks_total',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/**
 * The snapshot in the Prometheus text exposition format (version 0.0.4): one HELP and one TYPE
 * line per family, then its samples. Families whose value Tendril cannot know yet (dead letters,
 * pending writebacks) have no samples rather than a made-up zero.
 */
export function renderMetrics(snapshot: StatusSnapshot): string {
  const families = new Map<MetricName, Family>();
  const family = (name: MetricName, type: Family['type'], help: string) => {
    const f: Family = { name, type, help, samples: [] };
    families.set(name, f);
    return f;
  };
  const startTime = family(
    'tendril_agent_start_time_seconds',
    'gauge',
    'When the agent process started, Unix time in seconds.',
  );
  const uptime = family('tendril_agent_uptime_seconds', 'gauge', 'Seconds since the agent process started.');
  const ready = family(
    'tendril_agent_ready',
    'gauge',
    '1 when the agent is running with a working store (readiness), else 0.',
  );
  const status = family(
    'tendril_stream_status',
    'gauge',
    'Stream state as a state set: 1 for the current status (unknown, healthy, unhealthy), 0 for the others.',
  );
  const stale = family(
    'tendril_stream_stale',
    'gauge',
    '1 when the stream had no successful read for longer than the read-stale threshold.',
  );
  const lag = family(
    'tendril_stream_lag_seconds',
    'gauge',
    'Seconds since the last successful poll of the stream.',
  );
  const lastSuccess = family(
    'tendril_stream_last_success_timestamp_seconds',
    'gauge',
    'End of the last successful poll, Unix time in seconds.',
  );
  const failures = family(
    'tendril_stream_consecutive_failures',
    'gauge',
    'Polls of the stream that failed in a row (reset by a success).',
  );
  const live = family(
    'tendril_stream_live_records',
    'gauge',
    'Records of the stream currently live in the shadow store.',
  );
  const lastRun = family(
    'tendril_stream_last_run_rows',
    'gauge',
    'Rows of the most recent run of the stream, by change (read, created, updated, deleted, unchanged).',
  );
  const outbox = family('tendril_outbox_events', 'gauge', 'Events in the outbox of the connection.');
  const undelivered = family(
    'tendril_outbox_undelivered',
    'gauge',
    'Outbox events of the connection not yet delivered to every subscription (absent while not counted per connection).',
  );
  const pending = family(
    'tendril_deliveries_pending',
    'gauge',
    'Webhook deliveries due, in flight or waiting to retry, over all subscriptions.',
  );
  const deadAll = family(
    'tendril_deliveries_dead',
    'gauge',
    'Dead-lettered webhook deliveries over all subscriptions.',
  );
  const dead = family(
    'tendril_dead_letters',
    'gauge',
    'Dead-lettered deliveries of the connection (absent while not counted per connection; see tendril_deliveries_dead).',
  );
  const writebacks = family(
    'tendril_writebacks_pending',
    'gauge',
    'Writebacks queued and not yet applied (absent until writeback exists).',
  );
  const skipped = family(
    'tendril_scheduler_skipped_ticks_total',
    'counter',
    'Scheduled runs skipped because the previous run of the same job was still running.',
  );

  const verdict = healthOf(snapshot);
  const startSeconds = seconds(snapshot.agent.startedAt);
  if (startSeconds !== undefined) startTime.samples.push({ labels: {}, value: startSeconds });
  uptime.samples.push({ labels: {}, value: snapshot.agent.uptimeSeconds });
  ready.samples.push({ labels: {}, value: verdict.ready ? 1 : 0 });
  if (snapshot.agent.deliveries.pending !== null)
    pending.samples.push({ labels: {}, value: snapshot.agent.deliveries.pending });
  if (snapshot.agent.deliveries.dead !== null)
    deadAll.samples.push({ labels: {}, value: snapshot.agent.deliveries.dead });

  for (const c of snapshot.connections) {
    const conn = { connection: c.id };
    if (c.outbox.events !== null) outbox.samples.push({ labels: conn, value: c.outbox.events });
    if (c.outbox.undelivered !== null)
      undelivered.samples.push({ labels: conn, value: c.outbox.undelivered });
    if (c.deadLetters !== null) dead.samples.push({ labels: conn, value: c.deadLetters });
    if (c.pendingWritebacks !== null) writebacks.samples.push({ labels: conn, value: c.pendingWritebacks });
    skipped.samples.push({ labels: conn, value: c.skippedTicks });
    for (const s of c.streams) {
      const labels = { connection: c.id, stream: s.stream };
      for (const state of ['unknown', 'healthy', 'unhealthy'] as const) {
        status.samples.push({ labels: { ...labels, status: state }, value: s.status === state ? 1 : 0 });
      }
      stale.samples.push({ labels, value: s.stale ? 1 : 0 });
      if (s.lagSeconds !== null) lag.samples.push({ labels, value: s.lagSeconds });
      const success = seconds(s.lastPollFinishedAt);
      if (success !== undefined) lastSuccess.samples.push({ labels, value: success });
      failures.samples.push({ labels, value: s.consecutiveFailures });
      if (s.liveRecords !== null) live.samples.push({ labels, value: s.liveRecords });
      if (s.lastRun) {
        for (const change of ['read', 'created', 'updated', 'deleted', 'unchanged'] as const) {
          lastRun.samples.push({ labels: { ...labels, change }, value: s.lastRun.counts[change] });
        }
      }
    }
  }

  const lines: string[] = [];
  for (const f of families.values()) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const sample of f.samples) {
      const entries = Object.entries(sample.labels);
      const labelText = entries.length
        ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
        : '';
      lines.push(`${f.name}${labelText} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
