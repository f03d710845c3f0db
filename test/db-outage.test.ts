import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig, type ConnectorDefinition } from '@tendril/core';
import { createScheduler, silentLogger, syncStream, type Scheduler } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { OPEN_DENTAL_SCHEMA, requireFixture } from './support/paths.js';
import { createPrivateMariaDb, type PrivateMariaDb } from './support/private-mariadb.js';

const DATABASE = 'tendril_run_outage';
const PATIENTS = 600;
const PAGE_SIZE = 50;

async function until(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Issue 4 §7: the EHR database stops in the middle of a poll (SIGKILL of our own MariaDB, after
 * page 3 of 12 committed). The stream is marked unhealthy and retried with backoff while the
 * database is down; once it is back the stream recovers by itself, and every row is in the outbox
 * exactly once: nothing skipped, nothing duplicated.
 */
describe('EHR database stopped mid-poll', () => {
  let mariadb: PrivateMariaDb;
  let store: Store;
  let sql: SqlClient;
  let scheduler: Scheduler | undefined;
  let livePatients = 0;
  let storeDir: string | undefined;

  beforeAll(async () => {
    mariadb = await createPrivateMariaDb('tendril-run-outage');
    await mariadb.start();
    const admin = await mariadb.connect();
    await admin.query(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
    await admin.query(`USE ${DATABASE}`);
    // InnoDB, so the SIGKILL cannot leave a MyISAM table marked as crashed.
    await admin.query(
      readFileSync(requireFixture(OPEN_DENTAL_SCHEMA), 'utf8').replace(/ENGINE=MyISAM/g, 'ENGINE=InnoDB'),
    );
    await admin.end();
    const url = `mysql://root@127.0.0.1:${mariadb.port}/${DATABASE}`;
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'outage',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    const connection = await mariadb.connect(DATABASE);
    const [[row]] = (await connection.query(
      'SELECT SUM(PatStatus <> 4) AS live FROM patient',
    )) as unknown as [{ live: string }[]];
    await connection.end();
    livePatients = Number(row!.live);
    await sleep(1100); // stamps have 1 s precision; the poll's upper bound excludes the current second
    storeDir = mkdtempSync(join(tmpdir(), 'tendril-run-outage-store-'));
    store = openSqliteStore(join(storeDir, 'tendril.db'));
    await store.migrate();
    sql = createSqlClient({ url });
  }, 180_000);

  afterAll(async () => {
    await scheduler?.stop({ graceMs: 1000 });
    await sql?.close();
    await store?.close();
    await mariadb?.destroy();
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  it('marks the stream unhealthy, retries with backoff, recovers after the restart, and skips nothing', async () => {
    const connection = ConnectionConfig.parse({
      id: 'outage-dental',
      connector: 'open-dental',
      timezone: 'America/New_York',
      database: { url: `mysql://root@127.0.0.1:${mariadb.port}/${DATABASE}` },
      streams: ['patients'],
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: PAGE_SIZE },
    });
    const connectors = new Map<string, ConnectorDefinition>([['open-dental', openDental]]);
    let killedAfterPage: number | undefined;
    scheduler = createScheduler({
      connections: [connection],
      connectors,
      store,
      logger: silentLogger,
      backoff: { initialMs: 200, maxMs: 1000 },
      runPoll: (job) =>
        syncStream(
          { sql, store, logger: silentLogger },
          {
            connection: job.connection,
            connector: job.connector,
            stream: job.stream,
            afterPageCommit: async (page) => {
              if (page === 3 && killedAfterPage === undefined) {
                killedAfterPage = page;
                await mariadb.kill();
              }
            },
          },
        ),
      runNightly: async () => undefined,
    });
    const patients = () => scheduler!.snapshot().connections[0]!.streams[0]!;

    await scheduler.start(); // new store: the catch-up poll backloads at once
    await until('the stream to fail', () => patients().status === 'unhealthy');
    expect(killedAfterPage).toBe(3);
    expect(patients().lastError?.code).toMatch(/^TENDRIL_E_DB_/);
    // Retried with backoff while the database is down, failing each time.
    await until('two failed retries', () => patients().consecutiveFailures >= 3, 30_000);
    expect(patients().status).toBe('unhealthy');
    const during = await store.getStreamState(connection.id, 'patients');
    expect(during?.inProgress?.after).toBeDefined(); // the three committed pages are kept; the cursor did not move past them
    expect(await store.countEvents(connection.id)).toBeLessThan(livePatients);

    await mariadb.start();
    await until('the stream to recover', () => patients().status === 'healthy', 60_000);
    expect(patients().consecutiveFailures).toBe(0);
    expect(patients().lastError).toBeUndefined();

    // Every live patient is in the shadow and has exactly one `created` event; nothing else was emitted.
    expect(await store.countLive(connection.id, 'patients')).toBe(livePatients);
    const events = await store.listEvents({ connectionId: connection.id, limit: 10 * PATIENTS });
    expect(events.every((e) => e.kind === 'created' && e.envelope.resourceType === 'Patient')).toBe(true);
    expect(events).toHaveLength(livePatients);
    expect(new Set(events.map((e) => e.sourceId)).size).toBe(livePatients);
    const after = await store.getStreamState(connection.id, 'patients');
    expect(after?.inProgress).toBeUndefined();
    expect(after?.watermark).toBeDefined();
    const runs = await store.listRuns({ connectionId: connection.id, stream: 'patients', limit: 50 });
    expect(runs[0]!.status).toBe('succeeded');
    expect(runs.filter((r) => r.status === 'failed').length).toBeGreaterThanOrEqual(3);

    // And the recovered stream keeps polling: ten edits made after the outage are exactly ten updates.
    const ehr = await mariadb.connect(DATABASE);
    const [rows] = (await ehr.query(
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 10',
    )) as unknown as [{ PatNum: string }[]];
    for (const row of rows)
      await ehr.query("UPDATE patient SET Address = CONCAT('Suite 9, ', Address) WHERE PatNum = ?", [
        row.PatNum,
      ]);
    await ehr.end();
    await sleep(1100);
    expect(await scheduler.pollNow(connection.id)).toBe('ran');
    const [latest] = await store.listRuns({ connectionId: connection.id, stream: 'patients', limit: 1 });
    expect(latest).toMatchObject({ status: 'succeeded', counts: { updated: 10, created: 0, deleted: 0 } });
  });
});
