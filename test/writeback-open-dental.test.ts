import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer } from '@tendril/api';
import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig, resourceId, sourceIdOf, type ConnectorDefinition } from '@tendril/core';
import {
  createHttpVendorApi,
  createWritebackWorker,
  silentLogger,
  syncStream,
  type WritebackWorker,
} from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import {
  seedOpenDental,
  startOpenDentalApiFake,
  type OpenDentalApiFake,
} from '@tendril/connector-open-dental/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { createVendorKey, startWritebackApi, waitForResult } from './support/writeback.js';

const CONNECTION = 'smile-od';
const ZONE = 'America/Phoenix';
const DEVELOPER_KEY = 'devKEY123fake';
const CUSTOMER_KEY = 'custKEY456fake';

/** A slot `days` ahead at `hour`:`minute` Phoenix time (UTC−7, no DST), `minutes` long. */
function slot(
  days: number,
  hour: number,
  minutes = 30,
  minute = 0,
): { start: string; end: string; local: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const hh = String(hour).padStart(2, '0');
  const mm = String(minute).padStart(2, '0');
  const start = new Date(`${day}T${hh}:${mm}:00-07:00`);
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + minutes * 60_000).toISOString().replace('.000Z', 'Z'),
    local: `${day} ${hh}:${mm}:00`,
  };
}

/**
 * Open Dental writeback end to end on its sanctioned path: Tendril's HTTP API → the worker → the
 * Open Dental API — here a FAKE of it (@tendril/connector-open-dental/testing, built from Open
 * Dental's public API documentation) writing into the real 24.3 schema in MariaDB → read-back
 * through the polling query → the next poll sees the same framework id.
 */
describe('writeback: Open Dental through the Open Dental API (a fake of it) on the real 24.3 schema', () => {
  let db: TestDatabase;
  let ehr: SqlClient;
  let fake: OpenDentalApiFake;
  let dir: string;
  let store: Store;
  let read: SqlClient;
  let worker: WritebackWorker;
  let api: ApiServer;
  let base: string;
  let key: string;
  let connection: ConnectionConfig;
  let confirmedDefNum: number;
  const src = { patNum: '', patNum2: '', provNum: '', provNum2: '', op: '', op2: '' };
  const ids = {
    patient: '',
    patient2: '',
    practitioner: '',
    practitioner2: '',
    operatory: '',
    operatory2: '',
  };

  const connectorFor = (): ConnectorDefinition => openDental;
  const post = (body: unknown, token = key) =>
    fetch(`${base}/v1/writebacks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
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
  const query = async (sql: string, bindings: unknown[] = []) => ehr.execute(ehr.knex.raw(sql, bindings));
  const countAppointments = async () =>
    Number((await query('SELECT COUNT(*) AS n FROM appointment'))[0]!['n']);
  const posts = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/appointments').length;
  const sync = (stream: string, full = false) =>
    syncStream(
      { sql: read, store, logger: silentLogger },
      { connection, connector: openDental, stream, full },
    );

  beforeAll(async () => {
    db = await createTestDatabase('tendril_wb2_od');
    await loadOpenDentalSchema(db);
    ehr = createSqlClient({ url: db.url });
    await seedOpenDental(ehr.knex, { patients: 30, seed: 'wb2', dialect: 'mysql' });
    // The tests book into the future: start from an empty future schedule so seeded visits do not collide.
    await query('DELETE FROM appointment WHERE AptDateTime >= CURDATE()');
    const [def] = await query(
      "SELECT DefNum FROM definition WHERE Category = 2 AND ItemName = 'Appointment Confirmed'",
    );
    confirmedDefNum = Number(def!['DefNum']);
    // The office's eConfirmation setting that `confirmVal: "Confirmed"` resolves through.
    await query("INSERT INTO preference (PrefName, ValueString) VALUES ('ApptEConfirmStatusAccepted', ?)", [
      String(confirmedDefNum),
    ]);
    const patients = await query('SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 2');
    const providers = await query('SELECT ProvNum FROM provider WHERE IsHidden = 0 ORDER BY ProvNum LIMIT 2');
    const ops = await query(
      'SELECT OperatoryNum FROM operatory WHERE IsHidden = 0 ORDER BY OperatoryNum LIMIT 2',
    );
    [src.patNum, src.patNum2] = patients.map((r) => String(r['PatNum']));
    [src.provNum, src.provNum2] = providers.map((r) => String(r['ProvNum']));
    [src.op, src.op2] = ops.map((r) => String(r['OperatoryNum']));
    ids.patient = resourceId(CONNECTION, 'Patient', src.patNum);
    ids.patient2 = resourceId(CONNECTION, 'Patient', src.patNum2);
    ids.practitioner = resourceId(CONNECTION, 'Practitioner', src.provNum);
    ids.practitioner2 = resourceId(CONNECTION, 'Practitioner', src.provNum2);
    ids.operatory = resourceId(CONNECTION, 'Location', sourceIdOf(['op', src.op]));
    ids.operatory2 = resourceId(CONNECTION, 'Location', sourceIdOf(['op', src.op2]));

    fake = await startOpenDentalApiFake({
      knex: ehr.knex,
      dialect: 'mysql',
      developerKey: DEVELOPER_KEY,
      customerKey: CUSTOMER_KEY,
      timezone: ZONE,
    });
    connection = ConnectionConfig.parse({
      id: CONNECTION,
      connector: 'open-dental',
      timezone: ZONE,
      database: { url: db.url },
      sync: { settleSeconds: 0 },
      writeback: {
        enabled: true,
        api: { url: fake.url, developerKey: DEVELOPER_KEY, customerKey: CUSTOMER_KEY },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'tendril-wb2-od-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    read = createSqlClient(connection.database);
    await new Promise((r) => setTimeout(r, 1100));
    for (const stream of [
      'patients',
      'practitioners',
      'offices',
      'operatories',
      'appointment-types',
      'appointments',
    ])
      await sync(stream, true);

    worker = createWritebackWorker({
      store,
      logger: silentLogger,
      connections: [connection],
      connectorFor,
      readClient: () => read,
      writeClient: () => {
        throw new Error('the Open Dental path never writes by SQL');
      },
      vendorApi: (c) =>
        createHttpVendorApi({
          baseUrl: c.writeback!.api!.url,
          headers: openDental.writeback!.apiHeaders!(c.writeback!.api!),
        }),
    });
    ({ api, base } = await startWritebackApi({
      store,
      connections: [connection],
      connectorFor,
      kick: () => worker.kick(),
    }));
    key = await createVendorKey(store, 'vendor', [CONNECTION]);
  });

  afterAll(async () => {
    await api?.close();
    await fake?.close();
    await store?.close();
    await read?.close();
    await ehr?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the fake checks the ODFHIR authorization header and the documented shapes', async () => {
    const noAuth = await fetch(`${fake.url}/appointments?date=2030-01-01`);
    expect(noAuth.status).toBe(401);
    const wrong = await fetch(`${fake.url}/appointments?date=2030-01-01`, {
      headers: { authorization: `ODFHIR ${DEVELOPER_KEY}/wrong` },
    });
    expect(wrong.status).toBe(401);
    const auth = {
      authorization: `ODFHIR ${DEVELOPER_KEY}/${CUSTOMER_KEY}`,
      'content-type': 'application/json',
    };
    const before = await countAppointments();
    const badTime = await fetch(`${fake.url}/appointments`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        PatNum: Number(src.patNum),
        Op: Number(src.op),
        AptDateTime: '2030-02-30 09:00:00',
      }),
    });
    expect(badTime.status).toBe(400);
    expect(await badTime.json()).toMatch(/AptDateTime/);
    const missing = await fetch(`${fake.url}/appointments`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ PatNum: Number(src.patNum) }),
    });
    expect(missing.status).toBe(400);
    expect(await countAppointments()).toBe(before);
  });

  it('books through the API: written, one row via POST /appointments, read back, and the next poll sees the same id', async () => {
    const s = slot(3, 9);
    const before = await countAppointments();
    const result = await run('Appointment.book', 'od-book-1', bookInput(s, { note: 'cleaning' }));
    expect(result['status']).toBe('written');
    const aptNum = String(result['sourceId']);
    const [row] = await query(
      'SELECT PatNum, Op, ProvNum, AptDateTime, Pattern, AptStatus, Note, SecurityHash FROM appointment WHERE AptNum = ?',
      [aptNum],
    );
    expect(row).toEqual({
      PatNum: src.patNum,
      Op: src.op,
      ProvNum: src.provNum,
      AptDateTime: s.local,
      Pattern: 'XXXXXX',
      AptStatus: 1,
      Note: 'cleaning',
      // Open Dental computes the integrity hash itself; the fake leaves it to Open Dental.
      SecurityHash: '',
    });
    expect(await countAppointments()).toBe(before + 1);
    expect(result['resource']).toMatchObject({
      resourceType: 'Appointment',
      id: resourceId(CONNECTION, 'Appointment', aptNum),
      status: 'booked',
      start: s.start,
      end: s.end,
      patientId: ids.patient,
      practitionerIds: [ids.practitioner],
      operatoryId: ids.operatory,
    });
    expect(result['warnings']).toEqual([]);
    const audit = await store.writebacks.listAudit(String(result['id']));
    const calls = audit.filter((a) => a.action === 'api-call').map((a) => a.detail);
    expect(calls).toEqual([
      { method: 'GET', path: '/appointments', status: 200 },
      { method: 'POST', path: '/appointments', status: 201 },
    ]);
    expect(JSON.stringify(audit)).not.toContain('cleaning');

    await new Promise((r) => setTimeout(r, 1100));
    const polled = await sync('appointments');
    expect(polled.created).toBe(1);
    const created = (
      await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true })
    ).find((e) => e.envelope.type === 'appointment.created');
    expect(created?.envelope.resourceId).toBe(result['resourceId']);
  });

  it('confirms, reschedules and cancels in place through the API', async () => {
    const booked = await run('Appointment.book', 'od-life-1', bookInput(slot(4, 10)));
    expect(booked['status']).toBe('written');
    const appointmentId = String(booked['resourceId']);
    const aptNum = String(booked['sourceId']);

    const confirmed = await run('Appointment.confirm', 'od-life-2', { appointmentId, method: 'sms' });
    expect(confirmed['status']).toBe('written');
    expect((await query('SELECT Confirmed FROM appointment WHERE AptNum = ?', [aptNum]))[0]).toEqual({
      Confirmed: String(confirmedDefNum),
    });

    const moved = slot(4, 14, 45);
    const rescheduled = await run('Appointment.reschedule', 'od-life-3', {
      appointmentId,
      start: moved.start,
      end: moved.end,
      operatoryId: ids.operatory2,
      practitionerIds: [ids.practitioner2],
    });
    expect(rescheduled['status']).toBe('written');
    expect(rescheduled['warnings']).toEqual([]);
    expect(rescheduled['resource']).toMatchObject({
      id: appointmentId,
      start: moved.start,
      end: moved.end,
      operatoryId: ids.operatory2,
      practitionerIds: [ids.practitioner2],
    });

    const cancelled = await run('Appointment.cancel', 'od-life-4', { appointmentId });
    expect(cancelled['status']).toBe('written');
    expect((cancelled['resource'] as { status: string }).status).toBe('cancelled');
    expect(
      await query('SELECT AptStatus, AptDateTime, Pattern, Op, ProvNum FROM appointment WHERE AptNum = ?', [
        aptNum,
      ]),
    ).toEqual([
      { AptStatus: 5, AptDateTime: moved.local, Pattern: 'X'.repeat(9), Op: src.op2, ProvNum: src.provNum2 },
    ]);
    // Broken appointments cannot be broken again: refused before any call changes the row.
    const again = await run('Appointment.cancel', 'od-life-5', { appointmentId });
    expect(again['status']).toBe('failed');
    expect((again['error'] as { code: string }).code).toBe('validation_failed');
  });

  it('an overlapping slot in the same operatory fails with slot_conflict and nothing is posted', async () => {
    const s = slot(5, 13, 60);
    expect((await run('Appointment.book', 'od-overlap-a', bookInput(s)))['status']).toBe('written');
    const before = await countAppointments();
    const postsBefore = posts();
    const overlapping = slot(5, 13, 30, 30);
    const result = await run(
      'Appointment.book',
      'od-overlap-b',
      bookInput(overlapping, { patientId: ids.patient2, practitionerIds: [ids.practitioner2] }),
    );
    expect(result['status']).toBe('failed');
    expect((result['error'] as { code: string }).code).toBe('slot_conflict');
    expect(await countAppointments()).toBe(before);
    expect(posts()).toBe(postsBefore);
    // Same practitioner, another chair: also a conflict (providerDoubleBooking is off).
    const samePractitioner = await run(
      'Appointment.book',
      'od-overlap-c',
      bookInput(overlapping, { patientId: ids.patient2, operatoryId: ids.operatory2 }),
    );
    expect((samePractitioner['error'] as { code: string }).code).toBe('slot_conflict');
    // Another practitioner in another chair is fine.
    const elsewhere = await run(
      'Appointment.book',
      'od-overlap-d',
      bookInput(overlapping, {
        patientId: ids.patient2,
        operatoryId: ids.operatory2,
        practitionerIds: [ids.practitioner2],
      }),
    );
    expect(elsewhere['status']).toBe('written');
  });

  it('idempotency: the same key is one command and one row; another payload under it is a 409', async () => {
    const s = slot(6, 9);
    const before = await countAppointments();
    const body = {
      command: 'Appointment.book',
      connectionId: CONNECTION,
      idempotencyKey: 'od-same',
      input: bookInput(s),
    };
    const first = await post(body);
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    await waitForResult(base, key, id);
    const second = await post(body);
    expect(second.status).toBe(200);
    expect(((await second.json()) as { id: string }).id).toBe(id);
    const reused = await post({ ...body, input: bookInput(slot(6, 11)) });
    expect(reused.status).toBe(409);
    expect(await countAppointments()).toBe(before + 1);
  });

  it('a request off Open Dental’s 5-minute grid is validation_failed and nothing reaches the API', async () => {
    const postsBefore = posts();
    const result = await run('Appointment.book', 'od-grid', bookInput(slot(7, 9, 33)));
    expect(result['status']).toBe('failed');
    expect((result['error'] as { code: string }).code).toBe('validation_failed');
    expect(posts()).toBe(postsBefore);
  });

  it('the API’s 400 becomes failed / vendor_error with the vendor’s explanation, and nothing is written', async () => {
    // The chair was hidden in Open Dental after the last poll: Tendril still knows it, the API refuses it.
    await query('UPDATE operatory SET IsHidden = 1 WHERE OperatoryNum = ?', [src.op2]);
    try {
      const before = await countAppointments();
      const result = await run(
        'Appointment.book',
        'od-vendor-400',
        bookInput(slot(8, 9), { operatoryId: ids.operatory2 }),
      );
      expect(result['status']).toBe('failed');
      const error = result['error'] as {
        code: string;
        details: { httpStatus: number; vendorMessage: string };
      };
      expect(error.code).toBe('vendor_error');
      expect(error.details.httpStatus).toBe(400);
      expect(error.details.vendorMessage).toContain('Op is invalid');
      expect(await countAppointments()).toBe(before);
    } finally {
      await query('UPDATE operatory SET IsHidden = 0 WHERE OperatoryNum = ?', [src.op2]);
    }
  });

  it('Patient.create posts a patient (match before create on the API’s search); the next poll sees the same id', async () => {
    const countPatients = async () => Number((await query('SELECT COUNT(*) AS n FROM patient'))[0]!['n']);
    const before = await countPatients();
    const input = {
      name: { family: 'Quintero', given: ['Lucía', 'M'] },
      birthDate: '1991-07-04',
      gender: 'female',
      telecom: [
        { system: 'phone', use: 'mobile', value: '+1 (602) 555-0177' },
        { system: 'email', value: 'lucia@example.org' },
      ],
      addresses: [{ line: ['40 Saguaro Ln'], city: 'Tempe', state: 'AZ', postalCode: '85281' }],
      primaryPractitionerId: ids.practitioner,
    };
    const created = await run('Patient.create', 'od-pat-1', input);
    expect(created['status']).toBe('written');
    expect(created['matched']).toBe(false);
    const patNum = String(created['sourceId']);
    expect(
      await query(
        'SELECT LName, FName, MiddleI, Birthdate, Gender, WirelessPhone, Email, Zip, PriProv, Guarantor, SecurityHash FROM patient WHERE PatNum = ?',
        [patNum],
      ),
    ).toEqual([
      {
        LName: 'Quintero',
        FName: 'Lucía',
        MiddleI: 'M',
        Birthdate: '1991-07-04',
        Gender: 1,
        WirelessPhone: '+1 (602) 555-0177',
        Email: 'lucia@example.org',
        Zip: '85281',
        PriProv: src.provNum,
        Guarantor: patNum,
        SecurityHash: '',
      },
    ]);
    expect(created['resource']).toMatchObject({
      resourceType: 'Patient',
      birthDate: '1991-07-04',
      gender: 'female',
      primaryPractitionerId: ids.practitioner,
    });

    const again = await run('Patient.create', 'od-pat-2', {
      ...input,
      name: { family: 'quintero', given: ['LUCÍA'] },
      telecom: [{ system: 'phone', value: '602-555-0177' }],
    });
    expect(again['matched']).toBe(true);
    expect(again['resourceId']).toBe(created['resourceId']);
    const strict = await run('Patient.create', 'od-pat-3', { ...input, matchPolicy: 'fail-if-exists' });
    expect((strict['error'] as { code: string }).code).toBe('patient_exists');
    expect(await countPatients()).toBe(before + 1);

    const updated = await run('Patient.update', 'od-pat-4', {
      patientId: created['resourceId'],
      preferredName: 'Lu',
    });
    expect(updated['status']).toBe('written');
    expect((updated['resource'] as { preferredName?: string }).preferredName).toBe('Lu');

    await new Promise((r) => setTimeout(r, 1100));
    const polled = await sync('patients');
    expect(polled.created).toBe(1);
    const event = (await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true })).find(
      (e) => e.envelope.type === 'patient.created',
    );
    expect(event?.envelope.resourceId).toBe(created['resourceId']);
  });

  it('capabilities: every command on the vendor-api path; the sql path does not exist for Open Dental', async () => {
    const caps = (await (
      await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as {
      commands: Record<string, { state: string; writePath?: string }>;
    };
    for (const command of [
      'Appointment.book',
      'Appointment.cancel',
      'Appointment.confirm',
      'Appointment.reschedule',
      'Patient.create',
      'Patient.update',
    ]) {
      expect(caps.commands[command]).toEqual({ state: 'supported', writePath: 'vendor-api' });
    }
    expect(openDental.writeback?.commands['Appointment.book']?.paths.sql).toBeUndefined();
  });
});
