import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey, type ApiServer } from '@tendril/api';
import { openEmr } from '@tendril/connector-openemr';
import { ConnectionConfig, resourceId, type ConnectorDefinition } from '@tendril/core';
import { createWritebackWorker, silentLogger, syncStream, type WritebackWorker } from '@tendril/scheduler';
import { createSqlClient, grantsScript, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createWritebackOpenEmrDatabase,
  waitForResult,
  createVendorKey,
  startWritebackApi,
} from './support/writeback.js';

const CONNECTION = 'desert-emr';
const ZONE = 'America/Phoenix';
const EVENTS = 'openemr_postcalendar_events';

/** A whole-hour slot `days` ahead (Phoenix has no DST: UTC−7), `hour` office time, `minutes` long. */
/**
 * A waiting request (`Prefer: wait`) that nothing has finished yet: still unanswered after 300 ms,
 * then answered once `finish` (the worker's drain) has run.
 */
async function answeredOnlyAfter(
  request: Promise<Response>,
  finish: () => Promise<unknown>,
): Promise<Response> {
  let settled = false;
  const tracked = request.then((r) => {
    settled = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 300));
  expect(settled).toBe(false);
  await finish();
  return tracked;
}

function slot(days: number, hour: number, minutes = 30): { start: string; end: string; date: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T${String(hour).padStart(2, '0')}:00:00-07:00`);
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + minutes * 60_000).toISOString().replace('.000Z', 'Z'),
    date: day,
  };
}

/**
 * Writeback end to end on OpenEMR's real schema in MariaDB: the HTTP API on loopback (API keys,
 * validation, idempotency), the worker writing by SQL in one InnoDB transaction with the slot
 * check locked, the read-back through the polling query, the audit log and the result event,
 * and the next poll seeing the written row as an ordinary change with the same id.
 */
describe('writeback: OpenEMR on MariaDB through the API', () => {
  let db: Awaited<ReturnType<typeof createWritebackOpenEmrDatabase>>;
  let emr: mysql.Connection;
  let dir: string;
  let store: Store;
  let read: SqlClient;
  let write: SqlClient;
  let worker: WritebackWorker;
  /** The worker the API wakes, when a test uses its own. */
  let woken: WritebackWorker | undefined;
  let api: ApiServer;
  let base: string;
  let key: string;
  let otherKey: string;
  let paused = false;
  let connection: ConnectionConfig;
  let readOnly: ConnectionConfig;
  const ids = { patient: '', patient2: '', practitioner: '', practitioner2: '', location: '' };
  const sourceIds = { pid: '', userId: '', userId2: '' };

  const connectorFor = (): ConnectorDefinition => openEmr;
  const post = (body: unknown, token: string | null = key, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/writebacks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const count = async (where = '1 = 1', params: unknown[] = []) => {
    const [rows] = await emr.query(`SELECT COUNT(*) AS n FROM ${EVENTS} WHERE ${where}`, params);
    return Number((rows as { n: string }[])[0]!.n);
  };
  const book = (
    idempotencyKey: string,
    s: { start: string; end: string },
    extra: Record<string, unknown> = {},
  ) => ({
    command: 'Appointment.book',
    connectionId: CONNECTION,
    idempotencyKey,
    input: {
      patientId: ids.patient,
      practitionerIds: [ids.practitioner],
      locationId: ids.location,
      start: s.start,
      end: s.end,
      ...extra,
    },
  });
  const sync = async (stream: string, full = false) =>
    syncStream({ sql: read, store, logger: silentLogger }, { connection, connector: openEmr, stream, full });

  beforeAll(async () => {
    db = await createWritebackOpenEmrDatabase('api');
    emr = await db.connect();
    const [users] = await emr.query(
      'SELECT id FROM users WHERE authorized = 1 AND active = 1 ORDER BY id LIMIT 2',
    );
    const [patients] = await emr.query('SELECT pid FROM patient_data ORDER BY pid LIMIT 2');
    const [facilities] = await emr.query('SELECT id FROM facility ORDER BY id LIMIT 1');
    sourceIds.userId = String((users as { id: string }[])[0]!.id);
    sourceIds.userId2 = String((users as { id: string }[])[1]!.id);
    sourceIds.pid = String((patients as { pid: string }[])[0]!.pid);
    ids.practitioner = resourceId(CONNECTION, 'Practitioner', sourceIds.userId);
    ids.practitioner2 = resourceId(CONNECTION, 'Practitioner', sourceIds.userId2);
    ids.patient = resourceId(CONNECTION, 'Patient', sourceIds.pid);
    ids.patient2 = resourceId(CONNECTION, 'Patient', String((patients as { pid: string }[])[1]!.pid));
    ids.location = resourceId(CONNECTION, 'Location', String((facilities as { id: string }[])[0]!.id));

    connection = ConnectionConfig.parse({
      id: CONNECTION,
      connector: 'openemr',
      timezone: ZONE,
      database: { url: db.url },
      sync: { settleSeconds: 0 },
      writeback: { enabled: true, database: { url: db.url } },
    });
    readOnly = ConnectionConfig.parse({
      id: 'read-only-emr',
      connector: 'openemr',
      timezone: ZONE,
      database: { url: db.url },
    });
    dir = mkdtempSync(join(tmpdir(), 'tendril-wb-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    read = createSqlClient(connection.database);
    write = createSqlClient(connection.writeback!.database!, { pool: { min: 0, max: 8 } });
    // The references a command uses resolve through the shadow store: poll them first.
    // A poll's window ends before the current second (rows stamped in it may still be committing): let the load's second pass.
    await new Promise((r) => setTimeout(r, 1100));
    for (const stream of ['patients', 'practitioners', 'offices', 'appointments']) await sync(stream, true);

    worker = createWritebackWorker({
      store,
      logger: silentLogger,
      connections: [connection, readOnly],
      connectorFor,
      readClient: () => read,
      writeClient: () => write,
      concurrency: 8,
      // Side by side: the race tests below prove the EHR's lock alone, as with two agents on one EHR.
      queueBookings: false,
    });
    ({ api, base } = await startWritebackApi({
      store,
      connections: [connection, readOnly],
      connectorFor,
      kick: () => {
        if (!paused) (woken ?? worker).kick();
      },
      whenFinished: (id, timeoutMs, signal) => worker.whenFinished(id, timeoutMs, signal),
    }));
    key = await createVendorKey(store, 'vendor', [CONNECTION, 'read-only-emr']);
    otherKey = await createVendorKey(store, 'other', ['some-other-connection']);
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

  it('books: 202, then written; the row is in OpenEMR, read back, audited, emitted, and the next poll sees it with the same id', async () => {
    const s = slot(3, 9);
    const response = await post(book('book-1', s, { note: 'first visit' }));
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; status: string };
    expect(accepted.status).toBe('accepted');
    const result = await waitForResult(base, key, accepted.id);
    expect(result['status']).toBe('written');
    expect(result['error']).toBeNull();
    const eid = String(result['sourceId']);
    const [rows] = await emr.query(
      `SELECT pc_pid, pc_aid, pc_eventDate, pc_startTime, pc_endTime, pc_duration, pc_multiple, pc_eventstatus, pc_sharing, pc_informant, pc_apptstatus, HEX(uuid) AS uuid FROM ${EVENTS} WHERE pc_eid = ?`,
      [eid],
    );
    const row = (rows as Record<string, unknown>[])[0]!;
    expect(row).toMatchObject({
      pc_pid: sourceIds.pid,
      pc_aid: sourceIds.userId,
      pc_eventDate: s.date,
      pc_startTime: '09:00:00',
      pc_endTime: '09:30:00',
      pc_duration: '1800',
      pc_multiple: 0,
      pc_eventstatus: 1,
      pc_sharing: 1,
      pc_informant: 'tendril',
      pc_apptstatus: '-',
    });
    const [registry] = await emr.query('SELECT table_name, table_id FROM uuid_registry WHERE HEX(uuid) = ?', [
      row['uuid'],
    ]);
    expect(registry).toEqual([{ table_name: EVENTS, table_id: 'pc_eid' }]);

    const resource = result['resource'] as Record<string, unknown>;
    expect(resource).toMatchObject({
      resourceType: 'Appointment',
      id: resourceId(CONNECTION, 'Appointment', eid),
      status: 'booked',
      start: s.start,
      end: s.end,
      patientId: ids.patient,
      practitionerIds: [ids.practitioner],
      note: 'first visit',
    });
    expect(result['resourceId']).toBe(resource['id']);
    expect(result['warnings']).toEqual([]);

    const audit = await store.writebacks.listAudit(accepted.id);
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['accepted', 'executing', 'statement', 'written']),
    );
    const auditText = JSON.stringify(audit);
    // The statement text as knex built it (quoted identifiers), never its values.
    expect(auditText).toMatch(new RegExp(`insert into \\W?${EVENTS}\\W`, 'i'));
    expect(auditText).not.toContain('first visit');
    expect(auditText).not.toContain(s.date);

    const [event] = (await store.listEvents({ connectionId: CONNECTION, limit: 1000 })).filter(
      (e) => e.envelope.type === 'appointment.writeback.written',
    );
    expect(event?.envelope.resourceId).toBe(resource['id']);
    expect((event?.envelope.data as { id: string }).id).toBe(accepted.id);

    const polled = await sync('appointments');
    expect(polled.created).toBe(1);
    const created = (
      await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true })
    ).find((e) => e.envelope.type === 'appointment.created');
    expect(created?.envelope.resourceId).toBe(resource['id']);
  });

  it('the same idempotency key twice is one command and one row; with another payload it is a 409', async () => {
    const s = slot(4, 10);
    const before = await count();
    const first = await post(book('same-key', s));
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    await waitForResult(base, key, id);
    const second = await post(book('same-key', s));
    expect(second.status).toBe(200);
    expect(((await second.json()) as { id: string }).id).toBe(id);
    const viaHeader = await post({ ...book('ignored', s), idempotencyKey: undefined }, key, {
      'idempotency-key': 'same-key',
    });
    expect(viaHeader.status).toBe(200);
    const reused = await post(book('same-key', slot(4, 11)));
    expect(reused.status).toBe(409);
    expect(((await reused.json()) as { code: string }).code).toBe('idempotency_key_reused');
    expect(await count()).toBe(before + 1);
  });

  it('an overlapping slot fails with slot_conflict and writes nothing', async () => {
    const s = slot(5, 13, 60);
    const first = await post(book('overlap-a', s));
    expect((await waitForResult(base, key, ((await first.json()) as { id: string }).id))['status']).toBe(
      'written',
    );
    const before = await count();
    const overlapping = {
      start: new Date(Date.parse(s.start) + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
      end: new Date(Date.parse(s.end) + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
    };
    const second = await post({
      ...book('overlap-b', overlapping),
      input: { ...book('x', overlapping).input, patientId: ids.patient2 },
    });
    const result = await waitForResult(base, key, ((await second.json()) as { id: string }).id);
    expect(result['status']).toBe('failed');
    expect((result['error'] as { code: string }).code).toBe('slot_conflict');
    expect(await count()).toBe(before);
    // Another practitioner at the same time is fine.
    const other = await post({
      ...book('overlap-c', overlapping),
      input: { ...book('x', overlapping).input, practitionerIds: [ids.practitioner2] },
    });
    expect((await waitForResult(base, key, ((await other.json()) as { id: string }).id))['status']).toBe(
      'written',
    );
  });

  it('the worker is a pipeline: a command accepted while a slow one runs is written before that one ends', async () => {
    // The slow command: a patient update whose locked read of the patient's row waits on this lock.
    const blocker = await db.connect();
    let slowId = '';
    try {
      await blocker.query('START TRANSACTION');
      await blocker.query('SELECT pid FROM patient_data WHERE pid = ? FOR UPDATE', [sourceIds.pid]);
      const slow = await post({
        command: 'Patient.update',
        connectionId: CONNECTION,
        idempotencyKey: 'pipeline-slow',
        input: { patientId: ids.patient, preferredName: 'Pip' },
      });
      slowId = ((await slow.json()) as { id: string }).id;
      // Claimed (alone) before the next one is accepted.
      while ((await store.writebacks.get(slowId))?.phase !== 'executing')
        await new Promise((r) => setTimeout(r, 10));
      const fast = await post(book('pipeline-fast', slot(7, 10), { patientId: ids.patient2 }));
      const written = await waitForResult(base, key, ((await fast.json()) as { id: string }).id);
      expect(written['status']).toBe('written');
      expect((await store.writebacks.get(slowId))?.phase).toBe('executing');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect((await waitForResult(base, key, slowId))['status']).toBe('written');
  });

  it('Prefer: wait=N answers GET /v1/writebacks/:id when the command is finished, or with its state after N seconds', async () => {
    const get = (id: string, prefer: string) =>
      fetch(`${base}/v1/writebacks/${id}`, { headers: { authorization: `Bearer ${key}`, prefer } });
    paused = true;
    try {
      const response = await post(book('prefer-wait', slot(8, 11)));
      const { id } = (await response.json()) as { id: string };
      // Nothing runs it yet: after a one-second wait the answer is its current state.
      const early = await get(id, 'wait=1');
      expect(early.headers.get('preference-applied')).toBe('wait=1');
      expect(((await early.json()) as { status: string }).status).toBe('accepted');
      // A longer wait is still open when the worker starts, and answers with the written command.
      const answered = await answeredOnlyAfter(get(id, 'respond-async, wait=20'), () => worker.drain());
      expect(answered.headers.get('preference-applied')).toBe('wait=20');
      expect(((await answered.json()) as { status: string }).status).toBe('written');
      // Finished already: answered at once, without waiting.
      const again = await get(id, 'wait=20');
      expect(again.headers.get('preference-applied')).toBeNull();
      expect(((await again.json()) as { status: string }).status).toBe('written');
    } finally {
      paused = false;
    }
  });

  it('Prefer: wait=N on the POST answers 200 with the finished command, or 202 as usual after N seconds', async () => {
    paused = true;
    try {
      // Nothing runs it: after one second the answer is the usual 202, with the preference applied.
      const early = await post(book('post-wait-early', slot(8, 13)), key, { prefer: 'wait=1' });
      expect(early.status).toBe(202);
      expect(early.headers.get('preference-applied')).toBe('wait=1');
      const { id: earlyId } = (await early.json()) as { id: string };
      // A longer wait is still open when the worker starts, and answers with the written command.
      const answered = await answeredOnlyAfter(
        post(book('post-wait', slot(8, 14)), key, { prefer: 'wait=20' }),
        () => worker.drain(),
      );
      expect(answered.status).toBe(200);
      expect(answered.headers.get('preference-applied')).toBe('wait=20');
      const body = (await answered.json()) as { id: string; status: string };
      expect(body.status).toBe('written');
      expect(answered.headers.get('location')).toBe(`/v1/writebacks/${body.id}`);
      expect((await waitForResult(base, key, earlyId))['status']).toBe('written');
    } finally {
      paused = false;
    }
  });

  it('concurrent bookings of one slot: exactly one is written', async () => {
    const s = slot(6, 8);
    const before = await count('pc_eventDate = ? AND pc_aid = ?', [s.date, sourceIds.userId]);
    // Queue all eight first, then let one drain claim them together: eight transactions at once.
    paused = true;
    let accepted: string[];
    try {
      const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => post(book(`race-${i}`, s))));
      accepted = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));
      await worker.drain();
    } finally {
      paused = false;
    }
    const results = await Promise.all(accepted.map((id) => waitForResult(base, key, id)));
    expect(results.filter((r) => r['status'] === 'written')).toHaveLength(1);
    expect(
      results.filter((r) => r['status'] === 'failed').map((r) => (r['error'] as { code: string }).code),
    ).toEqual(Array(7).fill('slot_conflict'));
    expect(await count('pc_eventDate = ? AND pc_aid = ?', [s.date, sourceIds.userId])).toBe(before + 1);
  });

  /** A worker that queues bookings (the default), on its own write pool whose statements it records. */
  async function withQueuedWorker(test: (statements: string[]) => Promise<void>): Promise<void> {
    const queuedWrite = createSqlClient(connection.writeback!.database!, { pool: { min: 0, max: 8 } });
    const statements: string[] = [];
    queuedWrite.knex.on('query', (query: { sql: string }) => statements.push(query.sql));
    woken = createWritebackWorker({
      store,
      logger: silentLogger,
      connections: [connection],
      connectorFor,
      readClient: () => read,
      writeClient: () => queuedWrite,
      concurrency: 8,
    });
    try {
      await test(statements);
    } finally {
      woken = undefined;
      await queuedWrite.close();
    }
  }
  const idOf = async (response: Response) => ((await response.json()) as { id: string }).id;
  const slotRead = (sql: string) => sql.includes(EVENTS) && /for update/i.test(sql);

  it('queued bookings of one day take turns in claim order: the first accepted of one slot is written', async () => {
    await withQueuedWorker(async () => {
      const s = slot(8, 8);
      paused = true;
      let accepted: string[];
      try {
        accepted = [];
        // One at a time, so the claim order (oldest first) is the order of this list.
        for (let i = 0; i < 8; i++) accepted.push(await idOf(await post(book(`turn-${i}`, s))));
        await woken!.drain();
      } finally {
        paused = false;
      }
      const results = await Promise.all(accepted.map((id) => waitForResult(base, key, id)));
      expect(results.map((r) => r['status'])).toEqual(['written', ...Array(7).fill('failed')]);
      expect(results.slice(1).map((r) => (r['error'] as { code: string }).code)).toEqual(
        Array(7).fill('slot_conflict'),
      );
    });
  });

  it('a queued booking re-reads its references while the day’s turn-holder holds its locks, and takes its locks only after it', async () => {
    await withQueuedWorker(async (statements) => {
      const first = slot(9, 8);
      const second = slot(9, 10);
      // The turn-holder's slot read waits on this lock on the day's appointments.
      const blocker = await db.connect();
      let firstId = '';
      let secondId = '';
      try {
        await blocker.query('START TRANSACTION');
        await blocker.query(`SELECT pc_eid FROM ${EVENTS} WHERE pc_eventDate = ? FOR UPDATE`, [first.date]);
        firstId = await idOf(await post(book('turn-holder', first)));
        while (statements.filter(slotRead).length === 0) await new Promise((r) => setTimeout(r, 10));
        const mark = statements.length;
        secondId = await idOf(await post(book('turn-waiter', second, { patientId: ids.patient2 })));
        // The second booking's patient re-read runs now, while the first still waits inside its transaction.
        const until = Date.now() + 15_000;
        while (!statements.slice(mark).some((sql) => sql.includes('patient_data'))) {
          if (Date.now() > until) throw new Error('the queued booking did not re-read its patient');
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(statements.slice(mark).filter(slotRead)).toEqual([]);
        expect((await store.writebacks.get(firstId))?.phase).toBe('executing');
        expect((await store.writebacks.get(secondId))?.phase).toBe('executing');
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
      }
      const results = await Promise.all([firstId, secondId].map((id) => waitForResult(base, key, id)));
      expect(results.map((r) => r['status'])).toEqual(['written', 'written']);
      // In turn: the second's locking read came after the first's commit.
      const slotReads = statements.flatMap((sql, i) => (slotRead(sql) ? [i] : []));
      const firstCommit = statements.findIndex((sql) => /^commit/i.test(sql));
      expect(slotReads).toHaveLength(2);
      expect(firstCommit).toBeGreaterThan(slotReads[0]!);
      expect(slotReads[1]).toBeGreaterThan(firstCommit);
    });
  });

  it('a queued booking whose deadline passes while it waits for its turn is timed_out, and nothing of it is written', async () => {
    await withQueuedWorker(async (statements) => {
      const first = slot(12, 8);
      const late = slot(12, 10);
      const blocker = await db.connect();
      let firstId = '';
      let lateId = '';
      try {
        await blocker.query('START TRANSACTION');
        await blocker.query(`SELECT pc_eid FROM ${EVENTS} WHERE pc_eventDate = ? FOR UPDATE`, [first.date]);
        firstId = await idOf(await post(book('deadline-holder', first)));
        while (statements.filter(slotRead).length === 0) await new Promise((r) => setTimeout(r, 10));
        lateId = await idOf(
          await post({
            ...book('deadline-waiter', late),
            deadline: new Date(Date.now() + 1500).toISOString(),
          }),
        );
        // Claimed before its deadline, then left waiting behind the turn-holder past it.
        while ((await store.writebacks.get(lateId))?.phase === 'queued')
          await new Promise((r) => setTimeout(r, 10));
        expect((await store.writebacks.get(lateId))?.phase).toBe('executing');
        await new Promise((r) => setTimeout(r, 1700));
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
      }
      expect((await waitForResult(base, key, firstId))['status']).toBe('written');
      expect((await waitForResult(base, key, lateId))['status']).toBe('timed_out');
      expect(await count('pc_eventDate = ? AND pc_startTime = ?', [late.date, '10:00:00'])).toBe(0);
    });
  });

  it('malformed, oversized and injection-laden requests are 4xx with field errors, and nothing is written', async () => {
    const before = await count();
    const [patientsBefore] = await emr.query('SELECT COUNT(*) AS n FROM patient_data');
    const queuedBefore = await store.writebacks.countPending();
    const s = slot(7, 9);

    const missing = await post({
      command: 'Appointment.book',
      connectionId: CONNECTION,
      idempotencyKey: 'bad-1',
      input: { start: s.start },
    });
    expect(missing.status).toBe(400);
    const missingBody = (await missing.json()) as { code: string; errors: { path: string }[] };
    expect(missingBody.code).toBe('validation_failed');
    expect(missingBody.errors.map((e) => e.path)).toEqual(
      expect.arrayContaining(['input.patientId', 'input.practitionerIds']),
    );

    const backwards = await post(book('bad-2', { start: s.end, end: s.start }));
    expect(backwards.status).toBe(400);
    expect(((await backwards.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(
      'input.end',
    );

    const injectedId = await post({
      ...book('bad-3', s),
      input: { ...book('x', s).input, patientId: "1' OR '1'='1" },
    });
    expect(injectedId.status).toBe(400);
    expect(((await injectedId.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      'input.patientId',
    ]);

    const injectedName = await post({
      command: 'Patient.create',
      connectionId: CONNECTION,
      idempotencyKey: 'bad-4',
      input: {
        name: { family: "Robert'); DROP TABLE patient_data;--", given: ['Bobby'] },
        birthDate: '1990-01-01',
        gender: 'male',
        telecom: [{ system: 'phone', value: '555 010 0199' }],
      },
    });
    expect(injectedName.status).toBe(400);
    expect(((await injectedName.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(
      ['input.name.family'],
    );

    const extraField = await post({ ...book('bad-5', s), input: { ...book('x', s).input, pc_aid: '1' } });
    expect(extraField.status).toBe(400);

    const oversized = await post({
      ...book('bad-6', s),
      input: { ...book('x', s).input, note: 'x'.repeat(70_000) },
    });
    expect(oversized.status).toBe(413);
    expect(((await oversized.json()) as { code: string }).code).toBe('payload_too_large');

    const longNote = await post({
      ...book('bad-7', s),
      input: { ...book('x', s).input, note: 'x'.repeat(2001) },
    });
    expect(longNote.status).toBe(400);
    expect(((await longNote.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      'input.note',
    ]);

    const notJson = await post('{"command": ');
    expect(notJson.status).toBe(400);

    const noKey = await post({ ...book('', s), idempotencyKey: '' });
    expect(noKey.status).toBe(400);
    expect(((await noKey.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(
      'idempotencyKey',
    );

    const birthDate = await post({
      command: 'Patient.update',
      connectionId: CONNECTION,
      idempotencyKey: 'bad-8',
      input: { patientId: ids.patient, birthDate: '1980-02-02' },
    });
    expect(birthDate.status).toBe(400);

    expect(await count()).toBe(before);
    const [patientsAfter] = await emr.query('SELECT COUNT(*) AS n FROM patient_data');
    expect(patientsAfter).toEqual(patientsBefore);
    expect(await store.writebacks.countPending()).toBe(queuedBefore);
  });

  it('authentication: no key or a wrong key is 401, a key of another connection 403, a revoked key 401', async () => {
    const body = book('auth-1', slot(8, 9));
    expect((await post(body, null)).status).toBe(401);
    expect((await post(body, 'tdk_0000000000000000_' + 'A'.repeat(43))).status).toBe(401);
    expect((await post(body, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).status).toBe(401);
    expect((await post(body, 'not-a-key')).status).toBe(401);
    const forbidden = await post(body, otherKey);
    expect(forbidden.status).toBe(403);
    expect(
      (
        await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
          headers: { authorization: `Bearer ${otherKey}` },
        })
      ).status,
    ).toBe(403);
    const temp = generateApiKey();
    await store.writebacks.createApiKey({
      id: temp.id,
      name: 'temp',
      secretHash: temp.secretHash,
      connectionIds: [CONNECTION],
      subscriptionIds: [],
      createdAt: new Date().toISOString(),
    });
    expect(
      (
        await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
          headers: { authorization: `Bearer ${temp.key}` },
        })
      ).status,
    ).toBe(200);
    expect(await store.writebacks.revokeApiKey(temp.id, new Date().toISOString())).toBe(true);
    expect(
      (
        await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
          headers: { authorization: `Bearer ${temp.key}` },
        })
      ).status,
    ).toBe(401);
    // A command is visible to the client that sent it only.
    const mine = await post(book('auth-2', slot(8, 10)));
    const { id } = (await mine.json()) as { id: string };
    expect(
      (await fetch(`${base}/v1/writebacks/${id}`, { headers: { authorization: `Bearer ${otherKey}` } }))
        .status,
    ).toBe(404);
    await waitForResult(base, key, id);
  });

  it('capabilities: supported on the sql path where writeback is configured, needs-config where it is not; unsupported commands are 422', async () => {
    const caps = (await (
      await fetch(`${base}/v1/connections/${CONNECTION}/capabilities`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as {
      commands: Record<string, { state: string; writePath?: string }>;
    };
    expect(caps.commands['Appointment.book']).toEqual({ state: 'supported', writePath: 'sql' });
    expect(caps.commands['Patient.create']?.state).toBe('supported');
    const off = (await (
      await fetch(`${base}/v1/connections/read-only-emr/capabilities`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as {
      commands: Record<string, { state: string }>;
    };
    expect(off.commands['Appointment.book']?.state).toBe('needs-config');
    const refused = await post({ ...book('cap-1', slot(9, 9)), connectionId: 'read-only-emr' });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { code: string }).code).toBe('unsupported');
    const openapi = (await (await fetch(`${base}/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/writebacks', '/v1/writebacks/{id}', '/v1/connections/{id}/capabilities']),
    );
    expect(openapi.components.schemas['AppointmentbookInput']).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['patientId', 'start']),
    });
  });

  it('cancel, confirm and reschedule change the row in place and read back', async () => {
    const s = slot(10, 9);
    const booked = await waitForResult(
      base,
      key,
      ((await (await post(book('life-1', s))).json()) as { id: string }).id,
    );
    const appointmentId = String(booked['resourceId']);
    const eid = String(booked['sourceId']);
    const run = async (command: string, idempotencyKey: string, input: Record<string, unknown>) =>
      waitForResult(
        base,
        key,
        (
          (await (await post({ command, connectionId: CONNECTION, idempotencyKey, input })).json()) as {
            id: string;
          }
        ).id,
      );

    const confirmed = await run('Appointment.confirm', 'life-2', { appointmentId, method: 'sms' });
    expect(confirmed['status']).toBe('written');
    expect((confirmed['resource'] as { confirmed?: boolean }).confirmed).toBe(true);

    const moved = slot(10, 15, 45);
    const rescheduled = await run('Appointment.reschedule', 'life-3', {
      appointmentId,
      start: moved.start,
      end: moved.end,
      practitionerIds: [ids.practitioner2],
    });
    expect(rescheduled['status']).toBe('written');
    expect(rescheduled['resource']).toMatchObject({
      id: appointmentId,
      start: moved.start,
      end: moved.end,
      practitionerIds: [ids.practitioner2],
    });

    const cancelled = await run('Appointment.cancel', 'life-4', { appointmentId });
    expect(cancelled['status']).toBe('written');
    expect((cancelled['resource'] as { status: string }).status).toBe('cancelled');
    const [rows] = await emr.query(
      `SELECT pc_apptstatus, pc_startTime, pc_aid FROM ${EVENTS} WHERE pc_eid = ?`,
      [eid],
    );
    expect(rows).toEqual([{ pc_apptstatus: 'x', pc_startTime: '15:00:00', pc_aid: sourceIds.userId2 }]);

    const missing = await run('Appointment.cancel', 'life-5', {
      appointmentId: resourceId(CONNECTION, 'Appointment', '999999'),
    });
    expect(missing['status']).toBe('failed');
    expect((missing['error'] as { code: string }).code).toBe('not_found');
  });

  it('Patient.create matches before it creates: a second request with the same person returns the existing patient', async () => {
    const [before] = await emr.query('SELECT COUNT(*) AS n FROM patient_data');
    const input = {
      name: { family: "O'Hara", given: ['Maeve', 'Ann'] },
      birthDate: '1988-04-12',
      gender: 'female',
      telecom: [
        { system: 'phone', use: 'mobile', value: '+1 (602) 555-0142' },
        { system: 'email', value: 'maeve@example.org' },
      ],
      addresses: [{ line: ['12 Cactus Rd'], city: 'Phoenix', state: 'AZ', postalCode: '85001' }],
      primaryPractitionerId: ids.practitioner,
    };
    const run = async (idempotencyKey: string, body: Record<string, unknown>) =>
      waitForResult(
        base,
        key,
        (
          (await (
            await post({ command: 'Patient.create', connectionId: CONNECTION, idempotencyKey, input: body })
          ).json()) as { id: string }
        ).id,
      );
    const created = await run('pat-1', input);
    expect(created['status']).toBe('written');
    expect(created['matched']).toBe(false);
    expect(created['resource']).toMatchObject({
      resourceType: 'Patient',
      birthDate: '1988-04-12',
      gender: 'female',
      name: { family: "O'Hara", given: ['Maeve', 'Ann'] },
    });
    const again = await run('pat-2', {
      ...input,
      name: { family: "o'hara ", given: ['MAEVE'] },
      telecom: [{ system: 'phone', value: '602.555.0142' }],
    });
    expect(again['status']).toBe('written');
    expect(again['matched']).toBe(true);
    expect(again['resourceId']).toBe(created['resourceId']);
    const strict = await run('pat-3', { ...input, matchPolicy: 'fail-if-exists' });
    expect((strict['error'] as { code: string }).code).toBe('patient_exists');
    const [after] = await emr.query('SELECT COUNT(*) AS n FROM patient_data');
    expect(Number((after as { n: string }[])[0]!.n)).toBe(Number((before as { n: string }[])[0]!.n) + 1);

    const update = await waitForResult(
      base,
      key,
      (
        (await (
          await post({
            command: 'Patient.update',
            connectionId: CONNECTION,
            idempotencyKey: 'pat-5',
            input: { patientId: created['resourceId'], preferredName: 'Mae' },
          })
        ).json()) as { id: string }
      ).id,
    );
    expect(update['status']).toBe('written');
    expect((update['resource'] as { preferredName?: string }).preferredName).toBe('Mae');
  });

  it('a command whose deadline passes before it starts is timed_out, and nothing is written', async () => {
    paused = true;
    try {
      const before = await count();
      const deadline = new Date(Date.now() + 300).toISOString();
      const response = await post({ ...book('late-1', slot(11, 9)), deadline });
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      await new Promise((r) => setTimeout(r, 400));
      await worker.drain();
      const result = await waitForResult(base, key, id);
      expect(result['status']).toBe('timed_out');
      expect(await count()).toBe(before);
      expect(
        (await store.listEvents({ connectionId: CONNECTION, limit: 1000, newestFirst: true }))[0]?.envelope
          .type,
      ).toBe('appointment.writeback.timed_out');
    } finally {
      paused = false;
    }
  });

  it('tendril grants --writeback grants INSERT/UPDATE on exactly the tables the handlers write', () => {
    const { script } = grantsScript({
      connector: openEmr,
      dialect: 'mysql',
      user: 'tendril_writer',
      password: 'x',
      database: 'openemr',
      writeback: true,
    });
    const writes = script.split('\n').filter((line) => /^GRANT (INSERT|UPDATE)/.test(line));
    expect(writes).toEqual([
      "GRANT INSERT, UPDATE ON `openemr`.`openemr_postcalendar_events` TO 'tendril_writer'@'%';",
      "GRANT INSERT, UPDATE ON `openemr`.`patient_data` TO 'tendril_writer'@'%';",
      "GRANT INSERT ON `openemr`.`uuid_registry` TO 'tendril_writer'@'%';",
    ]);
    const readOnlyScript = grantsScript({
      connector: openEmr,
      dialect: 'mysql',
      user: 'tendril_reader',
      password: 'x',
    }).script;
    expect(readOnlyScript).not.toMatch(/GRANT (INSERT|UPDATE)/);
  });
});
