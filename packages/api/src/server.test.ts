import { TendrilError } from '@tendril/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgentMetrics, METRIC_NAMES } from './metrics.js';
import { createApiServer, type ApiServer } from './server.js';
import type { StatusSnapshot, StreamStatus, SubscriptionStatus } from './status.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function stream(overrides: Partial<StreamStatus> = {}): StreamStatus {
  return {
    stream: 'patients',
    mode: 'timestamp',
    status: 'healthy',
    stale: false,
    lastPollFinishedAt: '2025-06-01T11:58:00.000Z',
    lagSeconds: 120,
    freshness: {
      state: 'fresh',
      lastReadAt: '2025-06-01T11:58:00.000Z',
      ageSeconds: 120,
      expectedEverySeconds: 600,
    },
    quarantined: null,
    consecutiveFailures: 0,
    liveRecords: 9876,
    lastRun: {
      kind: 'poll',
      status: 'succeeded',
      startedAt: '2025-06-01T11:57:59.000Z',
      finishedAt: '2025-06-01T11:58:00.000Z',
      counts: { read: 12, created: 3, updated: 8, deleted: 1, unchanged: 0 },
    },
    ...overrides,
  };
}

function snapshot(
  overrides: {
    state?: StatusSnapshot['agent']['state'];
    streams?: StreamStatus[];
    storeOk?: boolean;
    subscriptions?: SubscriptionStatus[];
    dead?: number | null;
    quarantined?: number | null;
  } = {},
): StatusSnapshot {
  return {
    generatedAt: '2025-06-01T12:00:00.000Z',
    agent: {
      version: '0.1.0',
      pid: 4242,
      startedAt: '2025-06-01T10:00:00.000Z',
      uptimeSeconds: 7200,
      state: overrides.state ?? 'running',
      readStaleMinutes: 150,
      delivery: 'running',
      deliveries: { subscriptions: 2, pending: 17, dead: overrides.dead === undefined ? 0 : overrides.dead },
      subscriptions: overrides.subscriptions ?? [
        { id: 'crm', enabled: true, state: 'active', pending: 17, dead: 0 },
      ],
      writebackWorker: 'running',
    },
    store:
      overrides.storeOk === false
        ? { ok: false, error: { code: 'TENDRIL_E_STORE', message: 'disk full' } }
        : { ok: true },
    connections: [
      {
        id: 'smile-dental-main',
        connector: 'open-dental',
        timezone: 'America/New_York',
        nextPollAt: '2025-06-01T12:08:25.000Z',
        nextNightlyAt: '2025-06-02T06:00:00.000Z',
        pollIntervalSeconds: 600,
        offsetSeconds: 505,
        running: [],
        skippedTicks: 2,
        outbox: { events: 31337, undelivered: 17 },
        deadLetters: 0,
        pendingWritebacks: 4,
        quarantined: overrides.quarantined ?? null,
        scripts: [],
        streams: overrides.streams ?? [stream()],
      },
    ],
  };
}

let server: ApiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(
  status: () => Promise<StatusSnapshot>,
  extra: Partial<Parameters<typeof createApiServer>[0]> = {},
): Promise<string> {
  server = createApiServer({ host: '127.0.0.1', port: 0, status, logger: silent, ...extra });
  return server.listen();
}

describe('GET /healthz (liveness)', () => {
  it('is 200 while the agent loop runs, whatever the streams or the store say', async () => {
    const base = await serve(
      async () => {
        throw new TendrilError('TENDRIL_E_STORE', 'The agent store failed during countLive.');
      },
      { liveness: () => ({ state: 'running', uptimeSeconds: 5, version: '0.1.0' }) },
    );
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'live',
      live: true,
      state: 'running',
      uptimeSeconds: 5,
      version: '0.1.0',
    });
  });

  it('is 503 once the agent is stopping', async () => {
    const base = await serve(async () => snapshot({ state: 'stopping' }));
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: 'stopping', live: false });
  });
});

describe('GET /readyz (readiness)', () => {
  it('is 200 and ok when nothing needs attention', async () => {
    const base = await serve(async () => snapshot());
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      live: true,
      ready: true,
      streams: { healthy: 1, unhealthy: 0, stale: 0 },
      problems: [],
    });
  });

  it('is 503 degraded with every reason: failing and stale streams, subscriptions not delivering, dead letters', async () => {
    const base = await serve(async () =>
      snapshot({
        streams: [
          stream({
            status: 'unhealthy',
            consecutiveFailures: 4,
            lastError: { code: 'TENDRIL_E_DB_CONNECT', message: 'x', at: '2025-06-01T11:59:00.000Z' },
          }),
          stream({ stream: 'appointments', stale: true }),
        ],
        subscriptions: [
          {
            id: 'crm',
            enabled: true,
            state: 'unreachable',
            reason: 'retries exhausted: the endpoint did not answer; probing until it does',
            pending: 40,
            dead: 0,
          },
          { id: 'lab', enabled: true, state: 'paused', pending: 3, dead: 2 },
          { id: 'old', enabled: false, state: 'active', pending: 0, dead: 0 },
        ],
        dead: 2,
      }),
    );
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { status: string; live: boolean; problems: string[] };
    expect(body.status).toBe('degraded');
    expect(body.live).toBe(true);
    expect(body.problems).toEqual([
      'smile-dental-main/patients: failing (TENDRIL_E_DB_CONNECT)',
      'smile-dental-main/appointments: no successful read for more than 150 minutes',
      'subscription crm: unreachable: retries exhausted: the endpoint did not answer; probing until it does',
      'subscription lab: paused: fix the receiver, then tendril deliveries resume (--subscription lab)',
      '2 dead letters: tendril deliveries list --status dead, then retry or replay',
    ]);
  });

  it('counts quarantined rows: per stream and connection, in the last run, and as a problem naming the command', async () => {
    const base = await serve(async () =>
      snapshot({
        quarantined: 2,
        streams: [
          stream({
            quarantined: 2,
            lastRun: {
              kind: 'poll',
              status: 'succeeded',
              startedAt: '2025-06-01T11:57:59.000Z',
              finishedAt: '2025-06-01T11:58:00.000Z',
              counts: {
                read: 12,
                created: 9,
                updated: 0,
                deleted: 0,
                unchanged: 0,
                quarantined: 2,
                warnings: 3,
              },
            },
          }),
        ],
      }),
    );
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { status: string; problems: string[] };
    expect(ready.status).toBe('degraded');
    expect(ready.problems).toEqual([
      'smile-dental-main: 2 rows in quarantine: tendril quarantine list --connection smile-dental-main',
    ]);
    const html = await (await fetch(`${base}/`)).text();
    expect(html).toContain('<td class="num" data-metric="quarantined">2</td>');
    expect(html).toContain('<span data-metric="quarantined">2</span>');
    expect(html).toContain('poll, succeeded, 2 quarantined, 3 values dropped (warnings)');
    const status = (await (await fetch(`${base}/v1/status`)).json()) as StatusSnapshot;
    expect(status.connections[0]!.quarantined).toBe(2);
    expect(status.connections[0]!.streams[0]!.lastRun!.counts).toMatchObject({ quarantined: 2, warnings: 3 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(
      'tendril_stream_quarantined_rows{connection="smile-dental-main",stream="patients"} 2',
    );
  });

  it('is 503 down when stopping, when the store fails, or when the status cannot be built', async () => {
    for (const s of [snapshot({ state: 'stopping' }), snapshot({ storeOk: false })]) {
      const base = await serve(async () => s);
      const response = await fetch(`${base}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'down', ready: false });
      await server!.close();
      server = undefined;
    }
    const base = await serve(async () => {
      throw new TendrilError('TENDRIL_E_STORE', 'The agent store failed during countLive.');
    });
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'down',
      live: true,
      ready: false,
      problems: ['status: TENDRIL_E_STORE'],
    });
  });
});

describe('GET /metrics', () => {
  it('is Prometheus text from prom-client: process defaults, every Tendril family, escaped labels, no made-up zeros', async () => {
    const metrics = createAgentMetrics();
    metrics.pageDuration.observe({ connection: 'smile-dental-main', stream: 'patients' }, 0.2);
    metrics.deliveryLatency.observe({ subscription: 'crm' }, 3);
    metrics.writebackLatency.observe(
      { connection: 'smile-dental-main', command: 'Appointment.book', status: 'written' },
      1.5,
    );
    const base = await serve(
      async () => snapshot({ streams: [stream({ stream: 'odd"name\\x' })], dead: null }),
      { metrics },
    );
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const declared = new Map(
      [...text.matchAll(/^# TYPE (\w+) (gauge|counter|histogram|summary)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    for (const name of METRIC_NAMES) expect(declared.has(name), name).toBe(true);
    // The process defaults.
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(declared.has(name), name).toBe(true);
    expect(declared.get('tendril_scheduler_skipped_ticks_total')).toBe('counter');
    expect(declared.get('tendril_page_duration_seconds')).toBe('histogram');
    expect(text).toContain(
      'tendril_stream_live_records{connection="smile-dental-main",stream="odd\\"name\\\\x"} 9876',
    );
    expect(text).toContain(
      'tendril_stream_last_run_rows{connection="smile-dental-main",stream="odd\\"name\\\\x",change="updated"} 8',
    );
    expect(text).toContain('tendril_outbox_events{connection="smile-dental-main"} 31337');
    expect(text).toContain('tendril_outbox_undelivered{connection="smile-dental-main"} 17');
    expect(text).toContain('tendril_dead_letters{connection="smile-dental-main"} 0');
    expect(text).toContain('tendril_writebacks_pending{connection="smile-dental-main"} 4');
    expect(text).toContain('tendril_agent_uptime_seconds 7200');
    expect(text).toContain(
      `tendril_agent_start_time_seconds ${Date.parse('2025-06-01T10:00:00.000Z') / 1000}`,
    );
    expect(text).toContain('tendril_scheduler_skipped_ticks_total{connection="smile-dental-main"} 2');
    expect(text).toContain('tendril_deliveries_pending 17');
    expect(text).toContain('tendril_subscription_state{subscription="crm",state="active"} 1');
    expect(text).toContain(
      'tendril_page_duration_seconds_count{connection="smile-dental-main",stream="patients"} 1',
    );
    expect(text).toContain('tendril_delivery_latency_seconds_bucket{le="5",subscription="crm"} 1');
    expect(text).toContain(
      'tendril_writeback_latency_seconds_sum{connection="smile-dental-main",command="Appointment.book",status="written"} 1.5',
    );
    // Unknown: NaN on an unlabelled family, no sample on a labelled one — never a 0.
    expect(text).toContain('tendril_deliveries_dead Nan');
    expect(text).not.toMatch(/^tendril_stream_quarantined_rows\{/m);
  });
});

describe('GET / and /v1/status', () => {
  it('serves a self-contained page with the numbers, n/a for unknowns, and escaped text', async () => {
    const base = await serve(async () =>
      snapshot({
        streams: [
          stream({
            status: 'unhealthy',
            consecutiveFailures: 2,
            lastError: {
              code: 'TENDRIL_E_DB_QUERY',
              message: 'bad <b>thing</b> & "more"',
              at: '2025-06-01T11:59:00.000Z',
            },
            verification: 'verified at install (tendril map, 2025-05-30: 200 rows mapped, 0 failed)',
          }),
        ],
      }),
    );
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta http-equiv="refresh" content="15">');
    expect(html).toContain('<title>Tendril agent status: degraded</title>');
    expect(html).toContain('9,876');
    expect(html).toContain('31,337');
    expect(html).toContain('bad &lt;b&gt;thing&lt;/b&gt; &amp; &quot;more&quot;');
    expect(html).not.toContain('<b>thing</b>');
    expect(html).toContain('<span data-metric="dead-letters">0</span>');
    expect(html).toContain('<span data-metric="pending-writebacks">4</span>');
    expect(html).toMatch(
      /data-metric="quarantined"><span class="na" title="the store could not be read[^"]*">n\/a</,
    );
    // Connection times in the office's zone, UTC on hover.
    expect(html).toContain(
      '<time datetime="2025-06-01T11:58:00.000Z" title="2025-06-01 11:58:00 UTC">Jun 1, 2025, 07:58:00 EDT</time>',
    );
    expect(html).toContain('<span class="badge ok">fresh</span>');
    expect(html).toContain('2 min old; read every 10 min');
    expect(html).toContain('2 h 0 min'); // uptime
    expect(html).toContain(
      '<div class="sub">verified at install (tendril map, 2025-05-30: 200 rows mapped, 0 failed)</div>',
    );
    // No scripts and nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script|src=|href="http/i);
  });

  it('returns the snapshot as JSON, and a coded 500 when it cannot be built', async () => {
    const base = await serve(async () => snapshot());
    const ok = await fetch(`${base}/v1/status`);
    expect(await ok.json()).toEqual(snapshot());
    await server!.close();
    const failing = await serve(async () => {
      throw new Error('row value 555-0142 leaked?');
    });
    const response = await fetch(`${failing}/`);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({
      code: 'TENDRIL_E_INTERNAL',
      message: 'building the status failed; see the agent log',
    });
    expect(body).not.toContain('555-0142');
  });
});

describe('the store on the status page (docs/security.md, "PHI at rest")', () => {
  it('says plainly whether patient data is encrypted at rest, and shows the store size', async () => {
    const sealed = {
      ...snapshot(),
      store: { ok: true, encryption: 'site-key', sizeBytes: 193_456_789 },
    } as const;
    const plain = { ...snapshot(), store: { ok: true, encryption: 'none', sizeBytes: 812 } } as const;
    let current: StatusSnapshot = sealed;
    const base = await serve(async () => current);
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('encrypted at rest with the site key');
    expect(page).toContain('<span data-metric="store-size">193.5 MB</span>');
    expect(page).not.toContain('plain text');
    current = plain;
    const plainPage = await (await fetch(`${base}/`)).text();
    expect(plainPage).toContain('no site key: patient data is stored in plain text');
    expect(plainPage).toContain('<span data-metric="store-size">812 B</span>');
    const json = (await (await fetch(`${base}/v1/status`)).json()) as StatusSnapshot;
    expect(json.store).toEqual({ ok: true, encryption: 'none', sizeBytes: 812 });
  });
});
