import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dentrixEnterprise } from '@tendril/connector-dentrix-enterprise';
import { ConnectionConfig, type ConnectorDefinition } from '@tendril/core';
import type { SchedulerSnapshot } from '@tendril/scheduler';
import { openSqliteStore, type Store } from '@tendril/store';
import { buildStatusSnapshot, configuredStreamVerification } from './status-snapshot.js';

/**
 * The status snapshot (`/status`, the status page, `tendril status`) says per stream what it is
 * verified against at this site, as `tendril connectors --config` does: Dentrix Enterprise's
 * evidence levels, and "verified at install" once `tendril map` confirmed a stream's mapping.
 */
describe('status snapshot: per-stream verification', () => {
  let store: Store;
  const STREAMS = ['patients', 'appointments', 'payments', 'coverage-primary'] as const;
  const connection = ConnectionConfig.parse({
    id: 'dx-site',
    connector: 'dentrix-enterprise',
    timezone: 'America/Chicago',
    database: { url: 'sqlite::memory:' },
    tableMap: {
      patients: {
        table: 'DDB_PAT_BASE',
        verifiedAtInstall: {
          at: '2026-11-30T15:00:00.000Z',
          by: 'tendril map',
          sampleRows: 200,
          failedRows: 3,
        },
      },
    },
  });
  const connectors = new Map<string, ConnectorDefinition>([['dentrix-enterprise', dentrixEnterprise]]);
  const scheduler: SchedulerSnapshot = {
    state: 'running',
    readStaleMinutes: 150,
    writebackWorker: 'not-yet',
    connections: [
      {
        id: 'dx-site',
        connector: 'dentrix-enterprise',
        timezone: 'America/Chicago',
        pollExpression: '*/10 * * * *',
        pollIntervalSeconds: 600,
        offsetSeconds: 0,
        nightlyTime: '02:00',
        running: [],
        scripts: [],
        skippedTicks: 0,
        streams: STREAMS.map((stream) => ({
          connectionId: 'dx-site',
          stream,
          status: 'healthy' as const,
          consecutiveFailures: 0,
          stale: false,
        })),
      },
    ],
  };

  beforeAll(async () => {
    store = openSqliteStore(':memory:');
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('reports the evidence of each stream, and "verified at install" for a stream tendril map confirmed', async () => {
    const snapshot = await buildStatusSnapshot({
      store,
      scheduler,
      agent: { version: 'test', pid: 1, startedAt: new Date('2026-12-01T00:00:00Z'), state: 'running' },
      streamVerification: configuredStreamVerification([connection], connectors),
      now: new Date('2026-12-01T00:05:00Z'),
    });
    const verification = Object.fromEntries(
      snapshot.connections[0]!.streams.map((s) => [s.stream, s.verification]),
    );
    expect(verification).toEqual({
      patients: 'verified at install (tendril map, 2026-11-30: 200 rows mapped, 3 failed)',
      appointments: 'replica DDL',
      payments: 'public queries — confirm with discover',
      'coverage-primary':
        'replica DDL (DDB_PAT_BASE) + public queries (DDB_INSURED_BASE, DDB_INSURANCE_BASE) — confirm with discover',
    });
  });

  it('says nothing for a connection or connector it does not know', () => {
    const verify = configuredStreamVerification([connection], connectors);
    expect(verify('elsewhere', 'patients')).toBeUndefined();
    expect(configuredStreamVerification([connection], new Map())('dx-site', 'patients')).toBeUndefined();
  });
});
