import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfig } from '@tendril/core';
import { silentLogger, syncConnection } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { seedDentrixEnterprise, type DentrixEnterpriseCounts } from './testing/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureDatabase, type FixtureDatabase } from './fixture-database.test-support.js';
import { dentrixEnterprise } from './index.js';

const ZONE = 'America/Chicago';

/** The office-local wall time `secondsAgo` before now, as DATETIME(3) text (the `client` clock domain). */
function localStamp(secondsAgo: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() - secondsAgo * 1000));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}.000`;
}

/**
 * End to end on the MariaDB form of the Dentrix Enterprise 11.0 tables: the declarative mapping
 * and the real sync engine (keyset paging on the composite keys, `client`-clock DDB_LAST_MOD
 * windows at precision 3, snapshot streams filtered by RSCTYPE), the SQLite store. Not SQL Server.
 */
describe('Dentrix Enterprise sync on real MariaDB', () => {
  let db: FixtureDatabase;
  let sql: SqlClient;
  let store: Store;
  let storeDir: string;
  let counts: DentrixEnterpriseCounts;

  const connection = () =>
    ConnectionConfig.parse({
      id: 'dxe-e2e',
      connector: 'dentrix-enterprise',
      timezone: ZONE,
      database: { url: db.url },
      // A small page so every stream pages through its composite key several times.
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 7 },
    });
  const run = async (full = false) => {
    const { result, errors } = await syncConnection(
      { sql, store, logger: silentLogger },
      { connection: connection(), connector: dentrixEnterprise, ...(full ? { full } : {}) },
    );
    expect(errors).toEqual([]);
    return Object.fromEntries(
      result.streams.map((s) => [
        s.stream,
        { read: s.read, created: s.created, updated: s.updated, deleted: s.deleted, unchanged: s.unchanged },
      ]),
    );
  };

  beforeAll(async () => {
    db = await createFixtureDatabase('sync');
    sql = createSqlClient({ url: db.url });
    counts = await seedDentrixEnterprise(sql.knex, { patients: 60, seed: 'dxe-e2e' });
    storeDir = mkdtempSync(join(tmpdir(), 'tendril-dxe-'));
    store = openSqliteStore(join(storeDir, 'store.db'));
    await store.migrate();
  });

  afterAll(async () => {
    await store?.close();
    await sql?.close();
    await db?.drop();
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  it('backload creates every generated record once, per stream', async () => {
    expect(counts.appointments).toBeGreaterThan(20);
    const first = await run();
    const created = (n: number) => ({ read: n, created: n, updated: 0, deleted: 0, unchanged: 0 });
    expect(first).toEqual({
      patients: created(counts.patients),
      practitioners: created(counts.providers),
      offices: created(counts.clinics),
      operatories: created(counts.operatories),
      appointments: created(counts.appointments),
      'appointment-types': created(counts.procedureCodes),
      'appointment-procedures': created(counts.appointmentProcedures),
      procedures: created(counts.procedures),
      charges: created(counts.charges),
      payments: created(counts.payments),
      'coverage-primary': created(counts.primaryCoverage),
      'coverage-secondary': created(counts.secondaryCoverage),
    });
    // Every stream emitted records that validate (the engine refuses invalid ones); spot-check the
    // definitions join and the money.
    const events = await store.listEvents({ connectionId: 'dxe-e2e', limit: 100_000 });
    const patient = events.find((e) => e.envelope.type === 'patient.created' && e.sourceId === '7:1')!;
    expect(patient.envelope.data['race']).toEqual([
      { system: 'urn:tendril:dentrix-enterprise:dxe-e2e:race', code: '3', display: 'Race 3' },
    ]);
    const payment = events.find((e) => e.envelope.type === 'payment.created')!;
    expect(payment.envelope.data['amount']).toEqual({ value: 70, currency: 'USD' });
  });

  it('a second run emits nothing; a full re-read finds every record unchanged', async () => {
    const quiet = (read: number) => ({ read, created: 0, updated: 0, deleted: 0, unchanged: read });
    expect(await run()).toEqual({
      patients: quiet(0),
      practitioners: quiet(counts.providers),
      offices: quiet(counts.clinics),
      operatories: quiet(counts.operatories),
      appointments: quiet(0),
      'appointment-types': quiet(counts.procedureCodes),
      'appointment-procedures': quiet(0),
      procedures: quiet(0),
      charges: quiet(0),
      payments: quiet(0),
      'coverage-primary': quiet(0),
      'coverage-secondary': quiet(0),
    });
    expect(await run(true)).toEqual({
      patients: quiet(counts.patients),
      practitioners: quiet(counts.providers),
      offices: quiet(counts.clinics),
      operatories: quiet(counts.operatories),
      appointments: quiet(counts.appointments),
      'appointment-types': quiet(counts.procedureCodes),
      'appointment-procedures': quiet(counts.appointmentProcedures),
      procedures: quiet(counts.procedures),
      charges: quiet(counts.charges),
      payments: quiet(counts.payments),
      'coverage-primary': quiet(counts.primaryCoverage),
      'coverage-secondary': quiet(counts.secondaryCoverage),
    });
  });

  it('exactly the edited patients and appointments are updated, by DDB_LAST_MOD', async () => {
    const stamp = localStamp(60);
    await sql
      .knex('DDB_PAT_BASE')
      .whereIn('PATID', [3, 17, 42])
      .update({ LASTNAME: 'Edited', DDB_LAST_MOD: stamp });
    await sql
      .knex('DDB_APPT_BASE')
      .where({ APPTID: 5, APPTDB: 1 })
      .update({ STATUS: 100, DDB_LAST_MOD: stamp });
    await sql.knex('DDB_PROC_LOG_BASE').where({ PROC_LOGID: 3, PROC_LOGDB: 1 }).update({
      AMOUNT: 7100,
      DDB_LAST_MOD: stamp,
    });
    const after = await run();
    expect(after['patients']).toEqual({ read: 3, created: 0, updated: 3, deleted: 0, unchanged: 0 });
    expect(after['appointments']).toEqual({ read: 1, created: 0, updated: 1, deleted: 0, unchanged: 0 });
    expect(after['payments']).toEqual({ read: 1, created: 0, updated: 1, deleted: 0, unchanged: 0 });
    // The coverage streams follow the patient stamp: the edited patients that have one are re-read, unchanged.
    const insured = [3, 17, 42].filter((p) => p <= counts.primaryCoverage).length;
    expect(insured).toBe(2);
    expect(after['coverage-primary']).toEqual({
      read: insured,
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: insured,
    });
    const events = await store.listEvents({ connectionId: 'dxe-e2e', limit: 100_000 });
    const updated = events
      .filter((e) => e.envelope.type === 'patient.updated')
      .map((e) => e.envelope.data['sourceId']);
    expect(updated.sort()).toEqual(['17:1', '3:1', '42:1']);
  });

  it('an operatory whose RSCTYPE changes leaves the operatories stream as a confirmed delete', async () => {
    await sql.knex('DDB_RSC_BASE').where({ URSCID: 203, RSCDB: 1 }).update({ RSCTYPE: 2 });
    const after = await run();
    expect(after['operatories']).toEqual({
      read: counts.operatories - 1,
      created: 0,
      updated: 0,
      deleted: 1,
      unchanged: counts.operatories - 1,
    });
  });
});
