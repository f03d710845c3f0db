import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceHash, resourceId, type StoredEvent } from '@tendril/core';
import { deliveryRoutesFromConfig, startLoopbackReceiver, type LoopbackReceiver } from '@tendril/delivery';
import { openSqliteStore, type PendingChange } from '@tendril/store';
import { runCli } from './support/cli.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function change(resourceType: 'Patient' | 'Appointment', sourceId: string, version: number): PendingChange {
  const id = resourceId('cli-dental', resourceType, sourceId);
  const resource = { resourceType, id, sourceId, version };
  const hash = resourceHash(resource);
  return {
    resourceType,
    sourceId,
    resourceId: id,
    kind: version === 1 ? 'created' : 'updated',
    hash,
    data: { ...resource, meta: { hash } },
    refs: {},
  };
}

describe('tendril deliveries / deliver / backload (built CLI)', () => {
  let dir: string;
  let receiver: LoopbackReceiver;
  let configFile: string;
  let events: StoredEvent[];
  let status = 400;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril_dlv_cli-'));
    receiver = await startLoopbackReceiver(() => ({ status }));
    const subscription = {
      id: 'cli-sub',
      url: receiver.url,
      allowInsecure: true,
      secrets: [SECRET],
      eventTypes: ['patient.*'],
    };
    configFile = join(dir, 'tendril.yaml');
    const storeFile = join(dir, 'tendril.db');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: storeFile },
        logLevel: 'silent',
        connections: [
          {
            id: 'cli-dental',
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { url: `sqlite:${join(dir, 'ehr.db')}` },
          },
        ],
        subscriptions: [subscription],
      }),
    );
    const store = openSqliteStore(storeFile, {
      deliveryRoutes: deliveryRoutesFromConfig({
        subscriptions: [{ ...subscription, enabled: true, connectionIds: [], resourceTypes: [] } as never],
      }),
    });
    await store.migrate();
    events = await store.commitPage({
      connectionId: 'cli-dental',
      connectorId: 'open-dental',
      stream: 'patient',
      changes: [
        change('Patient', '1', 1),
        change('Appointment', '5', 1),
        change('Patient', '2', 1),
        change('Patient', '1', 2),
      ],
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

  it('dead-letters 4xx, lists them, replays them with the same webhook-id, and backloads current state', async () => {
    const cli = async (...args: string[]) => {
      const result = await runCli([...args, '--config', configFile]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return result.stdout;
    };
    // Only patient events were routed (eventTypes: patient.*): 3 deliveries, all refused with 400.
    expect(JSON.parse(await cli('deliver', '--once', '--json'))).toMatchObject({
      attempted: 3,
      dead: 3,
      pending: 0,
    });
    const dead = JSON.parse(await cli('deliveries', 'list', '--status', 'dead', '--json')) as {
      id: number;
      eventId: string;
    }[];
    expect(dead.map((d) => d.eventId)).toEqual([events[0], events[2], events[3]].map((e) => e!.envelope.id));
    const shown = JSON.parse(await cli('deliveries', 'show', String(dead[0]!.id), '--json'));
    expect(shown.attempts).toMatchObject([{ number: 1, status: 400, outcome: 'permanent' }]);

    status = 200;
    const replay = JSON.parse(
      await cli('deliveries', 'replay', '--subscription', 'cli-sub', '--resource', 'Patient', '--json'),
    );
    expect(replay.created).toHaveLength(3);
    expect(JSON.parse(await cli('deliver', '--once', '--json'))).toMatchObject({ delivered: 3, pending: 0 });
    const replayedIds = receiver.requests.slice(3).map((r) => r.headers['webhook-id']);
    expect(replayedIds).toEqual(dead.map((d) => d.eventId));

    // Backload: the current state of each patient (latest event), not appointments, not old versions.
    const backload = JSON.parse(
      await cli('backload', '--subscription', 'cli-sub', '--resource', 'Patient', '--json'),
    );
    expect(backload).toMatchObject({ total: 2, enqueued: 2, resumed: false });
    expect(JSON.parse(await cli('deliver', '--once', '--json'))).toMatchObject({ delivered: 2 });
    expect(new Set(receiver.requests.slice(6).map((r) => r.headers['webhook-id']))).toEqual(
      new Set([events[2]!.envelope.id, events[3]!.envelope.id]),
    );
    expect(await cli('deliveries', 'subscriptions')).toMatch(/^cli-sub {2}active {2}pending=0 dead=3/);
  });

  it('reports a bad subscription policy as a config problem naming the field', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      JSON.stringify({
        store: { sqlite: join(dir, 'never.db') },
        connections: [
          {
            id: 'x',
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { url: 'sqlite:x.db' },
          },
        ],
        subscriptions: [
          {
            id: 'bad',
            url: 'http://example.com/hook',
            secrets: ['whsec_short'],
            policy: { healthyRetryPolicy: { minDelayTarget: 0, maxDelayTarget: 20, numRetries: 3 } },
          },
        ],
      }),
    );
    const result = await runCli(['deliver', '--once', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'subscriptions.0.policy: healthyRetryPolicy.minDelayTarget must be greater than or equal to 1',
    );
    expect(result.stderr).toContain('subscriptions.0.url: must use https://');
    expect(result.stderr).toContain('subscriptions.0.secrets.0:');
    expect(result.stderr).not.toContain('whsec_short');
  });
});
