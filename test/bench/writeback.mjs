// `pnpm bench writeback [--json] [--requests N] [--poll-ms N] [--no-profile]`: latency of Appointment.book on OpenEMR's real schema in
// MariaDB, from HTTP accept (202) to a committed, read-back row (`finishedAt − acceptedAt` of the
// command, and the client-observed time until GET shows `written`), at 1 and at 16 concurrent
// clients. Baseline in the same run: the raw driver doing the same INSERT in its own transaction.
// The clients (one POST with `Prefer: wait=10`, answered when the command is finished, as a vendor
// would; with `--poll-ms N`, POST and a plain GET every N ms instead) run in their own process, as
// `bench delivery`'s receiver does, so their work does not count against the agent's; the agent
// still serves their GETs. `agentCpuMsPerBooking` is the agent process's CPU (user + system) per booking.
// Then where the agent's time goes, stage by stage, from a CPU profile of an extra 16-client run
// (the measured runs are not profiled; BENCH_CPUPROFILE=<file> keeps it).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { inUrl, printStages, profiled, stageTimes } from './stage-profile.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dist = (pkg) => join(root, pkg, 'dist/index.js');
const { createApiServer, generateApiKey } = await import(dist('packages/api'));
const { ConnectionConfig, resourceId } = await import(dist('core'));
const { createWritebackWorker, silentLogger, syncStream } = await import(dist('scheduler'));
const { createSqlClient } = await import(dist('packages/sql'));
const { openSqliteStore } = await import(dist('packages/store'));
const { openEmr } = await import(dist('connectors/openemr'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const REQUESTS = Number(arg('requests', '160'));
/** A plain GET every POLL_MS ms; absent: POST with `Prefer: wait` (an agent without it is polled every 2 ms). */
const POLL_MS = arg('poll-ms', undefined) === undefined ? undefined : Number(arg('poll-ms', '2'));
// The shared fixtures by the one rule (docs/testing.md, "Fixture schemas").
const { fixturePath } = await import(dist('packages/testing'));
const FIXTURES = fixturePath('openemr');
const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
const CONNECTION = 'bench-emr';

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const summary = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return { p50: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), max: s[s.length - 1] };
};
const fmt = (x) => `${x.toFixed(1)} ms`;

/** Stages of the agent process while clients book: the API, the worker, the EHR's driver, the store. */
const AGENT_STAGES = [
  ['API routes (POST, GET)', inUrl('packages/api/dist')],
  ['writeback engine', inUrl('scheduler/dist/writeback-engine')],
  ['read-back (mapping)', inUrl('core/dist/mapping', 'core/dist/transforms')],
  [
    'store (SQLite statements)',
    ({ url, functionName }) => url === '' && /^(run|all|get|iterate|exec)$/.test(functionName),
  ],
  ['EHR driver (mysql2, knex)', inUrl('/mysql2/', '/knex/', '/tarn/', 'packages/sql/dist'), { weak: true }],
  [
    'HTTP server (fastify, node:http)',
    inUrl('/fastify/', '/find-my-way/', 'node:_http', 'node:net'),
    { weak: true },
  ],
  ['store (other)', inUrl('packages/store/dist', '/kysely/', 'better-sqlite3'), { weak: true }],
  ['writeback worker', inUrl('scheduler/dist/writeback-'), { weak: true }],
];

let clientsStarted;
/** The client process: answers `ask` with the results of one run. */
function startClients() {
  clientsStarted = new Promise((resolvePromise) => {
    const child = fork(fileURLToPath(import.meta.url), ['--clients'], { stdio: 'inherit' });
    child.once('message', () =>
      resolvePromise({
        ask: (job) =>
          new Promise((answer, fail) => {
            child.once('message', (reply) => (reply.error ? fail(new Error(reply.error)) : answer(reply)));
            child.send(job);
          }),
        stop: () => child.send('stop'),
      }),
    );
  });
  return clientsStarted;
}

/** What a finished booking reports: the agent's accept→finish time and the client's. */
function finished(result, clientMs, t0) {
  if (result.status !== 'written')
    throw new Error(`bench booking ${result.status}: ${JSON.stringify(result.error)}`);
  return {
    server: Date.parse(result.finishedAt) - Date.parse(result.acceptedAt),
    client: clientMs,
    roundTrip: performance.now() - t0,
  };
}

/**
 * One client's booking. Waiting (the default): one POST with `Prefer: wait=10`, answered with the
 * finished command (the client's time is then the whole round trip), or 202 and then GETs that
 * wait. Polling (`pollMs`): POST, then a plain GET every `pollMs` until it is no longer `accepted`.
 */
async function book(base, headers, body, pollMs) {
  const t0 = performance.now();
  const response = await fetch(`${base}/v1/writebacks`, {
    method: 'POST',
    headers: pollMs === undefined ? { ...headers, prefer: 'wait=10' } : headers,
    body: JSON.stringify(body),
  });
  const posted = await response.json();
  if (response.status === 200) return finished(posted, performance.now() - t0, t0);
  const { id } = posted;
  const tAccepted = performance.now();
  for (;;) {
    const answer = await fetch(`${base}/v1/writebacks/${id}`, {
      headers: pollMs === undefined ? { ...headers, prefer: 'wait=10' } : headers,
    });
    const waited = answer.headers.get('preference-applied') !== null;
    const result = await answer.json();
    if (result.status !== 'accepted') return finished(result, performance.now() - tAccepted, t0);
    if (!waited) await new Promise((r) => setTimeout(r, pollMs ?? 2));
  }
}

/** The client process's side: `clients` loops over the bodies, each taking the next one. */
async function runClients({ base, headers, bodies, clients, pollMs }) {
  const results = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < bodies.length) results.push(await book(base, headers, bodies[next++], pollMs));
    }),
  );
  return { results, seconds: (performance.now() - started) / 1000 };
}

async function main() {
  const name = `tendril_wb_bench_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(MARIADB);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  const emr = await mysql.createConnection({
    ...MARIADB,
    database: name,
    multipleStatements: true,
    dateStrings: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'tendril-wb-bench-'));
  let api, store, read, write;
  try {
    // OpenEMR sets its session zone to the office's: DATETIME stamps are office wall time (db-local).
    await emr.query("SET time_zone = '-07:00'");
    await emr.query(readFileSync(join(FIXTURES, 'database.sql'), 'utf8'));
    await emr.query(readFileSync(join(FIXTURES, 'example_patient_data.sql'), 'utf8'));
    await emr.query(readFileSync(join(FIXTURES, 'example_patient_users.sql'), 'utf8'));
    const url = `mysql://root@127.0.0.1:3306/${name}`;
    const connection = ConnectionConfig.parse({
      id: CONNECTION,
      connector: 'openemr',
      timezone: 'America/Phoenix',
      database: { url },
      sync: { settleSeconds: 0 },
      writeback: { enabled: true, database: { url } },
    });
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    read = createSqlClient(connection.database);
    write = createSqlClient(connection.writeback.database, { pool: { min: 0, max: 16 } });
    await new Promise((r) => setTimeout(r, 1100));
    for (const stream of ['patients', 'practitioners', 'offices']) {
      await syncStream(
        { sql: read, store, logger: silentLogger },
        { connection, connector: openEmr, stream, full: true },
      );
    }
    const [[user]] = await emr.query(
      'SELECT id FROM users WHERE authorized = 1 AND active = 1 ORDER BY id LIMIT 1',
    );
    const [patients] = await emr.query('SELECT pid FROM patient_data ORDER BY pid');
    const [[facility]] = await emr.query('SELECT id FROM facility ORDER BY id LIMIT 1');
    const worker = createWritebackWorker({
      store,
      logger: silentLogger,
      connections: [connection],
      connectorFor: () => openEmr,
      readClient: () => read,
      writeClient: () => write,
      concurrency: 16,
    });
    api = createApiServer({
      host: '127.0.0.1',
      port: 0,
      status: async () => ({}),
      logger: { info() {}, warn() {}, error() {} },
      writeback: {
        store,
        connections: [connection],
        connectorFor: () => openEmr,
        kick: () => worker.kick(),
        ...(worker.whenFinished
          ? { whenFinished: (id, timeoutMs, signal) => worker.whenFinished(id, timeoutMs, signal) }
          : {}),
        rateLimit: { perSecond: 10_000, burst: 10_000 },
      },
    });
    const base = await api.listen();
    const key = generateApiKey();
    await store.writebacks.createApiKey({
      id: key.id,
      name: 'bench',
      secretHash: key.secretHash,
      connectionIds: [CONNECTION],
      subscriptionIds: [],
      createdAt: new Date().toISOString(),
    });

    let slotCounter = 0;
    // Each booking its own 15-minute slot: day d, 07:00 + k·15 min (no conflicts; conflicts are tested elsewhere).
    const nextSlot = () => {
      const n = slotCounter++;
      const day = 2 + Math.floor(n / 40);
      const minutes = 7 * 60 + (n % 40) * 15;
      const date = new Date(Date.now() + day * 86_400_000).toISOString().slice(0, 10);
      const start = new Date(
        `${date}T${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00-07:00`,
      );
      return {
        start: start.toISOString().replace('.000Z', 'Z'),
        end: new Date(start.getTime() + 15 * 60_000).toISOString().replace('.000Z', 'Z'),
        date,
        minutes,
      };
    };
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${key.key}` };
    const input = (s, i) => ({
      patientId: resourceId(CONNECTION, 'Patient', String(patients[i % patients.length].pid)),
      practitionerIds: [resourceId(CONNECTION, 'Practitioner', String(user.id))],
      locationId: resourceId(CONNECTION, 'Location', String(facility.id)),
      start: s.start,
      end: s.end,
    });

    const clientProcess = startClients();
    /** Runs `clients` concurrent clients in the client process over the next `REQUESTS` slots. */
    async function run(clients, { profile = false } = {}) {
      const bodies = Array.from({ length: REQUESTS }, (_, i) => {
        const s = nextSlot();
        return {
          command: 'Appointment.book',
          connectionId: CONNECTION,
          idempotencyKey: `bench-${slotCounter}-${i}`,
          input: input(s, i),
        };
      });
      const cpu = process.cpuUsage();
      const ask = async () => (await clientProcess).ask({ base, headers, bodies, clients, pollMs: POLL_MS });
      const { result, profile: cpuProfile } = profile ? await profiled(ask) : { result: await ask() };
      const used = process.cpuUsage(cpu);
      return { ...result, agentCpuMs: (used.user + used.system) / 1000, cpuProfile };
    }

    async function baseline() {
      const times = [];
      const raw = await mysql.createConnection({ ...MARIADB, database: name });
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await raw.beginTransaction();
        await raw.query(
          `INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_eventDate, pc_duration, pc_startTime, pc_endTime, pc_apptstatus, pc_facility)
           VALUES (5, 0, ?, ?, '2099-01-01', 900, '08:00:00', '08:15:00', '-', ?)`,
          [String(user.id), String(patients[0].pid), facility.id],
        );
        await raw.commit();
        times.push(performance.now() - t0);
      }
      await raw.query("DELETE FROM openemr_postcalendar_events WHERE pc_eventDate = '2099-01-01'");
      await raw.end();
      return summary(times);
    }

    await run(1); // warm-up: pools, JIT, prepared statements (REQUESTS bookings)
    slotCounter = 1000;
    const raw = await baseline();
    console.log(
      `writeback bench: OpenEMR real schema on MariaDB, ${REQUESTS} Appointment.book per run, clients in their own process ${POLL_MS === undefined ? 'waiting with Prefer: wait=10' : `polling every ${POLL_MS} ms`}`,
    );
    console.log(
      `baseline raw INSERT+COMMIT (mysql2): p50 ${fmt(raw.p50)}  p95 ${fmt(raw.p95)}  p99 ${fmt(raw.p99)}`,
    );
    const measured = [];
    for (const clients of [1, 16]) {
      slotCounter = clients === 1 ? 2000 : 4000;
      const { results, seconds, agentCpuMs } = await run(clients);
      const server = summary(results.map((r) => r.server));
      const client = summary(results.map((r) => r.client));
      measured.push({
        clients,
        p95Ms: Number(server.p95.toFixed(1)),
        p50Ms: Number(server.p50.toFixed(1)),
        perSecond: Number((results.length / seconds).toFixed(1)),
        agentCpuMsPerBooking: Number((agentCpuMs / results.length).toFixed(2)),
      });
      console.log(
        `${String(clients).padStart(2)} client(s): accept→committed+read-back p50 ${fmt(server.p50)}  p95 ${fmt(server.p95)}  p99 ${fmt(server.p99)}  ` +
          `(client sees written: p95 ${fmt(client.p95)}; ${(results.length / seconds).toFixed(0)} bookings/s; p50 ${(server.p50 / raw.p50).toFixed(1)}× raw; ` +
          `agent CPU ${(agentCpuMs / results.length).toFixed(1)} ms/booking)  ` +
          `target p95 ≤ 250 ms: ${server.p95 <= 250 ? 'met' : 'MISSED'}`,
      );
    }
    if (!process.argv.includes('--no-profile')) {
      slotCounter = 6000;
      const { results, cpuProfile } = await run(16, { profile: true });
      if (process.env.BENCH_CPUPROFILE)
        writeFileSync(process.env.BENCH_CPUPROFILE, JSON.stringify(cpuProfile));
      printStages('agent, 16 clients (an extra run)', stageTimes(cpuProfile, AGENT_STAGES), results.length);
    }
    if (process.argv.includes('--json'))
      console.log(JSON.stringify({ clients: measured, rawP95Ms: Number(raw.p95.toFixed(1)) }));
  } finally {
    (await clientsStarted)?.stop();
    await api?.close();
    await store?.close();
    await read?.close();
    await write?.close();
    await emr.end();
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Entry point, last: the constants above are initialised by now.
if (process.argv.includes('--clients')) {
  process.on('message', (job) => {
    if (job === 'stop') process.exit(0);
    runClients(job).then(
      (reply) => process.send(reply),
      (error) => process.send({ error: String(error?.message ?? error) }),
    );
  });
  process.send('ready');
} else {
  await main();
}
