import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig, type StoredEvent } from '@tendril/core';
import { silentLogger, syncStream, type Logger } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

/**
 * Conformance scenarios of docs/sync-semantics.md, "Conformance scenarios" for the `timestamp` strategy (plus the snapshot
 * guard), on the real Open Dental schema in real MariaDB. Open Dental's stamps are `db-utc`
 * TIMESTAMPs of 1 s precision; the SQL Server cases (CT, rowversion, datetime) and `client`/
 * `db-local` clocks do not apply to this connector.
 */
describe('sync conformance (timestamp cursor) on real MariaDB', () => {
  let db: TestDatabase;
  let sql: SqlClient;
  let ehr: mysql.Connection;
  let store: Store;
  let storeDir: string;

  const connection = (overrides: Record<string, unknown> = {}) =>
    ConnectionConfig.parse({
      id: 'conformance',
      connector: 'open-dental',
      timezone: 'America/New_York',
      database: { url: db.url },
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 1000 },
      ...overrides,
    });

  const poll = (
    stream: string,
    options: { full?: boolean; store?: Store; pageSize?: number; afterPageCommit?: (n: number) => void } = {},
  ) =>
    syncStream(
      { sql, store: options.store ?? store, logger: silentLogger },
      {
        connection: connection(
          options.pageSize
            ? { sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: options.pageSize } }
            : {},
        ),
        connector: openDental,
        stream,
        ...(options.full ? { full: true } : {}),
        ...(options.afterPageCommit ? { afterPageCommit: options.afterPageCommit } : {}),
      },
    );

  /** Stamps have 1 s precision and the window excludes the current second: let it close. */
  const nextSecond = () => sleep(1100);

  async function insertPatient(
    patNum: number,
    fields: Record<string, unknown> = {},
    conn: mysql.Connection = ehr,
  ): Promise<void> {
    const row = {
      PatNum: patNum,
      LName: 'Conformance',
      FName: `Pat${patNum}`,
      Birthdate: '1980-01-01',
      PatStatus: 0,
      Gender: 1,
      ...fields,
    };
    const columns = Object.keys(row);
    await conn.query(
      `INSERT INTO patient (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      Object.values(row),
    );
  }

  async function events(type?: string): Promise<StoredEvent[]> {
    const all = await store.listEvents({ connectionId: 'conformance', limit: 100_000 });
    return type ? all.filter((e) => e.envelope.type === type) : all;
  }

  beforeAll(async () => {
    db = await createTestDatabase('tendril_conf');
    await loadOpenDentalSchema(db, { innodb: true }); // InnoDB: the late-commit scenario needs transactions
    sql = createSqlClient({ url: db.url });
    ehr = await db.connect();
  });
  afterAll(async () => {
    await ehr?.end();
    await sql?.close();
    await db?.drop();
  });
  beforeEach(async () => {
    await ehr.query('TRUNCATE patient; TRUNCATE appointment; TRUNCATE deletedobject; TRUNCATE clinic');
    storeDir = mkdtempSync(join(tmpdir(), 'tendril-conf-'));
    store = openSqliteStore(join(storeDir, 'store.db'));
    await store.migrate();
  });

  it('1. late commit: a row stamped inside an open transaction is emitted once, by a later poll', async () => {
    const writer = await db.connect();
    await writer.beginTransaction();
    await insertPatient(1, {}, writer);
    await nextSecond();
    const during = await poll('patients');
    expect(during.created).toBe(0);
    await writer.commit();
    await writer.end();
    await nextSecond();
    const after = await poll('patients');
    expect(after.created).toBe(1);
    expect(await events('patient.created')).toHaveLength(1);
    expect((await poll('patients')).created).toBe(0);
  });

  it('2. equal timestamps: 2,500 rows with one stamp page through at 1,000 with no duplicates', async () => {
    const values = Array.from(
      { length: 2500 },
      (_, i) => `(${i + 1}, 'Same', 'Stamp${i}', '1990-05-05', '2024-01-01 12:00:00')`,
    );
    await ehr.query(
      `INSERT INTO patient (PatNum, LName, FName, Birthdate, DateTStamp) VALUES ${values.join(',')}`,
    );
    const result = await poll('patients');
    expect(result.read).toBe(2500);
    expect(result.created).toBe(2500);
    const created = await events('patient.created');
    expect(new Set(created.map((e) => e.envelope.resourceId)).size).toBe(2500);
  });

  it('3. stamps behind and ahead of the database clock: the row behind once; the row ahead warns TENDRIL_W_CLOCK_SKEW', async () => {
    // A logger that keeps what the engine warns (names and counts only).
    const warned: Record<string, unknown>[] = [];
    const recording: Logger = {
      ...silentLogger,
      warn: (obj) => void warned.push({ ...obj }),
      child: () => recording,
    };
    const pollRecorded = () =>
      syncStream(
        { sql, store, logger: recording },
        { connection: connection(), connector: openDental, stream: 'patients' },
      );
    await insertPatient(30);
    await ehr.query(
      'UPDATE patient SET DateTStamp = CURRENT_TIMESTAMP - INTERVAL 5 MINUTE WHERE PatNum = 30',
    );
    // A writer whose clock runs 5 hours fast (or a stamp in the wrong clock domain).
    await insertPatient(31);
    await ehr.query('UPDATE patient SET DateTStamp = CURRENT_TIMESTAMP + INTERVAL 5 HOUR WHERE PatNum = 31');
    await nextSecond();
    const first = await pollRecorded();
    expect(first.created).toBe(1);
    expect(first.rowsAhead).toBe(1);
    const skew = warned.filter((w) => w['code'] === 'TENDRIL_W_CLOCK_SKEW');
    expect(skew).toHaveLength(1);
    expect(skew[0]).toMatchObject({
      event: 'sync.clock_skew',
      stream: 'patients',
      table: 'patient',
      column: 'DateTStamp',
      clock: 'db-utc',
      rowsAhead: 1,
    });
    // The next poll: the row behind is not read again; the row ahead is still waiting, and says so.
    await nextSecond();
    const second = await pollRecorded();
    expect(second.created).toBe(0);
    expect(second.rowsAhead).toBe(1);
    expect(await events('patient.created')).toHaveLength(1);
    // Once its stamp is no longer ahead (here: the clock "caught up" by restamping it), it is read once.
    await ehr.query(
      'UPDATE patient SET DateTStamp = CURRENT_TIMESTAMP - INTERVAL 1 SECOND WHERE PatNum = 31',
    );
    await nextSecond();
    const caughtUp = await pollRecorded();
    expect(caughtUp.created).toBe(1);
    expect(caughtUp.rowsAhead).toBeUndefined();
  });

  it('4. a row updated twice within one poll interval gives one update with the final content', async () => {
    await insertPatient(7);
    await nextSecond();
    await poll('patients');
    await ehr.query("UPDATE patient SET FName = 'Second' WHERE PatNum = 7");
    await ehr.query("UPDATE patient SET FName = 'Third' WHERE PatNum = 7");
    await nextSecond();
    const result = await poll('patients');
    expect(result.updated).toBe(1);
    const updates = await events('patient.updated');
    expect(updates).toHaveLength(1);
    expect((updates[0]!.envelope.data['name'] as { given: string[] }).given[0]).toBe('Third');
  });

  it('5. A → B → A between polls, and a no-op update that only moves the stamp, emit nothing', async () => {
    await insertPatient(8);
    await nextSecond();
    await poll('patients');
    await ehr.query("UPDATE patient SET FName = 'Changed' WHERE PatNum = 8");
    await ehr.query("UPDATE patient SET FName = 'Pat8' WHERE PatNum = 8");
    await ehr.query('UPDATE patient SET DateTStamp = UTC_TIMESTAMP() WHERE PatNum = 8');
    await nextSecond();
    const result = await poll('patients');
    expect(result.read).toBe(1);
    expect(result.unchanged).toBe(1);
    expect(await events('patient.updated')).toHaveLength(0);
  });

  it('6. hard delete: with a delete log within one poll; without one only after a confirming full run', async () => {
    await ehr.query(
      "INSERT INTO appointment (AptNum, PatNum, AptStatus, Pattern, AptDateTime) VALUES (50, 1, 1, 'XXXX', '2025-03-01 09:00:00')",
    );
    await insertPatient(9);
    await insertPatient(19); // stays: an emptied table would (rightly) trip the guard instead
    await nextSecond();
    await poll('appointments');
    await poll('patients');
    // Open Dental deletes the row and records it in deletedobject (type 0 = appointment).
    await ehr.query('DELETE FROM appointment WHERE AptNum = 50');
    await ehr.query('INSERT INTO deletedobject (ObjectNum, ObjectType) VALUES (50, 0)');
    await ehr.query('DELETE FROM patient WHERE PatNum = 9');
    await nextSecond();
    expect((await poll('appointments')).deleted).toBe(1);
    expect((await poll('patients')).deleted).toBe(0); // no delete log for patients: never without confirmation
    expect((await poll('patients', { full: true })).deleted).toBe(1);
    const tombstones = await events('patient.deleted');
    expect(tombstones).toHaveLength(1);
    expect(tombstones[0]!.envelope.data['meta']).toMatchObject({ deleted: true });
  });

  it('7. soft delete (PatStatus = 4) is a delete at the next poll', async () => {
    await insertPatient(10);
    await nextSecond();
    await poll('patients');
    await ehr.query('UPDATE patient SET PatStatus = 4 WHERE PatNum = 10');
    await nextSecond();
    expect((await poll('patients')).deleted).toBe(1);
  });

  it('9. restart mid-poll: a crash after a page commit resumes to the same event ids and hashes', async () => {
    const values = Array.from(
      { length: 30 },
      (_, i) =>
        `(${i + 100}, 'Restart', 'P${i}', '1970-02-02', '2024-02-02 10:00:${String(i).padStart(2, '0')}')`,
    );
    await ehr.query(
      `INSERT INTO patient (PatNum, LName, FName, Birthdate, DateTStamp) VALUES ${values.join(',')}`,
    );
    const reference = openSqliteStore(join(storeDir, 'reference.db'));
    await reference.migrate();
    await poll('patients', { store: reference, pageSize: 10 });

    await expect(
      poll('patients', {
        pageSize: 10,
        afterPageCommit: (page) => {
          if (page === 2) throw new Error('simulated crash after the second page');
        },
      }),
    ).rejects.toMatchObject({
      code: 'TENDRIL_E_INTERNAL',
      cause: { message: 'simulated crash after the second page' },
    });
    expect(await events()).toHaveLength(20);
    const state = await store.getStreamState('conformance', 'patients');
    expect(state?.inProgress?.after?.key).toEqual(['119']);
    await poll('patients', { pageSize: 10 });

    const resumed = await events();
    const uninterrupted = await reference.listEvents({ connectionId: 'conformance', limit: 1000 });
    const key = (e: StoredEvent) =>
      `${e.envelope.resourceId}:${String(e.envelope.data['meta'] && (e.envelope.data['meta'] as { hash: string }).hash)}`;
    expect(resumed.map(key).sort()).toEqual(uninterrupted.map(key).sort());
    expect(resumed).toHaveLength(30);
    await reference.close();
  });

  it('13. a snapshot table that is emptied emits no deletes and trips the guard', async () => {
    await ehr.query(
      "INSERT INTO clinic (ClinicNum, Description) VALUES (1, 'North'), (2, 'South'), (3, 'East')",
    );
    const first = await poll('offices');
    expect(first.created).toBeGreaterThanOrEqual(3);
    await ehr.query('TRUNCATE clinic');
    const second = await poll('offices');
    expect(second.deleted).toBe(0);
    expect(second.guardTripped).toBe(true);
    const state = await store.getStreamState('conformance', 'offices');
    expect(state?.lastError?.code).toBe('TENDRIL_E_RECONCILE_GUARD');
  });

  it('14. delete, then re-insert of the same key: deleted, then created', async () => {
    await insertPatient(11);
    await nextSecond();
    await poll('patients');
    await ehr.query('UPDATE patient SET PatStatus = 4 WHERE PatNum = 11');
    await nextSecond();
    expect((await poll('patients')).deleted).toBe(1);
    await ehr.query('UPDATE patient SET PatStatus = 0 WHERE PatNum = 11');
    await nextSecond();
    expect((await poll('patients')).created).toBe(1);
    expect((await events()).map((e) => e.envelope.type)).toEqual([
      'patient.created',
      'patient.deleted',
      'patient.created',
    ]);
  });

  it('never moves the watermark past rows it has not committed, and sequences only increase', async () => {
    await insertPatient(12);
    await nextSecond();
    await poll('patients');
    const all = await events();
    const sequences = all.map((e) => e.envelope.sequence);
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(sequences[0]).toBeGreaterThan(Date.UTC(2024, 0, 1) * 1000);
  });
});
