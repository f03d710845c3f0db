import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { resourceId } from '@tendril/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { CLI, REPO_ROOT } from '../support/paths.js';
import { createWritebackOpenEmrDatabase } from '../support/writeback.js';

const CONNECTION = 'abuse-emr';
const ZONE = 'America/Phoenix';
/** Text that must never come back in a response or a log line. */
const SECRET_NOTE = 'Xylocainechaosnote';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A whole-hour slot `days` ahead, Phoenix time (UTC−7, no DST). */
function slot(days: number, hour: number): { start: string; end: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T${String(hour).padStart(2, '0')}:00:00-07:00`);
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
  };
}

/**
 * The chaos suite's writeback part (issue 11, defect 4's abuse list) against the built agent
 * (`tendril run --no-supervise`, real HTTP API, worker running, OpenEMR's real schema): every
 * absurd input is a 400 naming its field, none a 5xx, nothing echoed back, nothing written or
 * queued. Then valid bookings are sent and the agent is killed with SIGKILL while they run; after a
 * restart the client's retries (same idempotency keys) find each command, and no booking is
 * written twice.
 */
describe('chaos: writeback abuse list and kill -9 of the agent', () => {
  let db: Awaited<ReturnType<typeof createWritebackOpenEmrDatabase>>;
  let emr: mysql.Connection;
  let dir: string;
  let configFile: string;
  let base: string;
  let key: string;
  let agent: ChildProcess | undefined;
  const output: string[] = [];
  const ids = { patient: '', practitioner: '', location: '' };

  async function startAgent(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'run', '--no-supervise', '--config', configFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent = child;
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      output.push(chunk.toString('utf8'));
    });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes('status page')) {
      if (child.exitCode !== null) throw new Error(`the agent exited: ${output.join('').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('the agent did not start');
      await sleep(100);
    }
  }

  async function killAgent(): Promise<void> {
    const child = agent!;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  const post = (body: unknown, raw = false) =>
    fetch(`${base}/v1/writebacks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: raw ? (body as string) : JSON.stringify(body),
    });
  const book = (input: Record<string, unknown>, envelope: Record<string, unknown> = {}) => ({
    command: 'Appointment.book',
    connectionId: CONNECTION,
    idempotencyKey: `abuse-${Math.random().toString(36).slice(2)}`,
    input: {
      patientId: ids.patient,
      practitionerIds: [ids.practitioner],
      locationId: ids.location,
      ...slot(5, 9),
      ...input,
    },
    ...envelope,
  });
  const create = (input: Record<string, unknown>) => ({
    command: 'Patient.create',
    connectionId: CONNECTION,
    idempotencyKey: `abuse-${Math.random().toString(36).slice(2)}`,
    input: {
      name: { family: 'Abuse', given: ['Chaos'] },
      birthDate: '1980-05-06',
      gender: 'female',
      telecom: [{ system: 'phone', value: '+1 602 555 0110' }],
      ...input,
    },
  });
  const ehrRows = async () => {
    const [rows] = await emr.query(
      'SELECT (SELECT COUNT(*) FROM patient_data) AS patients, (SELECT COUNT(*) FROM openemr_postcalendar_events) AS events',
    );
    const [{ patients, events }] = rows as { patients: string; events: string }[];
    return { patients: Number(patients), events: Number(events) };
  };

  beforeAll(async () => {
    db = await createWritebackOpenEmrDatabase('chaos');
    emr = await db.connect();
    const [users] = await emr.query(
      'SELECT id FROM users WHERE authorized = 1 AND active = 1 ORDER BY id LIMIT 1',
    );
    const [patients] = await emr.query('SELECT pid FROM patient_data ORDER BY pid LIMIT 1');
    const [facilities] = await emr.query('SELECT id FROM facility ORDER BY id LIMIT 1');
    ids.practitioner = resourceId(CONNECTION, 'Practitioner', String((users as { id: string }[])[0]!.id));
    ids.patient = resourceId(CONNECTION, 'Patient', String((patients as { pid: string }[])[0]!.pid));
    ids.location = resourceId(CONNECTION, 'Location', String((facilities as { id: string }[])[0]!.id));
    dir = mkdtempSync(join(tmpdir(), 'tendril-chaos-wb-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: info',
        `api: { host: 127.0.0.1, port: ${port} }`,
        'connections:',
        `  - id: ${CONNECTION}`,
        '    connector: openemr',
        `    timezone: ${ZONE}`,
        `    database: { url: "${db.url}" }`,
        '    streams: [patients, practitioners, offices, appointments]',
        '    sync: { settleSeconds: 0 }',
        `    writeback: { enabled: true, database: { url: "${db.url}" } }`,
        '',
      ].join('\n'),
    );
    const created = await runCli([
      'api-key',
      'create',
      '--config',
      configFile,
      '--connection',
      CONNECTION,
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    key = (JSON.parse(created.stdout) as { key: string }).key;
    await sleep(1100);
    await startAgent();
    // The catch-up backload knows the patient, practitioner and office a booking refers to.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = (await (await fetch(`${base}/v1/status`)).json()) as {
        connections: { streams: { lastRun?: { status: string } }[] }[];
      };
      if (status.connections[0]!.streams.every((s) => s.lastRun?.status === 'succeeded')) break;
      if (Date.now() > deadline) throw new Error('the catch-up backload did not finish');
      await sleep(250);
    }
  }, 120_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) await killAgent();
    await emr?.end();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every absurd input with a 400 naming the field, and writes nothing', async () => {
    const before = await ehrRows();
    const cases: [unknown, string][] = [
      [create({ birthDate: '0000-00-00' }), 'input.birthDate'],
      [create({ birthDate: '1066-10-14' }), 'input.birthDate'],
      [create({ birthDate: '2999-01-01' }), 'input.birthDate'],
      [create({ birthDate: '1990-13-01' }), 'input.birthDate'],
      [create({ birthDate: '1990-02-30' }), 'input.birthDate'],
      [book({ start: '9999-06-01T10:00:00Z', end: '9999-06-01T10:30:00Z' }), 'input.start'],
      [book({ start: '2030-06-01T24:00:00Z', end: '2030-06-02T00:30:00Z' }), 'input.start'],
      [book({ start: '2030-13-01T16:00:00Z', end: '2030-13-01T16:30:00Z' }), 'input.start'],
      [book({ start: '2030-02-30T16:00:00Z', end: '2030-02-30T16:30:00Z' }), 'input.start'],
      [book({}, { deadline: '2030-13-01T00:00:00Z' }), 'deadline'],
      [book({}, { deadline: '2030-02-30T00:00:00Z' }), 'deadline'],
      [book({ note: `${SECRET_NOTE}\u0000visit` }), 'input.note'],
      [create({ name: { family: `${SECRET_NOTE}\u0000`, given: ['Chaos'] } }), 'input.name.family'],
    ];
    let refused = 0;
    for (const [body, path] of cases) {
      const response = await post(body);
      const text = await response.text();
      expect({ body, status: response.status }).toEqual({ body, status: 400 });
      const errors = (JSON.parse(text) as { errors?: { path: string }[] }).errors ?? [];
      expect(errors.map((e) => e.path)).toContain(path);
      expect(text).not.toContain(SECRET_NOTE);
      refused += 1;
    }
    for (const raw of ['{', 'null', '{"command": ', '{"input": 1e400}', '\u0000']) {
      const response = await post(raw, true);
      expect(response.status, raw).toBeLessThan(500);
    }
    expect(await ehrRows()).toEqual(before);
    console.log(`CHAOS writeback-abuse refused=${refused} written=0 5xx=0`);
  });

  it('kill -9 while bookings run: after a restart the retries find them, none is written twice', async () => {
    const before = await ehrRows();
    const bookings = Array.from({ length: 6 }, (_, i) =>
      book({ ...slot(10 + i, 10), note: 'chaos booking' }),
    );
    const accepted = await Promise.all(bookings.map((body) => post(body)));
    for (const response of accepted) expect(response.status).toBe(202);
    await sleep(Math.floor(Math.random() * 100));
    await killAgent();
    await startAgent();

    const finals: string[] = [];
    for (const body of bookings) {
      // The client retries with the same idempotency key: the command already exists.
      const retried = await post(body);
      expect(retried.status).toBe(200);
      let result = (await retried.json()) as { id: string; status: string };
      const deadline = Date.now() + 30_000;
      while (result.status === 'accepted' && Date.now() < deadline) {
        await sleep(100);
        result = (await (
          await fetch(`${base}/v1/writebacks/${result.id}`, { headers: { authorization: `Bearer ${key}` } })
        ).json()) as { id: string; status: string };
      }
      expect(result.status).not.toBe('accepted');
      finals.push(result.status);
    }
    const written = finals.filter((s) => s === 'written').length;
    const added = (await ehrRows()).events - before.events;
    // Every written booking is in the EHR once; one cut off mid-write is reported, never doubled.
    expect(added).toBeGreaterThanOrEqual(written);
    expect(added).toBeLessThanOrEqual(bookings.length);
    // Each booking has its own day: two rows on one day would be one command written twice.
    const [rows] = (await emr.query(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT pc_eventDate) AS days FROM openemr_postcalendar_events WHERE pc_hometext = 'chaos booking'",
    )) as unknown as [{ n: string; days: string }[]];
    expect(Number(rows[0]!.n)).toBe(added);
    expect(Number(rows[0]!.days)).toBe(added);
    expect(output.join('')).not.toContain(SECRET_NOTE);
    console.log(
      `CHAOS writeback-kill bookings=${bookings.length} written=${written} added=${added} duplicates=0`,
    );
  });
});
