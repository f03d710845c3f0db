import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer } from '@tendril/api';
import { openEmr } from '@tendril/connector-openemr';
import { ConnectionConfig, resourceId, type ConnectorDefinition } from '@tendril/core';
import { createWritebackWorker, silentLogger, syncStream } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createVendorKey,
  createWritebackOpenEmrDatabase,
  startWritebackApi,
  waitForResult,
} from './support/writeback.js';

const CONNECTION = 'sane-emr';
const NEAR = 'near-emr';
const ZONE = 'America/Phoenix';

/** A whole-hour slot `days` ahead, Phoenix time (UTC−7, no DST). */
function slot(days: number, hour = 9): { start: string; end: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T${String(hour).padStart(2, '0')}:00:00-07:00`);
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
  };
}

/**
 * Writeback input sanity (docs/writeback.md, "Input checks"): absurd values are refused with a
 * 400 naming the field before anything is queued — real calendar dates only, birth dates from
 * 1900 to today, bookings from now to the connection's horizon, no `T24:00`, no control
 * characters — and no input, however malformed, gets a 5xx. On OpenEMR's real schema with the
 * worker running, so anything accepted would also be written.
 */
describe('writeback: input sanity before anything is queued', () => {
  let db: Awaited<ReturnType<typeof createWritebackOpenEmrDatabase>>;
  let emr: mysql.Connection;
  let dir: string;
  let store: Store;
  let read: SqlClient;
  let write: SqlClient;
  let api: ApiServer;
  let base: string;
  let key: string;
  let otherKey: string;
  const ids = { patient: '', practitioner: '', location: '' };
  const sourceIds = { patient: '', practitioner: '', location: '' };

  const post = (body: unknown, options: { token?: string; type?: string; raw?: boolean } = {}) =>
    fetch(`${base}/v1/writebacks`, {
      method: 'POST',
      headers: {
        'content-type': options.type ?? 'application/json',
        authorization: `Bearer ${options.token ?? key}`,
      },
      body: options.raw ? (body as string) : JSON.stringify(body),
    });
  const book = (input: Record<string, unknown>, envelope: Record<string, unknown> = {}) => ({
    command: 'Appointment.book',
    connectionId: CONNECTION,
    idempotencyKey: `k-${Math.random().toString(36).slice(2)}`,
    input: {
      patientId: ids.patient,
      practitionerIds: [ids.practitioner],
      locationId: ids.location,
      ...slot(5),
      ...input,
    },
    ...envelope,
  });
  const create = (input: Record<string, unknown>) => ({
    command: 'Patient.create',
    connectionId: CONNECTION,
    idempotencyKey: `k-${Math.random().toString(36).slice(2)}`,
    input: {
      name: { family: 'Sane', given: ['Iris'] },
      birthDate: '1980-05-06',
      gender: 'female',
      telecom: [{ system: 'phone', value: '+1 602 555 0110' }],
      ...input,
    },
  });
  /** Rows of the EHR tables a writeback could touch, and commands in the queue or finished. */
  const state = async () => {
    const [rows] = await emr.query(
      'SELECT (SELECT COUNT(*) FROM patient_data) AS patients, (SELECT COUNT(*) FROM openemr_postcalendar_events) AS events',
    );
    const [{ patients, events }] = rows as { patients: string; events: string }[];
    return {
      patients: Number(patients),
      events: Number(events),
      pending: await store.writebacks.countPending(),
      outbox: (await store.listEvents({ connectionId: CONNECTION, limit: 10_000 })).length,
    };
  };
  /** Sends a request and returns its status and the field paths of its errors. */
  const answer = async (response: Promise<Response>) => {
    const r = await response;
    const body = (await r.json().catch(() => ({}))) as { errors?: { path: string }[] };
    return { status: r.status, paths: (body.errors ?? []).map((e) => e.path) };
  };

  beforeAll(async () => {
    db = await createWritebackOpenEmrDatabase('sanity');
    emr = await db.connect();
    const [users] = await emr.query(
      'SELECT id FROM users WHERE authorized = 1 AND active = 1 ORDER BY id LIMIT 1',
    );
    const [patients] = await emr.query('SELECT pid FROM patient_data ORDER BY pid LIMIT 1');
    const [facilities] = await emr.query('SELECT id FROM facility ORDER BY id LIMIT 1');
    sourceIds.practitioner = String((users as { id: string }[])[0]!.id);
    sourceIds.patient = String((patients as { pid: string }[])[0]!.pid);
    sourceIds.location = String((facilities as { id: string }[])[0]!.id);
    ids.practitioner = resourceId(CONNECTION, 'Practitioner', sourceIds.practitioner);
    ids.patient = resourceId(CONNECTION, 'Patient', sourceIds.patient);
    ids.location = resourceId(CONNECTION, 'Location', sourceIds.location);
    const connections = [CONNECTION, NEAR].map((id) =>
      ConnectionConfig.parse({
        id,
        connector: 'openemr',
        timezone: ZONE,
        database: { url: db.url },
        sync: { settleSeconds: 0 },
        writeback: {
          enabled: true,
          database: { url: db.url },
          ...(id === NEAR ? { bookingHorizonDays: 30 } : {}),
        },
      }),
    );
    dir = mkdtempSync(join(tmpdir(), 'tendril-wb-sanity-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    read = createSqlClient({ url: db.url });
    write = createSqlClient({ url: db.url }, { pool: { min: 0, max: 4 } });
    await new Promise((r) => setTimeout(r, 1100));
    for (const connection of connections)
      for (const stream of ['patients', 'practitioners', 'offices'])
        await syncStream(
          { sql: read, store, logger: silentLogger },
          { connection, connector: openEmr, stream, full: true },
        );
    const connectorFor = (): ConnectorDefinition => openEmr;
    const worker = createWritebackWorker({
      store,
      logger: silentLogger,
      connections,
      connectorFor,
      readClient: () => read,
      writeClient: () => write,
    });
    ({ api, base } = await startWritebackApi({
      store,
      connections,
      connectorFor,
      kick: () => worker.kick(),
    }));
    key = await createVendorKey(store, 'vendor', [CONNECTION, NEAR]);
    otherKey = await createVendorKey(store, 'other', [NEAR]);
  });

  afterAll(async () => {
    await api?.close();
    await store?.close();
    await read?.close();
    await write?.close();
    await emr?.end();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('impossible dates and times are a 400 naming the field, never a 500 or a 202', async () => {
    const before = await state();
    const cases: [Record<string, unknown>, string][] = [
      [book({ start: '2030-13-01T16:00:00Z', end: '2030-13-01T16:30:00Z' }), 'input.start'],
      [book({ start: '2030-02-30T16:00:00Z', end: '2030-02-30T16:30:00Z' }), 'input.start'],
      [book({ start: '2030-02-31T16:00:00Z' }), 'input.start'],
      [book({ end: '2030-04-31T16:30:00Z' }), 'input.end'],
      [book({ start: '2030-06-01T24:00:00Z', end: '2030-06-02T00:30:00Z' }), 'input.start'],
      [book({ start: '2030-06-01T10:60:00Z' }), 'input.start'],
      [book({ start: '9999-06-01T10:00:00Z', end: '9999-06-01T10:30:00Z' }), 'input.start'],
      [book({ start: '2001-06-01T10:00:00Z', end: '2001-06-01T10:30:00Z' }), 'input.start'],
      [book({ end: slot(8).end }), 'input.end'],
      [book({}, { deadline: '2030-13-01T00:00:00Z' }), 'deadline'],
      [book({}, { deadline: '2030-02-30T00:00:00Z' }), 'deadline'],
      [book({}, { deadline: '2030-01-01T24:00:00Z' }), 'deadline'],
      [create({ birthDate: '0000-00-00' }), 'input.birthDate'],
      [create({ birthDate: '1066-10-14' }), 'input.birthDate'],
      [create({ birthDate: '2999-01-01' }), 'input.birthDate'],
      [create({ birthDate: '1990-02-30' }), 'input.birthDate'],
      [create({ birthDate: '1990-13-01' }), 'input.birthDate'],
      [
        create({ birthDate: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10) }),
        'input.birthDate',
      ],
      [
        {
          command: 'Appointment.confirm',
          connectionId: CONNECTION,
          idempotencyKey: 'confirm-bad-date',
          input: { appointmentId: ids.patient, confirmedAt: '2030-02-30T10:00:00Z' },
        },
        'input.confirmedAt',
      ],
    ];
    for (const [body, path] of cases) {
      const { status, paths } = await answer(post(body));
      expect({ body, status }).toEqual({ body, status: 400 });
      expect(paths).toContain(path);
    }
    expect(await state()).toEqual(before);
  });

  it('control characters in any text are a 400 naming the field; line breaks are fine in a note', async () => {
    const before = await state();
    const cases: [Record<string, unknown>, string][] = [
      [book({ note: 'first\u0000visit' }), 'input.note'],
      [book({ note: 'red \u001b[31m alert' }), 'input.note'],
      [book({ note: 'broken \ud800 pair' }), 'input.note'],
      [create({ name: { family: 'Sa\u0000ne', given: ['Iris'] } }), 'input.name.family'],
      [create({ telecom: [{ system: 'email', value: 'iris\u0000@example.org' }] }), 'input.telecom.0.value'],
      [create({ addresses: [{ line: ['1 Main\u0007 St'] }] }), 'input.addresses.0.line.0'],
      [create({ addresses: [{ line: ['1 Main St'], city: 'Mesa\u0085' }] }), 'input.addresses.0.city'],
    ];
    for (const [body, path] of cases) {
      const { status, paths } = await answer(post(body));
      expect({ body, status }).toEqual({ body, status: 400 });
      expect(paths).toContain(path);
    }
    expect(await state()).toEqual(before);
    const accepted = await post(book({ note: 'line one\nline two\ttabbed' }));
    expect(accepted.status).toBe(202);
    const result = await waitForResult(base, key, ((await accepted.json()) as { id: string }).id);
    expect(result['status']).toBe('written');
  });

  it('the booking horizon is per connection: 2 years by default, writeback.bookingHorizonDays where set', async () => {
    const far = await answer(post(book(slot(40, 10), { connectionId: NEAR })));
    expect(far).toEqual({ status: 400, paths: ['input.start'] });
    const inside = await post(
      book(
        {
          ...slot(20, 10),
          patientId: resourceId(NEAR, 'Patient', sourceIds.patient),
          practitionerIds: [resourceId(NEAR, 'Practitioner', sourceIds.practitioner)],
          locationId: resourceId(NEAR, 'Location', sourceIds.location),
        },
        { connectionId: NEAR },
      ),
    );
    expect(inside.status).toBe(202);
    expect((await waitForResult(base, key, ((await inside.json()) as { id: string }).id))['status']).toBe(
      'written',
    );
    const defaultHorizon = await post(book(slot(40, 11)));
    expect(defaultHorizon.status).toBe(202);
    await waitForResult(base, key, ((await defaultHorizon.json()) as { id: string }).id);
    expect(await answer(post(book(slot(740, 11))))).toEqual({ status: 400, paths: ['input.start'] });
  });

  it('an unknown connection is 404; an existing one the key is not scoped to is 403', async () => {
    expect((await post(book({}, { connectionId: 'no-such-connection' }))).status).toBe(404);
    expect((await post(book({}, { connectionId: 'nul\u0000connection' }))).status).toBe(404);
    expect((await post(book({}), { token: otherKey })).status).toBe(403);
    const capabilities = (id: string, token: string) =>
      fetch(`${base}/v1/connections/${id}/capabilities`, { headers: { authorization: `Bearer ${token}` } });
    expect((await capabilities('no-such-connection', key)).status).toBe(404);
    expect((await capabilities(CONNECTION, otherKey)).status).toBe(403);
  });

  it('no input gets a 5xx, and nothing malformed is queued or written', async () => {
    const before = await state();
    const raw = [
      '{',
      '[]',
      'null',
      '"text"',
      '123',
      '',
      '{"command": ',
      '{"__proto__": {"polluted": true}}',
      '{"constructor": {"prototype": {"polluted": true}}}',
      '['.repeat(5000) + ']'.repeat(5000),
      '{"input": 1e400}',
      '{"command": "Appointment.book", "connectionId": "sane-emr", "idempotencyKey": "raw-1", "input": {"start": 1e400}}',
      JSON.stringify({ a: 'x'.repeat(70_000) }),
    ];
    const bodies: unknown[] = [
      {},
      { command: 123, connectionId: [], idempotencyKey: {}, input: 'x' },
      { command: 'Appointment.book', connectionId: CONNECTION, idempotencyKey: 'é'.repeat(10), input: {} },
      { command: 'Appointment.book', connectionId: CONNECTION, idempotencyKey: 'x'.repeat(201), input: {} },
      { command: 'Appointment.book', connectionId: null, idempotencyKey: 'k', input: {} },
      { command: 'Patient.delete', connectionId: CONNECTION, idempotencyKey: 'k', input: {} },
      book({}, { deadline: 20300101 }),
      book({}, { deadline: '0000-01-01T00:00:00Z' }),
      book({}, { deadline: '2000-01-01T00:00:00Z' }),
      book({}, { expectedHash: 'abc' }),
      book({}, { extra: true }),
      book({ start: Number.MAX_VALUE }),
      book({ start: null, end: null }),
      book({ start: ['2030-01-01T10:00:00Z'] }),
      book({ start: { $gt: '' } }),
      book({ start: '2030-01-01T10:00:00+02:00' }),
      book({ start: '2030-01-01' }),
      book({ start: '' }),
      book({ practitionerIds: [] }),
      book({ practitionerIds: Array(6).fill(ids.practitioner) }),
      book({ practitionerIds: ids.practitioner }),
      book({ patientId: "1' OR '1'='1" }),
      book({ patientId: ids.patient.toUpperCase() }),
      book({ note: 'x'.repeat(2001) }),
      book({ note: 42 }),
      book({ note: { nested: { deeper: [1, 2, 3] } } }),
      book({ operatoryId: true }),
      create({ name: 'Iris Sane' }),
      create({ name: { family: '', given: [] } }),
      create({ name: { family: 'Sane', given: ['Iris', 'A', 'B', 'C'] } }),
      create({ gender: 'robot' }),
      create({ telecom: [] }),
      create({ telecom: [{ system: 'fax', value: '+1 602 555 0110' }] }),
      create({ telecom: [{ system: 'phone', value: '12' }] }),
      create({ addresses: [{ line: [] }] }),
      create({ addresses: 'Main St' }),
      create({ matchPolicy: 'overwrite' }),
      {
        command: 'Patient.update',
        connectionId: CONNECTION,
        idempotencyKey: 'u1',
        input: { patientId: ids.patient },
      },
      {
        command: 'Patient.update',
        connectionId: CONNECTION,
        idempotencyKey: 'u2',
        input: { patientId: ids.patient, language: 'english\u0000' },
      },
      {
        command: 'Patient.update',
        connectionId: CONNECTION,
        idempotencyKey: 'u3',
        input: { patientId: ids.patient, birthDate: '1990-01-01' },
      },
      {
        command: 'Appointment.reschedule',
        connectionId: CONNECTION,
        idempotencyKey: 'r1',
        input: { appointmentId: ids.patient, start: '2030-13-01T10:00:00Z', end: '2030-13-01T11:00:00Z' },
      },
      { command: 'Appointment.cancel', connectionId: CONNECTION, idempotencyKey: 'c1', input: null },
    ];
    const statuses: number[] = [];
    for (const body of raw) statuses.push((await post(body, { raw: true })).status);
    statuses.push((await post('{}', { raw: true, type: 'text/plain' })).status);
    statuses.push((await post('{}', { raw: true, type: 'application/x-www-form-urlencoded' })).status);
    for (const body of bodies) statuses.push((await post(body)).status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => [400, 404, 413, 415].includes(s))).toBe(true);
    expect(await state()).toEqual(before);
  });
});
