import { setTimeout as sleep } from 'node:timers/promises';
import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig, isTendrilError } from '@tendril/core';
import { reconcileStream, runNightlyScript, silentLogger, syncStream } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

/** The nightly job's two parts on a real MariaDB Open Dental database: reconciliation and scripts. */
describe('nightly jobs', () => {
  let db: TestDatabase;
  let sql: SqlClient;
  let store: Store;
  let connection: ConnectionConfig;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_run_nightly');
    await loadOpenDentalSchema(db);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      '80',
      '--seed',
      'nightly',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    await sleep(1100);
    sql = createSqlClient({ url: db.url });
    store = openSqliteStore(':memory:');
    await store.migrate();
    connection = ConnectionConfig.parse({
      id: 'nightly-dental',
      connector: 'open-dental',
      timezone: 'America/New_York',
      database: { url: db.url },
      streams: ['patients'],
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 25 },
      nightlyScripts: [
        {
          name: 'active-patients',
          sql: 'SELECT PatNum, LName, Birthdate FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 5',
          element: 'active_patient',
        },
      ],
    });
  });

  afterAll(async () => {
    await sql?.close();
    await store?.close();
    await db?.drop();
  });

  it('reconciliation confirms rows deleted outright in the EHR (which no cursor sees) and is recorded as a reconcile run', async () => {
    const deps = { sql, store, logger: silentLogger };
    const backload = await syncStream(deps, { connection, connector: openDental, stream: 'patients' });
    expect(backload.created).toBeGreaterThan(0);
    const ehr = await db.connect();
    const [gone] = (await ehr.query(
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum DESC LIMIT 3',
    )) as unknown as [{ PatNum: string }[]];
    await ehr.query('DELETE FROM patient WHERE PatNum IN (?)', [gone.map((r) => r.PatNum)]);
    await ehr.end();
    await sleep(1100);

    const poll = await syncStream(deps, { connection, connector: openDental, stream: 'patients' });
    expect(poll.deleted).toBe(0); // a hard delete leaves no stamp: the incremental poll cannot see it

    const reconciled = await reconcileStream(deps, { connection, connector: openDental, stream: 'patients' });
    expect(reconciled).toMatchObject({
      kind: 'reconcile',
      deleted: 3,
      created: 0,
      updated: 0,
      guardTripped: false,
    });
    const deletedEvents = (await store.listEvents({ connectionId: connection.id, limit: 1000 })).filter(
      (e) => e.kind === 'deleted',
    );
    expect(deletedEvents.map((e) => e.sourceId).sort()).toEqual(gone.map((r) => String(r.PatNum)).sort());
    const [run] = await store.listRuns({
      connectionId: connection.id,
      kind: 'reconcile',
      status: 'succeeded',
      limit: 1,
    });
    expect(run?.counts.deleted).toBe(3);

    const again = await reconcileStream(deps, { connection, connector: openDental, stream: 'patients' });
    expect(again.deleted + again.created + again.updated).toBe(0);
  });

  it('a nightly script returns its rows as the named element, columns in SELECT order', async () => {
    const batch = await runNightlyScript(
      { sql, logger: silentLogger },
      { connection, script: connection.nightlyScripts[0]! },
    );
    const ehr = await db.connect();
    const [expected] = (await ehr.query(
      'SELECT PatNum, LName, Birthdate FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 5',
    )) as unknown as [Record<string, unknown>[]];
    await ehr.end();
    expect(batch.element).toBe('active_patient');
    expect(batch.script).toBe('active-patients');
    expect(batch.columns).toEqual(['PatNum', 'LName', 'Birthdate']);
    expect(batch.rows).toEqual(
      expected.map((r) => ({ PatNum: String(r['PatNum']), LName: r['LName'], Birthdate: r['Birthdate'] })),
    );
  });

  it('refuses a script that is not a read-only SELECT before it reaches the database', async () => {
    const ehr = await db.connect();
    const count = async () =>
      Number(
        ((await ehr.query('SELECT COUNT(*) AS n FROM patient')) as unknown as [{ n: string }[]])[0][0]!.n,
      );
    const before = await count();
    const error = await runNightlyScript(
      { sql, logger: silentLogger },
      { connection, script: { name: 'evil', sql: 'DELETE FROM patient', element: 'evil' } },
    ).catch((e: unknown) => e);
    expect(isTendrilError(error, 'TENDRIL_E_CONFIG_INVALID')).toBe(true);
    expect(await count()).toBe(before);
    await ehr.end();
  });
});
