import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ApiServer } from '@tendril/api';
import { dentrixEnterprise } from '@tendril/connector-dentrix-enterprise';
import {
  ConnectionConfig,
  parseWritebackInput,
  resourceId,
  sourceIdOf,
  type ConnectorDefinition,
  type WritebackCommand,
} from '@tendril/core';
import {
  createWritebackWorker,
  runDeclaredCommand,
  silentLogger,
  syncStream,
  type WritebackWorker,
} from '@tendril/scheduler';
import { createSqlClient, createWritebackSql, type SqlClient, type WriteStatement } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { seedDentrixEnterprise } from '@tendril/connector-dentrix-enterprise/testing';
import knexFactory from 'knex';
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARIADB } from './support/mariadb.js';
import { FIXTURES, REPO_ROOT, requireFixture } from './support/paths.js';
import { createVendorKey, startWritebackApi, waitForResult } from './support/writeback.js';

const CONNECTION = 'dxe-wb';
const ZONE = 'America/Phoenix';
const CONFIRMED_STATUS = '7';
const SCHEMA = resolve(FIXTURES, 'dentrix-enterprise/dentrix_enterprise_11_mariadb.sql');
/** The tables known from public queries (the patients stream joins DDB_DEF_TEXT), loaded after the replica. */
const PUBLIC_QUERY_TABLES = resolve(
  REPO_ROOT,
  'connectors/dentrix-enterprise/fixtures/public-query-tables.mariadb.sql',
);

function slot(
  days: number,
  hour: number,
  minutes = 30,
  minute = 0,
): { start: string; end: string; date: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const start = new Date(
    `${day}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00-07:00`,
  );
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + minutes * 60_000).toISOString().replace('.000Z', 'Z'),
    date: day,
  };
}

/**
 * The T-SQL every Dentrix Enterprise writeback statement compiles to (knex's mssql dialect, what
 * tedious would send): each command runs through the real engine against a recorder that compiles
 * every statement and answers from a few fixed rows. Reviewed by snapshot: nothing here has run
 * against SQL Server.
 */
describe('writeback: Dentrix Enterprise statements in T-SQL', () => {
  const NOW = new Date('2030-01-01T17:00:00.000Z');
  const source = (type: string, key: string) => [resourceId(CONNECTION, type, key), key] as const;
  const known = new Map([
    source('Patient', '1:1'),
    source('Practitioner', '101:1'),
    source('Practitioner', '102:1'),
    source('Location', '201:1'),
    source('Location', '202:1'),
    source('Location', '301:1'),
    source('Appointment', '5:1'),
  ]);
  const id = (type: string, key: string) => resourceId(CONNECTION, type, key);
  /** Answers from fixed rows: every referenced record exists and is active; the day is free. */
  function answer(statement: WriteStatement, status: number | null): unknown {
    const text = statement.query.toSQL().sql;
    if (statement.kind === 'update') return 1;
    if (statement.kind === 'insert') return [];
    if (/max\(|min\(/i.test(text)) return [{ NEXTID: 41, PATDB: 1 }];
    switch (statement.table.table) {
      case 'DDB_RSC_BASE':
        return [{ URSCID: 101, RSCDB: 1, RSCTYPE: 1, ActiveFlag: 1 }];
      case 'DDB_PAT_BASE':
        return /LASTNAME/.test(text.split(' where ')[1] ?? '') ? [] : [{ PATID: 1, PATDB: 1 }];
      default:
        return /APPTDATE/.test(text.split(' where ')[1] ?? '')
          ? []
          : [{ APPTID: 5, APPTDB: 1, STATUS: status, OPID: 201, OPDB: 1, PRPROVID: 101, PRPROVDB: 1 }];
    }
  }
  async function record(
    dialect: 'mssql' | 'mysql',
    command: WritebackCommand,
    input: Record<string, unknown>,
    status: number | null = 0,
  ) {
    const sent: { sql: string; bindings: readonly unknown[] }[] = [];
    const sql = createWritebackSql({
      knex: knexFactory({ client: dialect === 'mssql' ? 'mssql' : 'mysql2' }),
      dialect,
      timezone: ZONE,
      now: () => NOW,
      run: async (statement) => {
        sent.push(statement.query.toSQL().toNative());
        return answer(statement, status);
      },
    });
    const connection = ConnectionConfig.parse({
      id: CONNECTION,
      connector: 'dentrix-enterprise',
      timezone: ZONE,
      database: { url: 'mssql://dxe/dentrix' },
      writeback: { enabled: true, allowUnsafeSqlWrites: true, confirmStatus: CONFIRMED_STATUS },
    });
    const outcome = await runDeclaredCommand({
      command,
      declaration: dentrixEnterprise.writeback!.commands[command]!.paths.sql as never,
      connector: dentrixEnterprise,
      connection,
      settings: connection.writeback!,
      input: parseWritebackInput(command, input).ok
        ? (parseWritebackInput(command, input) as { input: Record<string, unknown> }).input
        : input,
      sourceIdOf: async (_type, framework) => known.get(framework),
      now: () => NOW,
      sql,
    });
    expect(outcome.ok).toBe(true);
    return sent;
  }
  const book = {
    patientId: id('Patient', '1:1'),
    practitionerIds: [id('Practitioner', '101:1')],
    operatoryId: id('Location', '201:1'),
    start: '2030-01-02T16:30:00Z',
    end: '2030-01-02T17:15:00Z',
    note: 'Crown prep',
  };
  const patient = {
    name: { family: 'Doe', given: ['Jane'] },
    birthDate: '1990-01-01',
    gender: 'female',
    telecom: [{ system: 'phone', use: 'home', value: '(480) 555-0133' }],
    primaryPractitionerId: id('Practitioner', '101:1'),
  };
  const appointmentId = id('Appointment', '5:1');
  const all = async (dialect: 'mssql' | 'mysql') => ({
    book: await record(dialect, 'Appointment.book', book),
    cancel: await record(dialect, 'Appointment.cancel', { appointmentId, reason: 'called' }),
    confirm: await record(dialect, 'Appointment.confirm', { appointmentId }),
    confirmFromNull: await record(dialect, 'Appointment.confirm', { appointmentId }, null),
    reschedule: await record(dialect, 'Appointment.reschedule', {
      appointmentId,
      start: '2030-01-02T22:30:00Z',
      end: '2030-01-02T23:30:00Z',
      operatoryId: id('Location', '202:1'),
      practitionerIds: [id('Practitioner', '102:1')],
    }),
    createPatient: await record(dialect, 'Patient.create', patient),
  });

  it('the slot check, the target, match before create and every id allocation read WITH (UPDLOCK, HOLDLOCK)', async () => {
    const tsql = await all('mssql');
    const locked = Object.values(tsql)
      .flat()
      .filter((s) => /^select (max\(|.* where \[(APPTDATE|LASTNAME|APPTID)\])/.test(s.sql));
    expect(locked.length).toBeGreaterThanOrEqual(8);
    for (const statement of locked) {
      expect(statement.sql).toMatch(/WITH \(UPDLOCK, HOLDLOCK\)/);
      expect(statement.sql).not.toMatch(/for update/i);
    }
    const mysqlDay = (await all('mysql')).book.find((s) => /APPTDATE/.test(s.sql));
    expect(mysqlDay?.sql).toMatch(/for update$/);
  });

  it('matches the reviewed T-SQL', async () => {
    expect(await all('mssql')).toMatchSnapshot();
  });
});

/**
 * Dentrix Enterprise writeback on the FIXTURE PATH: SQL on the MariaDB form of the 11.0 schema,
 * through Tendril's API, worker and read-back (production Dentrix writes would go through its
 * licensed REST API, which is not implemented).
 */
describe('writeback: Dentrix Enterprise on the MariaDB form of its schema (fixture path)', () => {
  const name = `tendril_wb2_dxe_${randomBytes(4).toString('hex')}`;
  const url = `mysql://root@127.0.0.1:3306/${name}`;
  let ehr: SqlClient;
  let read: SqlClient;
  let write: SqlClient;
  let dir: string;
  let store: Store;
  let worker: WritebackWorker;
  let api: ApiServer;
  let base: string;
  let key: string;
  let connection: ConnectionConfig;
  let paused = false;
  const ids = {
    patient: resourceId(CONNECTION, 'Patient', sourceIdOf(['1', '1'])),
    patient2: resourceId(CONNECTION, 'Patient', sourceIdOf(['2', '1'])),
    practitioner: resourceId(CONNECTION, 'Practitioner', sourceIdOf(['101', '1'])),
    practitioner2: resourceId(CONNECTION, 'Practitioner', sourceIdOf(['102', '1'])),
    inactivePractitioner: resourceId(CONNECTION, 'Practitioner', sourceIdOf(['104', '1'])),
    operatory: resourceId(CONNECTION, 'Location', sourceIdOf(['201', '1'])),
    operatory2: resourceId(CONNECTION, 'Location', sourceIdOf(['202', '1'])),
  };
  const connectorFor = (): ConnectorDefinition => dentrixEnterprise;
  const query = (sql: string, bindings: unknown[] = []) => ehr.execute(ehr.knex.raw(sql, bindings));
  const count = async (table = 'DDB_APPT_BASE') =>
    Number((await query(`SELECT COUNT(*) AS n FROM ${table}`))[0]!['n']);
  const post = (body: unknown) =>
    fetch(`${base}/v1/writebacks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
  const run = async (command: string, idempotencyKey: string, input: Record<string, unknown>) => {
    const response = await post({ command, connectionId: CONNECTION, idempotencyKey, input });
    expect(response.status).toBe(202);
    return waitForResult(base, key, ((await response.json()) as { id: string }).id);
  };
  const bookInput = (s: { start: string; end: string }, extra: Record<string, unknown> = {}) => ({
    patientId: ids.patient,
    practitionerIds: [ids.practitioner],
    operatoryId: ids.operatory,
    start: s.start,
    end: s.end,
    ...extra,
  });
  const sync = (stream: string, full = false) =>
    syncStream(
      { sql: read, store, logger: silentLogger },
      { connection, connector: dentrixEnterprise, stream, full },
    );

  beforeAll(async () => {
    const admin = await mysql.createConnection({ ...MARIADB });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    await admin.end();
    const loader = await mysql.createConnection({ ...MARIADB, database: name, multipleStatements: true });
    await loader.query(readFileSync(requireFixture(SCHEMA), 'utf8'));
    await loader.query(readFileSync(PUBLIC_QUERY_TABLES, 'utf8'));
    await loader.end();
    ehr = createSqlClient({ url });
    await seedDentrixEnterprise(ehr.knex, { patients: 20, seed: 'wb2' });
    connection = ConnectionConfig.parse({
      id: CONNECTION,
      connector: 'dentrix-enterprise',
      timezone: ZONE,
      database: { url },
      sync: { settleSeconds: 0 },
      writeback: {
        enabled: true,
        database: { url },
        allowUnsafeSqlWrites: true,
        confirmStatus: CONFIRMED_STATUS,
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'tendril-wb2-dxe-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    read = createSqlClient(connection.database);
    write = createSqlClient(connection.writeback!.database!, { pool: { min: 0, max: 8 } });
    for (const stream of ['patients', 'practitioners', 'offices', 'operatories', 'appointments'])
      await sync(stream, true);
    worker = createWritebackWorker({
      store,
      logger: silentLogger,
      connections: [connection],
      connectorFor,
      readClient: () => read,
      writeClient: () => write,
      // Side by side: the race tests below prove the EHR's lock alone, as with two agents on one EHR.
      queueBookings: false,
    });
    ({ api, base } = await startWritebackApi({
      store,
      connections: [connection],
      connectorFor,
      kick: () => {
        if (!paused) worker.kick();
      },
    }));
    key = await createVendorKey(store, 'vendor', [CONNECTION]);
  });

  afterAll(async () => {
    await api?.close();
    await store?.close();
    await read?.close();
    await write?.close();
    await ehr?.close();
    const admin = await mysql.createConnection({ ...MARIADB });
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('books: one row on the real column names, read back, and the next poll sees the same id', async () => {
    const s = slot(3, 9, 45);
    const before = await count();
    const result = await run(
      'Appointment.book',
      'dxe-book-1',
      bookInput(s, { note: 'Crown prep #3', practitionerIds: [ids.practitioner, ids.practitioner2] }),
    );
    expect(result['status']).toBe('written');
    expect(result['sourceId']).toMatch(/^\d+:1$/);
    const [apptId] = String(result['sourceId']).split(':');
    expect(
      await query(
        'SELECT PATID, PATDB, OPID, PRPROVID, SCPROVID, APPTDATE, TIME_HOUR, TIME_MINUTE, APPTLEN, APPTREASON, STATUS, WasScheduled FROM DDB_APPT_BASE WHERE APPTID = ? AND APPTDB = 1',
        [apptId],
      ),
    ).toEqual([
      {
        PATID: 1,
        PATDB: 1,
        OPID: 201,
        PRPROVID: 101,
        SCPROVID: 102,
        APPTDATE: `${s.date} 00:00:00.000`,
        TIME_HOUR: 9,
        TIME_MINUTE: 0,
        APPTLEN: 45,
        APPTREASON: 'Crown prep #3',
        STATUS: 0,
        WasScheduled: 1,
      },
    ]);
    expect(await count()).toBe(before + 1);
    expect(result['resource']).toMatchObject({
      id: resourceId(CONNECTION, 'Appointment', String(result['sourceId'])),
      status: 'booked',
      start: s.start,
      end: s.end,
      patientId: ids.patient,
      practitionerIds: [ids.practitioner, ids.practitioner2],
      operatoryId: ids.operatory,
      note: 'Crown prep #3',
    });
    expect(result['warnings']).toEqual([]);
    const audit = JSON.stringify(await store.writebacks.listAudit(String(result['id'])));
    expect(audit).toMatch(/for update/i);
    expect(audit).not.toContain('Crown prep');
    await new Promise((r) => setTimeout(r, 50));
    const polled = await sync('appointments');
    expect(polled.created).toBe(1);
    const created = (
      await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true })
    ).find((e) => e.envelope.type === 'appointment.created');
    expect(created?.envelope.resourceId).toBe(result['resourceId']);
  });

  it('confirms, reschedules and cancels in place', async () => {
    const booked = await run('Appointment.book', 'dxe-life-1', bookInput(slot(4, 10)));
    const appointmentId = String(booked['resourceId']);
    const [apptId] = String(booked['sourceId']).split(':');
    const confirmed = await run('Appointment.confirm', 'dxe-life-2', { appointmentId });
    expect(confirmed['status']).toBe('written');
    expect(
      (await query('SELECT STATUS FROM DDB_APPT_BASE WHERE APPTID = ? AND APPTDB = 1', [apptId]))[0],
    ).toEqual({ STATUS: Number(CONFIRMED_STATUS) });
    const moved = slot(4, 15, 60, 30);
    const rescheduled = await run('Appointment.reschedule', 'dxe-life-3', {
      appointmentId,
      start: moved.start,
      end: moved.end,
      operatoryId: ids.operatory2,
      practitionerIds: [ids.practitioner2],
    });
    expect(rescheduled['status']).toBe('written');
    expect(rescheduled['warnings']).toEqual([]);
    expect(rescheduled['resource']).toMatchObject({
      start: moved.start,
      end: moved.end,
      operatoryId: ids.operatory2,
      practitionerIds: [ids.practitioner2],
    });
    const cancelled = await run('Appointment.cancel', 'dxe-life-4', {
      appointmentId,
      reason: 'patient called',
    });
    expect(cancelled['status']).toBe('written');
    expect(cancelled['resource']).toMatchObject({
      status: 'cancelled',
      cancellationReason: 'patient called',
    });
    expect(
      await query(
        'SELECT STATUS, TIME_HOUR, TIME_MINUTE, APPTLEN, OPID, PRPROVID, SCPROVID FROM DDB_APPT_BASE WHERE APPTID = ? AND APPTDB = 1',
        [apptId],
      ),
    ).toEqual([
      { STATUS: 100, TIME_HOUR: 15, TIME_MINUTE: 30, APPTLEN: 60, OPID: 202, PRPROVID: 102, SCPROVID: null },
    ]);
  });

  it('an overlapping slot fails with slot_conflict and writes nothing; concurrent bookings of one slot: exactly one', async () => {
    const s = slot(5, 13, 60);
    expect((await run('Appointment.book', 'dxe-overlap-a', bookInput(s)))['status']).toBe('written');
    const before = await count();
    const overlap = slot(5, 13, 30, 30);
    const conflict = await run(
      'Appointment.book',
      'dxe-overlap-b',
      bookInput(overlap, { patientId: ids.patient2, practitionerIds: [ids.practitioner2] }),
    );
    expect((conflict['error'] as { code: string }).code).toBe('slot_conflict');
    expect(await count()).toBe(before);

    const race = slot(6, 8);
    // Queue all six first, then let one drain claim them together: six transactions at once.
    paused = true;
    let accepted: string[];
    try {
      const responses = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          post({
            command: 'Appointment.book',
            connectionId: CONNECTION,
            idempotencyKey: `dxe-race-${i}`,
            input: bookInput(race),
          }),
        ),
      );
      accepted = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));
      await worker.drain();
    } finally {
      paused = false;
    }
    const results = await Promise.all(accepted.map((id) => waitForResult(base, key, id)));
    expect(results.filter((r) => r['status'] === 'written')).toHaveLength(1);
    expect(
      results.filter((r) => r['status'] === 'failed').map((r) => (r['error'] as { code: string }).code),
    ).toEqual(Array(5).fill('slot_conflict'));
    expect(await count()).toBe(before + 1);
  });

  it('idempotency, an inactive provider, and malformed input: nothing extra is written', async () => {
    const before = await count();
    const body = {
      command: 'Appointment.book',
      connectionId: CONNECTION,
      idempotencyKey: 'dxe-same',
      input: bookInput(slot(7, 9)),
    };
    const first = await post(body);
    const { id } = (await first.json()) as { id: string };
    await waitForResult(base, key, id);
    expect((await post(body)).status).toBe(200);
    expect((await post({ ...body, input: bookInput(slot(7, 11)) })).status).toBe(409);
    const inactive = await run(
      'Appointment.book',
      'dxe-inactive',
      bookInput(slot(7, 14), { practitionerIds: [ids.inactivePractitioner] }),
    );
    expect((inactive['error'] as { code: string }).code).toBe('inactive');
    expect(
      (
        await post({
          ...body,
          idempotencyKey: 'dxe-bad',
          input: { ...bookInput(slot(7, 15)), patientId: "1' OR 1=1" },
        })
      ).status,
    ).toBe(400);
    expect(await count()).toBe(before + 1);
  });

  it('Patient.create inserts on the real columns (match before create), and the next poll sees the same id', async () => {
    const before = await count('DDB_PAT_BASE');
    const input = {
      name: { family: 'Nakamura', given: ['Aiko'] },
      birthDate: '1985-11-23',
      gender: 'female',
      telecom: [
        { system: 'phone', use: 'home', value: '(480) 555-0133' },
        { system: 'email', value: 'aiko@example.org' },
      ],
      primaryPractitionerId: ids.practitioner,
    };
    const created = await run('Patient.create', 'dxe-pat-1', input);
    expect(created['status']).toBe('written');
    expect(created['matched']).toBe(false);
    const [patId, patDb] = String(created['sourceId']).split(':');
    expect(
      await query(
        'SELECT LASTNAME, FIRSTNAME, BIRTHDATE, HOMEPHONE, EMAILADDRESS, PRPROVID, GUARID, GUARDB, FAMILYID FROM DDB_PAT_BASE WHERE PATID = ? AND PATDB = ?',
        [patId, patDb],
      ),
    ).toEqual([
      {
        LASTNAME: 'Nakamura',
        FIRSTNAME: 'Aiko',
        BIRTHDATE: '1985-11-23 00:00:00.000',
        HOMEPHONE: '(480) 555-0133',
        EMAILADDRESS: 'aiko@example.org',
        PRPROVID: 101,
        GUARID: Number(patId),
        GUARDB: Number(patDb),
        FAMILYID: Number(patId),
      },
    ]);
    expect(created['resource']).toMatchObject({
      resourceType: 'Patient',
      birthDate: '1985-11-23',
      primaryPractitionerId: ids.practitioner,
    });
    const again = await run('Patient.create', 'dxe-pat-2', {
      ...input,
      telecom: [{ system: 'email', value: 'AIKO@example.org' }],
    });
    expect(again['matched']).toBe(true);
    expect(again['resourceId']).toBe(created['resourceId']);
    expect(await count('DDB_PAT_BASE')).toBe(before + 1);
    const polled = await sync('patients');
    expect(polled.created).toBe(1);
    const event = (await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true })).find(
      (e) => e.envelope.type === 'patient.created',
    );
    expect(event?.envelope.resourceId).toBe(created['resourceId']);
  });

  it('capabilities: the sql path needs the fixture-only opt-in; Patient.update is not offered', async () => {
    const caps = (await (
      await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as {
      commands: Record<string, { state: string; writePath?: string }>;
    };
    expect(caps.commands['Appointment.book']).toEqual({ state: 'supported', writePath: 'sql' });
    expect(caps.commands['Patient.update']?.state).toBe('unsupported');
    const { writebackCapabilities, WritebackConnectionConfig } = await import('@tendril/core');
    const withoutOptIn = writebackCapabilities(
      dentrixEnterprise.writeback,
      WritebackConnectionConfig.parse({ enabled: true, database: { url } }),
    );
    expect(withoutOptIn['Appointment.book'].state).toBe('needs-config');
  });
});
