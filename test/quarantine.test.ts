import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

interface StreamReport {
  stream: string;
  read: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
  error?: { code: string; message: string };
  warnings?: { code: string; table: string; field: string; count: number }[];
}
interface QuarantineRow {
  connectionId: string;
  stream: string;
  resourceType: string;
  sourceId: string;
  errorCode: string;
  field?: string;
  reason: string;
  firstSeenAt: string;
  lastSeenAt: string;
  count: number;
}

const PATIENTS = 40;
/** A last name no seed produces: it must never appear in any output (PHI). */
const MARKER = 'Zzyzxquarantine';

/**
 * Issue 11, defect 1, on real MariaDB with the real Open Dental schema: an appointment whose
 * `AptStatus` is a code the connector does not know (99) and a patient whose first name comes back
 * from a binary-collated column as an empty value no longer stop their streams. The bad
 * appointment is quarantined (key, field, reason — no values), the rows after it are emitted, it
 * is retried when it changes and leaves quarantine when it maps; a page mostly failing still stops
 * the stream with TENDRIL_E_QUARANTINE_SHARE (docs/quarantine.md).
 */
describe('row quarantine on real MariaDB (Open Dental)', () => {
  let db: TestDatabase;
  let connection: mysql.Connection;
  let configFile: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_quarantine');
    await loadOpenDentalSchema(db);
    const dir = mkdtempSync(join(tmpdir(), 'tendril-quarantine-'));
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: smile',
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "${db.url}" }`,
        '    streams: [patients, appointments]',
        // No overlap: a poll reads only rows changed since the last one (the overlap would re-read,
        // and re-count, the quarantined row on every poll).
        '    sync: { settleSeconds: 0, overlapSeconds: 0, pageSize: 500 }',
        '',
      ].join('\n'),
    );
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'quarantine',
    ]);
    expect(seeded.code).toBe(0);
    connection = await db.connect();
  });
  afterAll(async () => {
    await connection?.end();
    await db?.drop();
  });

  async function sync(): Promise<{ streams: Map<string, StreamReport>; stdout: string; stderr: string }> {
    const result = await runCli(['sync', '--config', configFile, '--once', '--json']);
    const report = JSON.parse(result.stdout) as { connections: { streams: StreamReport[] }[] };
    return {
      streams: new Map(report.connections[0]!.streams.map((s) => [s.stream, s])),
      stdout: result.stdout,
      stderr: result.stderr,
    };
  }

  async function quarantineList(): Promise<QuarantineRow[]> {
    const result = await runCli(['quarantine', 'list', '--config', configFile, '--json']);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as QuarantineRow[];
  }

  async function liveAppointments(): Promise<string[]> {
    const [rows] = (await connection.query(
      'SELECT AptNum FROM appointment WHERE AptStatus NOT IN (6, 7, 8) ORDER BY AptNum',
    )) as unknown as [{ AptNum: string }[]];
    return rows.map((r) => String(r.AptNum));
  }

  it('skips an unknown AptStatus into quarantine and tolerates an empty binary first name', async () => {
    const appointments = await liveAppointments();
    expect(appointments.length).toBeGreaterThan(12);
    const bad = appointments[0]!;
    await connection.query('UPDATE appointment SET AptStatus = 99 WHERE AptNum = ?', [bad]);
    // A legacy binary-collated first name column: the driver returns bytes, empty for this patient.
    await connection.query("ALTER TABLE patient MODIFY FName VARBINARY(100) NOT NULL DEFAULT ''");
    const [[patient]] = (await connection.query(
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 1',
    )) as unknown as [{ PatNum: string }[]];
    await connection.query(
      "UPDATE patient SET FName = '', LName = ?, HmPhone = '555-1234', WirelessPhone = '' WHERE PatNum = ?",
      [MARKER, patient!.PatNum],
    );
    await sleep(1100);

    const first = await sync();
    const apts = first.streams.get('appointments')!;
    const patients = first.streams.get('patients')!;
    expect(apts.error).toBeUndefined();
    expect(patients.error).toBeUndefined();
    expect(apts.quarantined).toBe(1);
    expect(apts.created).toBe(appointments.length - 1);
    expect(patients.quarantined).toBe(0);
    // The 7-digit home phone is dropped with a warning code, not silently.
    expect(patients.warnings?.map((w) => [w.code, w.field])).toContainEqual([
      'TENDRIL_W_PHONE_UNPARSEABLE',
      'telecom',
    ]);

    const events = await runCli(['events', '--config', configFile, '--limit', '500', '--json']);
    const emitted = JSON.parse(events.stdout) as { data: Record<string, unknown>; type: string }[];
    const marked = emitted.find((e) => JSON.stringify(e.data).includes(MARKER))!;
    expect(marked.data['name']).toEqual({ family: MARKER });

    const [entry] = await quarantineList();
    expect(entry).toMatchObject({
      connectionId: 'smile',
      stream: 'appointments',
      resourceType: 'Appointment',
      sourceId: bad,
      errorCode: 'TENDRIL_E_VALIDATION',
      field: 'status',
      reason: 'invalid_value',
      count: 1,
    });
    const show = await runCli(['quarantine', 'show', bad, '--config', configFile]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('field          status');
    // No values anywhere: not the unknown code, not the patient's name.
    for (const output of [first.stderr, show.stdout, JSON.stringify(entry)]) {
      expect(output).not.toContain(MARKER);
      expect(output).not.toMatch(/\b99\b/);
    }
  });

  it('emits rows edited after the bad one, retries it when it changes, releases it when it maps', async () => {
    const appointments = await liveAppointments();
    const bad = appointments[0]!;
    const later = appointments.slice(1, 6);
    for (const apt of later)
      await connection.query("UPDATE appointment SET Note = CONCAT(Note, ' moved') WHERE AptNum = ?", [apt]);
    await sleep(1100);
    const second = (await sync()).streams.get('appointments')!;
    expect(second.error).toBeUndefined();
    expect(second.updated).toBe(5);
    expect(second.quarantined).toBe(0);

    // Changed but still unknown: read again, still in quarantine, seen twice.
    await connection.query("UPDATE appointment SET Note = 'x' WHERE AptNum = ?", [bad]);
    await sleep(1100);
    const third = (await sync()).streams.get('appointments')!;
    expect(third.quarantined).toBe(1);
    expect((await quarantineList())[0]).toMatchObject({ sourceId: bad, count: 2 });

    // Fixed in the EHR: mapped, emitted, out of quarantine.
    await connection.query('UPDATE appointment SET AptStatus = 1 WHERE AptNum = ?', [bad]);
    await sleep(1100);
    const fourth = (await sync()).streams.get('appointments')!;
    expect(fourth.quarantined).toBe(0);
    expect(fourth.created).toBe(1);
    expect(await quarantineList()).toEqual([]);
  });

  it('never deletes a row that mapped before and fails now, even on a full re-read', async () => {
    const victim = (await liveAppointments())[2]!;
    const [[original]] = (await connection.query('SELECT AptStatus FROM appointment WHERE AptNum = ?', [
      victim,
    ])) as unknown as [{ AptStatus: number }[]];
    await connection.query('UPDATE appointment SET AptStatus = 99 WHERE AptNum = ?', [victim]);
    await sleep(1100);
    const poll = (await sync()).streams.get('appointments')!;
    expect(poll).toMatchObject({ quarantined: 1, deleted: 0, updated: 0 });
    const full = await runCli(['sync', '--config', configFile, '--once', '--full', '--json']);
    const report = JSON.parse(full.stdout) as { connections: { streams: StreamReport[] }[] };
    const apts = report.connections[0]!.streams.find((s) => s.stream === 'appointments')!;
    expect(apts).toMatchObject({ quarantined: 1, deleted: 0, created: 0, updated: 0 });
    // Back to what it was: nothing to emit (its last good version is the shadow's), out of quarantine.
    await connection.query('UPDATE appointment SET AptStatus = ? WHERE AptNum = ?', [
      original!.AptStatus,
      victim,
    ]);
    await sleep(1100);
    const back = (await sync()).streams.get('appointments')!;
    expect(back).toMatchObject({ quarantined: 0, created: 0, updated: 0, deleted: 0 });
    expect(await quarantineList()).toEqual([]);
  });

  it('stops the stream, naming the share and not the data, when most of a page fails', async () => {
    const appointments = await liveAppointments();
    const broken = appointments.slice(0, Math.ceil(appointments.length * 0.8));
    await connection.query(`UPDATE appointment SET AptStatus = 99 WHERE AptNum IN (${broken.join(',')})`);
    await sleep(1100);
    const result = await runCli(['sync', '--config', configFile, '--once', '--json']);
    const report = JSON.parse(result.stdout) as { connections: { streams: StreamReport[] }[] };
    const apts = report.connections[0]!.streams.find((s) => s.stream === 'appointments')!;
    expect(apts.error?.code).toBe('TENDRIL_E_QUARANTINE_SHARE');
    expect(apts.error?.message).toMatch(
      new RegExp(
        `${broken.length} of \\d+ rows of a page \\(\\d+ %\\).*more than sync.quarantineMaxShare \\(50 %\\)`,
      ),
    );
    expect(apts.error?.message).toContain('Failing fields: status');
    expect(result.code).not.toBe(0);
    // The failing rows are listed for the operator even though the page was not committed.
    expect((await quarantineList()).length).toBe(broken.length);
    const status = await runCli(['sync', '--config', configFile, '--once', '--json']);
    expect(status.stdout).toContain('TENDRIL_E_QUARANTINE_SHARE');
  });
});
