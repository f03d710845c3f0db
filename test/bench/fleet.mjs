// `pnpm bench fleet [--connections N[,N…]] [--patients P] [--rounds R] [--workers 1,2,4] [--concurrency C] [--json]`:
// a fleet of N small Open Dental–shaped MariaDB databases, run by 1, 2 and 4 `tendril run --worker`
// processes (pg-boss on one PostgreSQL store) in one run; with several N (`--connections 50,200,1000`)
// the same for each fleet size, and the CPU per poll as the fleet grows. For each worker count, on a fresh store:
//   backload — every connection's first poll (all rows → events): events/s and polls/s;
//   polls    — R rounds of "poll every connection now" with nothing changed: polls/s (the steady state
//              of a fleet at a 10-minute interval is almost all such polls).
// Prints the figures and the scaling ratios against 1 worker. docs/fleet.md turns them into a capacity model.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dist = (pkg) => join(root, pkg, 'dist/index.js');
const CLI = join(root, 'packages/agent/dist/bin.js');
const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
const PG_SERVER = process.env.TENDRIL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const SIZES = String(arg('connections', '200')).split(',').map(Number);
if (SIZES.some((n) => !Number.isInteger(n) || n <= 0)) {
  console.error('--connections takes a positive whole number or a comma-separated list of them');
  process.exit(2);
}
/** The fleet size being measured. */
let N = SIZES[0];
const PATIENTS = Number(arg('patients', '5'));
const ROUNDS = Number(arg('rounds', '5'));
const WORKER_COUNTS = String(arg('workers', '1,2,4')).split(',').map(Number);
const CONCURRENCY = Number(arg('concurrency', '4'));

const mysql = (await import(join(root, 'test/node_modules/mysql2/promise.js'))).default;
const pg = (await import(join(root, 'test/node_modules/pg/lib/index.js'))).default;
const { createSqlClient } = await import(dist('packages/sql'));
const { createTablesFromDeclarations } = await import(dist('packages/testing'));
const { seedOpenDental } = await import(join(root, 'connectors/open-dental/dist/testing/index.js'));
const { openDental } = await import(dist('connectors/open-dental'));

function pgUrl(database) {
  const url = new URL(PG_SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

async function pgAdmin(sql) {
  const client = new pg.Client({ connectionString: pgUrl('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function createDatabases(run) {
  const admin = await mysql.createConnection(MARIADB);
  const dbs = [];
  for (let i = 0; i < N; i++) {
    const name = `tendril_fltb_${run}_${i}`;
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
    dbs.push({ id: `practice-${String(i).padStart(4, '0')}`, name });
  }
  await admin.end();
  const stamp = new Date(Date.now() - 10_000);
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (next < dbs.length) {
        const db = dbs[next++];
        const client = createSqlClient(
          { url: `mysql://root@127.0.0.1:3306/${db.name}` },
          { pool: { min: 0, max: 1 } },
        );
        try {
          await createTablesFromDeclarations(client.knex, Object.values(openDental.streams), 'mysql');
          await seedOpenDental(client.knex, {
            patients: PATIENTS,
            seed: db.name,
            dialect: 'mysql',
            clinics: 1,
            stamp,
          });
        } finally {
          await client.close();
        }
      }
    }),
  );
  return dbs;
}

async function dropDatabases(dbs) {
  const admin = await mysql.createConnection(MARIADB);
  for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db.name}\``);
  await admin.end();
}

function cli(args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`tendril ${args[0]} exited ${code}: ${err.slice(-2000)}`)),
    );
  });
}

function startWorker(configFile) {
  // BENCH_WORKER_CPUPROFILE=<dir>: each worker writes a V8 CPU profile there when it exits.
  const profile = process.env.BENCH_WORKER_CPUPROFILE;
  const nodeArgs = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'run', '--worker', '--no-supervise', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise((resolvePromise) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('fleet worker')) resolvePromise();
    });
  });
  const exited = new Promise((resolvePromise) => child.on('exit', resolvePromise));
  return { child, ready, exited };
}

/** CPU seconds used so far by processes whose command name matches (Linux /proc; ticks at 100 Hz). */
function cpuSeconds(match) {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!match(comm, cmdline)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100;
}
const isPostgres = (comm) => comm === 'postgres';
const isMariadb = (comm) => comm === 'mariadbd' || comm === 'mysqld';
const isWorker = (configFile) => (_comm, cmdline) => cmdline.includes(configFile);

async function scalar(client, sql, params = []) {
  const { rows } = await client.query(sql, params);
  return rows[0];
}

async function waitFor(client, sql, params, done, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await scalar(client, sql, params);
    if (done(row)) return row;
    if (Date.now() > deadline) throw new Error(`timed out: ${sql}`);
    await sleep(200);
  }
}

async function measure(workers, dbs, dir) {
  const database = `tendril_fltb_${randomBytes(4).toString('hex')}`;
  await pgAdmin(`CREATE DATABASE ${database}`);
  const configFile = join(dir, `fleet-${workers}.yaml`);
  writeFileSync(
    configFile,
    JSON.stringify({
      store: { postgres: pgUrl(database) },
      logLevel: 'warn',
      fleet: {
        concurrency: CONCURRENCY,
        tickSeconds: 1,
        reloadSeconds: 30,
        leaseSeconds: 600,
        maintenanceSeconds: 30,
      },
    }),
  );
  const connectionsFile = join(dir, `connections-${workers}.yaml`);
  writeFileSync(
    connectionsFile,
    JSON.stringify(
      dbs.map((db) => ({
        id: db.id,
        connector: 'open-dental',
        timezone: 'America/New_York',
        database: { url: `mysql://root:\${FLT_DB_PASSWORD}@127.0.0.1:3306/${db.name}` },
        sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 1000 },
        schedule: { poll: '0 0 1 1 *' }, // only the polls the benchmark asks for
      })),
    ),
  );
  process.env.FLT_DB_PASSWORD = '';
  const procs = [];
  const client = new pg.Client({ connectionString: pgUrl(database) });
  try {
    // Start the workers on an empty fleet (pg-boss installs its schema), then onboard the whole fleet at once.
    await cli(['connections', 'list', '--config', configFile]); // creates the store's tables
    for (let i = 0; i < workers; i++) procs.push(startWorker(configFile));
    await Promise.all(procs.map((p) => p.ready));
    await client.connect();
    await cli(['connections', 'add', '--config', configFile, '--from', connectionsFile]);
    const { t0 } = await scalar(client, 'SELECT min(created_at) AS t0 FROM fleet_connections');
    const backload = await waitFor(
      client,
      "SELECT COUNT(*)::int AS n, max(finished_at) AS t1 FROM fleet_runs WHERE status IN ('succeeded', 'failed') AND kind = 'poll'",
      [],
      (r) => r.n >= N,
    );
    const failed = (await scalar(client, "SELECT COUNT(*)::int AS n FROM fleet_runs WHERE status = 'failed'"))
      .n;
    const events = (await scalar(client, 'SELECT COUNT(*)::int AS n FROM outbox')).n;
    const backloadSeconds = (backload.t1 - t0) / 1000;

    let pollSeconds = 0;
    let pollRunSeconds = 0;
    const cpu0 = {
      workers: cpuSeconds(isWorker(configFile)),
      postgres: cpuSeconds(isPostgres),
      mariadb: cpuSeconds(isMariadb),
    };
    for (let r = 0; r < ROUNDS; r++) {
      const { now } = await scalar(
        client,
        'UPDATE fleet_connections SET next_poll_at = now() RETURNING now() AS now',
      );
      const round = await waitFor(
        client,
        "SELECT COUNT(*)::int AS n, max(finished_at) AS t1, sum(extract(epoch FROM finished_at - started_at))::float AS busy FROM fleet_runs WHERE kind = 'poll' AND status IN ('succeeded', 'failed') AND started_at >= $1",
        [now],
        (row) => row.n >= N,
      );
      pollSeconds += (round.t1 - now) / 1000;
      pollRunSeconds += round.busy;
    }
    const polls = N * ROUNDS;
    const cpuMsPerPoll = {
      workers: ((cpuSeconds(isWorker(configFile)) - cpu0.workers) / polls) * 1000,
      postgres: ((cpuSeconds(isPostgres) - cpu0.postgres) / polls) * 1000,
      mariadb: ((cpuSeconds(isMariadb) - cpu0.mariadb) / polls) * 1000,
    };
    const after = (await scalar(client, 'SELECT COUNT(*)::int AS n FROM outbox')).n;
    return {
      workers,
      events,
      failed,
      backloadSeconds,
      eventsPerSecond: events / backloadSeconds,
      backloadPollsPerSecond: N / backloadSeconds,
      pollsPerSecond: (N * ROUNDS) / pollSeconds,
      meanPollMs: (pollRunSeconds / (N * ROUNDS)) * 1000,
      cpuMsPerPoll,
      newEventsInRounds: after - events,
    };
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await client.end().catch(() => undefined);
    await pgAdmin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

const bySize = [];
for (const size of SIZES) {
  N = size;
  const run = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'tendril-bench-fleet-'));
  console.log(
    `fleet benchmark: ${N} connections × ${PATIENTS} patients, workers ${WORKER_COUNTS.join('/')}, concurrency ${CONCURRENCY} per worker, ${ROUNDS} poll rounds; ${cpus().length} cores shared by MariaDB, PostgreSQL and the workers`,
  );
  const started = Date.now();
  const dbs = await createDatabases(run);
  console.log(`created ${N} databases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const results = [];
  try {
    for (const workers of WORKER_COUNTS) {
      const result = await measure(workers, dbs, dir);
      results.push(result);
      console.log(
        `${workers} worker${workers === 1 ? ' ' : 's'}: backload ${result.events} events in ${result.backloadSeconds.toFixed(1)} s = ${result.eventsPerSecond.toFixed(0)} events/s (${result.backloadPollsPerSecond.toFixed(1)} first polls/s); ` +
          `incremental ${result.pollsPerSecond.toFixed(1)} polls/s (mean poll ${result.meanPollMs.toFixed(0)} ms; CPU ms per poll: workers ${result.cpuMsPerPoll.workers.toFixed(1)}, PostgreSQL ${result.cpuMsPerPoll.postgres.toFixed(1)}, MariaDB ${result.cpuMsPerPoll.mariadb.toFixed(1)}); failed runs ${result.failed}; events in idle rounds ${result.newEventsInRounds}`,
      );
    }
  } finally {
    await dropDatabases(dbs);
    rmSync(dir, { recursive: true, force: true });
  }
  const base = results[0];
  console.log('\nscaling vs 1 worker:');
  for (const r of results) {
    console.log(
      `  ${r.workers} workers: events/s ×${(r.eventsPerSecond / base.eventsPerSecond).toFixed(2)}, polls/s ×${(r.pollsPerSecond / base.pollsPerSecond).toFixed(2)}`,
    );
  }
  console.log('');
  bySize.push({ connections: N, results });
}

/** CPU per idle poll, all processes together, with the first worker count. */
const cpuPerPoll = ({ results }) => {
  const c = results[0].cpuMsPerPoll;
  return c.workers + c.postgres + c.mariadb;
};
if (bySize.length > 1) {
  console.log(
    `CPU per idle poll as the fleet grows (${WORKER_COUNTS[0]} worker(s); workers + PostgreSQL + MariaDB):`,
  );
  for (const entry of bySize)
    console.log(
      `  ${String(entry.connections).padStart(6)} connections  ${cpuPerPoll(entry).toFixed(1).padStart(6)} ms/poll  ×${(cpuPerPoll(entry) / cpuPerPoll(bySize[0])).toFixed(2)} of the first size`,
    );
}
const summary = {
  patients: PATIENTS,
  concurrency: CONCURRENCY,
  cores: cpus().length,
  sizes: bySize.map((entry) => ({ ...entry, cpuMsPerPoll: Number(cpuPerPoll(entry).toFixed(2)) })),
};
console.log(process.argv.includes('--json') ? JSON.stringify(summary) : `\nJSON ${JSON.stringify(summary)}`);
