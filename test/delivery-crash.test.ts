import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceHash, resourceId, type StoredEvent } from '@tendril/core';
import {
  deliveryRoutesFromConfig,
  startLoopbackReceiver,
  type LoopbackReceiver,
  type ReceivedRequest,
} from '@tendril/delivery';
import { openSqliteStore, type PendingChange } from '@tendril/store';
import { runCli } from './support/cli.js';
import { CLI, REPO_ROOT } from './support/paths.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const EVENTS = 12;
const KILL_AT = 5; // the 6th request (index 5) is held open, then the process is killed

function verified(request: ReceivedRequest): boolean {
  try {
    // Real time: the requests were signed seconds ago, well inside the library's 5-minute window.
    new Webhook(SECRET).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    });
    return true;
  } catch {
    return false;
  }
}

function patient(sourceId: string): PendingChange {
  const id = resourceId('crash-dental', 'Patient', sourceId);
  const resource = { resourceType: 'Patient' as const, id, sourceId, name: [{ family: `F${sourceId}` }] };
  const hash = resourceHash(resource);
  return {
    resourceType: 'Patient',
    sourceId,
    resourceId: id,
    kind: 'created',
    hash,
    data: { ...resource, meta: { hash } },
    refs: {},
  };
}

describe('tendril deliver: kill -9 mid-delivery, restart, nothing lost (built CLI)', () => {
  let dir: string;
  let receiver: LoopbackReceiver;
  let configFile: string;
  let events: StoredEvent[];
  const answered: ReceivedRequest[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril_dlv_crash-'));
    receiver = await startLoopbackReceiver((request) => {
      if (request.index === KILL_AT) return { status: 200, hold: true };
      answered.push(request);
      return { status: 200 };
    });
    const storeFile = join(dir, 'tendril.db');
    const subscription = {
      id: 'crash-sub',
      url: receiver.url,
      allowInsecure: true,
      format: 'json',
      secrets: [SECRET],
      timeoutSeconds: 3,
      connectionIds: [],
      resourceTypes: [],
      eventTypes: [],
    };
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: storeFile },
        logLevel: 'warn',
        connections: [
          {
            id: 'crash-dental',
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { url: `sqlite:${join(dir, 'ehr.db')}` },
          },
        ],
        subscriptions: [subscription],
        // One request at a time, and a short lease so the restarted process takes the orphan quickly.
        delivery: { concurrency: 1, leaseSeconds: 4 },
      }),
    );
    // The outbox as a sync would have left it: events plus their delivery rows, one transaction per page.
    const store = openSqliteStore(storeFile, {
      deliveryRoutes: deliveryRoutesFromConfig({
        subscriptions: [{ ...subscription, enabled: true } as never],
      }),
    });
    await store.migrate();
    events = await store.commitPage({
      connectionId: 'crash-dental',
      connectorId: 'open-dental',
      stream: 'patient',
      changes: Array.from({ length: EVENTS }, (_, i) => patient(String(i + 1))),
      seen: [],
      state: { mode: 'timestamp', watermark: '2025-01-20 14:03:11' },
      seenAt: new Date().toISOString(),
    });
    await store.close();
  });

  afterAll(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers every event at least once, the interrupted one again with the same webhook-id', async () => {
    const child = spawn(process.execPath, [CLI, 'deliver', '--config', configFile, '--once'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)),
    );
    const deadline = Date.now() + 30_000;
    while (receiver.requests.length <= KILL_AT && Date.now() < deadline) await sleep(20);
    expect(receiver.requests.length).toBe(KILL_AT + 1); // the held request is in flight
    child.kill('SIGKILL');
    expect(await exited).toBe(-9);
    const interrupted = String(receiver.requests[KILL_AT]!.headers['webhook-id']);

    // The killed process's lease (4 s) must expire before another process may take the delivery.
    await sleep(4_500);
    const second = await runCli(['deliver', '--config', configFile, '--once', '--json']);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ pending: 0, dead: 0 });

    const answeredIds = answered.map((r) => String(r.headers['webhook-id']));
    expect(new Set(answeredIds)).toEqual(new Set(events.map((e) => e.envelope.id)));
    expect(answeredIds).toContain(interrupted);
    for (const request of receiver.requests) expect(verified(request)).toBe(true);
    // Exactly one event was sent twice: the one in flight when the process died (at least once).
    expect(receiver.requests.length).toBe(EVENTS + 1);

    const list = await runCli([
      'deliveries',
      'list',
      '--config',
      configFile,
      '--status',
      'delivered',
      '--json',
    ]);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(EVENTS);
  });
});
