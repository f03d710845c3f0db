import { TendrilError } from '@tendril/core';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from './metrics.js';
import { createApiServer, type ApiServer } from './server.js';
import type { StatusSnapshot, StreamStatus } from './status.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function stream(overrides: Partial<StreamStatus> = {}): StreamStatus {
  return {
    stream: 'patients',
    mode: 'timestamp',
    status: 'healthy',
    stale: false,
    lastPollFinishedAt: '2025-06-01T11:58:00.000Z',
    lagSeconds: 120,
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
  overrides: { state?: StatusSnapshot['agent']['state']; streams?: StreamStatus[]; storeOk?: boolean } = {},
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
      deliveries: { subscriptions: 2, pending: 17, dead: 3 },
      writebackWorker: 'not-yet',
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
        outbox: { events: 31337, undelivered: null },
        deadLetters: null,
        pendingWritebacks: null,
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

async function serve(status: () => Promise<StatusSnapshot>): Promise<string> {
  server = createApiServer({ host: '127.0.0.1', port: 0, status, logger: silent });
  return server.listen();
}

describe('GET /healthz', () => {
  it('is 200 and ok when running with healthy streams', async () => {
    const base = await serve(async () => snapshot());
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      live: true,
      ready: true,
      streams: { healthy: 1, unhealthy: 0, stale: 0 },
    });
  });

  it('stays ready (200) but says degraded when a stream fails or is stale', async () => {
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
      }),
    );
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; problems: string[] };
    expect(body.status).toBe('degraded');
    expect(body.problems).toEqual([
      'smile-dental-main/patients: failing (TENDRIL_E_DB_CONNECT)',
      'smile-dental-main/appointments: no successful read for more than 150 minutes',
    ]);
  });

  it('is 503 when not ready: stopping, or the store fails, or the status cannot be built', async () => {
    for (const s of [snapshot({ state: 'stopping' }), snapshot({ storeOk: false })]) {
      const base = await serve(async () => s);
      const response = await fetch(`${base}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'down', live: true, ready: false });
      await server!.close();
      server = undefined;
    }
    const base = await serve(async () => {
      throw new TendrilError('TENDRIL_E_STORE', 'The agent store failed during countLive.');
    });
    const response = await fetch(`${base}/healthz`);
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
  it('is Prometheus text: HELP and TYPE before each family, escaped labels, no made-up zeros', async () => {
    const base = await serve(async () => snapshot({ streams: [stream({ stream: 'odd"name\\x' })] }));
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    const declared = new Map<string, string>();
    let current: string | undefined;
    for (const line of lines) {
      const help = /^# HELP (\w+) \S/.exec(line);
      const type = /^# TYPE (\w+) (gauge|counter)$/.exec(line);
      if (help) {
        current = help[1];
        continue;
      }
      if (type) {
        expect(type[1]).toBe(current);
        declared.set(type[1]!, type[2]!);
        continue;
      }
      // Sample: name{labels} value, belonging to the family declared just before.
      const sample = /^(\w+)(\{[^}]*\})? (-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|[+-]Inf)$/.exec(line);
      expect(sample, line).not.toBeNull();
      expect(sample![1]).toBe(current);
    }
    expect([...declared.keys()].sort()).toEqual([...METRIC_NAMES].sort());
    expect(declared.get('tendril_scheduler_skipped_ticks_total')).toBe('counter');
    expect(text).toContain(
      'tendril_stream_live_records{connection="smile-dental-main",stream="odd\\"name\\\\x"} 9876',
    );
    expect(text).toContain(
      'tendril_stream_last_run_rows{connection="smile-dental-main",stream="odd\\"name\\\\x",change="updated"} 8',
    );
    expect(text).toContain('tendril_outbox_events{connection="smile-dental-main"} 31337');
    expect(text).toContain('tendril_agent_uptime_seconds 7200');
    expect(text).toContain(
      `tendril_agent_start_time_seconds ${Date.parse('2025-06-01T10:00:00.000Z') / 1000}`,
    );
    expect(text).toContain('tendril_scheduler_skipped_ticks_total{connection="smile-dental-main"} 2');
    expect(text).toContain('tendril_deliveries_pending 17');
    expect(text).toContain('tendril_deliveries_dead 3');
    // Unknown in this version: declared, but without samples.
    for (const name of ['tendril_dead_letters', 'tendril_writebacks_pending', 'tendril_outbox_undelivered']) {
      expect(lines.some((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))).toBe(false);
    }
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
    expect(html).toMatch(/data-metric="dead-letters"><span class="na"[^>]*>n\/a</);
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
