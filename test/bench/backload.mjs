// `pnpm bench backload [--patients N[,N…]] [--no-profile] [--json] [--map-threads N]
//   [--against <dir> [--rounds N]]`:
// raw mysql2 streaming vs Tendril's backload of the same rows, at each size in one invocation.
// Prints rates measured in the same run against the raw driver and the raw driver + SQLite outbox
// (plain, and sealed with the store's own sealing for the sealed store), as ratios, plus peak RSS;
// then where the time of Tendril's backload goes, stage by stage, from a CPU profile of an extra run
// (the measured runs are not profiled). `--json` prints one JSON line last, for tracking.
// `--against <dir>`: an A/B run instead, on one seeded database: the backload of the built code in
// <dir> (another checkout, `pnpm build` done there) and of this checkout in turns, `--rounds` times
// (default 3), each with its rows/s and CPU per 1,000 rows, and the ratio this ÷ that per round.
// `--map-threads N`: the map pool's threads (0: off); default as `tendril run` sizes it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inUrl, named, printStages, profiled, stageTimes } from './stage-profile.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// BENCH_CODE_ROOT: the checkout whose built code the Tendril backload runs (`--against`); the
// baselines and the seeding always run this checkout's.
const codeRoot = process.env.BENCH_CODE_ROOT ?? root;
const dist = (pkg, from = root) => join(from, pkg, 'dist/index.js');
const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function mysql() {
  return (await import(join(root, 'test/node_modules/mysql2/promise.js'))).default;
}

/** Runs this file again as a child in `mode`, returning its JSON result line. */
function child(mode, env) {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.on('close', (code) =>
      code === 0
        ? resolvePromise(JSON.parse(out.trim().split('\n').pop()))
        : reject(new Error(`${mode} exited ${code}`)),
    );
  });
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function rawStream() {
  const { openDental } = await import(dist('connectors/open-dental'));
  const table = openDental.streams.patients;
  const columns = Object.keys(table.columns)
    .map((c) => `\`${c}\``)
    .join(', ');
  const connection = await (
    await mysql()
  ).createConnection({
    ...MARIADB,
    database: process.env.BENCH_DB,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: '+00:00',
  });
  const started = process.hrtime.bigint();
  let rows = 0;
  await new Promise((res, rej) => {
    connection.connection
      .query(`SELECT ${columns} FROM patient ORDER BY DateTStamp, PatNum`)
      .stream({ highWaterMark: 1000 })
      .on('data', () => rows++)
      .on('end', res)
      .on('error', rej);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await connection.end();
  return { rows, seconds, rowsPerSecond: rows / seconds, peakRssMb: peakRssMb() };
}

/**
 * Raw driver rows written straight to an SQLite table in 1,000-row transactions: the cost of a
 * durable outbox alone. With BENCH_SEALED each row's JSON is sealed as the store seals an event
 * envelope (AES-256-GCM under a site key: the store's own `sealEnvelope`, not a copy), so a sealed
 * store is compared with a sealed baseline.
 */
async function rawOutbox() {
  const { openDental } = await import(dist('connectors/open-dental'));
  const { sealEnvelope } = await import(join(root, 'packages/store/dist/payload-key.js'));
  const { plainPayloads, sealedPayloads } = await import(join(root, 'packages/store/dist/payloads.js'));
  const codec = process.env.BENCH_SEALED === '1' ? sealedPayloads(randomBytes(32)) : plainPayloads();
  const Database = (await import(join(root, 'packages/store/node_modules/better-sqlite3/lib/index.js')))
    .default;
  const { randomUUID } = await import('node:crypto');
  const table = openDental.streams.patients;
  const columns = Object.keys(table.columns)
    .map((c) => `\`${c}\``)
    .join(', ');
  const db = new Database(
    join(process.env.BENCH_DIR, `raw-outbox-${process.env.BENCH_SEALED === '1' ? 'sealed' : 'plain'}.db`),
  );
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE outbox (id TEXT PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO outbox (id, sequence, body) VALUES (?, ?, ?)');
  const writePage = db.transaction((rows, first) =>
    rows.forEach((row, i) => insert.run(randomUUID(), first + i, sealEnvelope(codec, row))),
  );
  const connection = await (
    await mysql()
  ).createConnection({
    ...MARIADB,
    database: process.env.BENCH_DB,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: '+00:00',
  });
  const started = process.hrtime.bigint();
  let rows = 0;
  let page = [];
  await new Promise((res, rej) => {
    connection.connection
      .query(`SELECT ${columns} FROM patient ORDER BY PatNum`)
      .stream({ highWaterMark: 1000 })
      .on('data', (row) => {
        page.push(row);
        if (page.length === 1000) {
          writePage(page, rows);
          rows += page.length;
          page = [];
        }
      })
      .on('end', res)
      .on('error', rej);
  });
  writePage(page, rows);
  rows += page.length;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await connection.end();
  db.close();
  return { rows, seconds, rowsPerSecond: rows / seconds, peakRssMb: peakRssMb() };
}

/** Stages of a backload page: read → map → validate → hash → classify → shadow, outbox and delivery rows → commit. */
const BACKLOAD_STAGES = [
  ['validate (zod)', inUrl('/zod/')],
  ['hash (canonical JSON, SHA-256)', inUrl('core/dist/hash.js', 'core/dist/canonical-json.js')],
  ['classify', inUrl('core/dist/classify.js')],
  ['shadow write', named(/upsertShadow|touchSeen/)],
  ['outbox write (envelope, JSON)', named(/insertEvents|buildEnvelope|allocateSequences|existing/i)],
  ['delivery-row write', named(/insertLive/)],
  ['commit (state, transaction)', named(/saveState|transaction/, 'packages/store')],
  [
    'map',
    inUrl(
      'core/dist/mapping.js',
      'core/dist/transforms.js',
      'core/dist/time.js',
      '/luxon/',
      'core/dist/ids.js',
    ),
  ],
  ['read (driver)', inUrl('/mysql2/', 'packages/sql/dist', '/knex/')],
  // SQLite's statement calls are native (no url): charged to the store write above them, if any.
  [
    'store (other)',
    ({ url, functionName }) => url === '' && /^(run|all|get|iterate|exec)$/.test(functionName),
    { weak: true },
  ],
  ['store (other)', inUrl('packages/store/dist', '/kysely/', 'better-sqlite3'), { weak: true }],
  ['engine (scheduler)', inUrl('scheduler/dist'), { weak: true }],
];

/** The backload again, under the CPU profiler, into a store of its own: milliseconds per stage. */
async function profiledBackload() {
  const { result, profile } = await profiled(() =>
    tendrilBackload({ storeFile: 'store-profiled.db', idlePolls: 0 }),
  );
  // BENCH_CPUPROFILE=<file>: keep the profile, for Chrome DevTools or a closer look.
  if (process.env.BENCH_CPUPROFILE) writeFileSync(process.env.BENCH_CPUPROFILE, JSON.stringify(profile));
  return { rows: result.rows, seconds: result.seconds, stages: stageTimes(profile, BACKLOAD_STAGES) };
}

async function tendrilBackload({ storeFile, idlePolls = 5 } = {}) {
  const { openDental } = await import(dist('connectors/open-dental', codeRoot));
  const { ConnectionConfig } = await import(dist('core', codeRoot));
  const { createSqlClient } = await import(dist('packages/sql', codeRoot));
  const { openSqliteStore } = await import(dist('packages/store', codeRoot));
  const scheduler = await import(dist('scheduler', codeRoot));
  const { syncStream, silentLogger } = scheduler;
  // The map pool as `tendril run` sizes it, or `--map-threads N` (BENCH_MAP_THREADS); code without
  // one maps inline.
  const mapThreads = !scheduler.createMapPool
    ? 0
    : process.env.BENCH_MAP_THREADS !== undefined
      ? Number(process.env.BENCH_MAP_THREADS)
      : (scheduler.DEFAULT_MAP_THREADS ?? scheduler.defaultMapThreads?.() ?? 0);
  const mapPool =
    mapThreads > 0
      ? scheduler.createMapPool({
          connectorModule: pathToFileURL(join(codeRoot, 'packages/agent/dist/registry.js')).href,
          threads: mapThreads,
        })
      : undefined;
  const sql = createSqlClient({ url: `mysql://root@127.0.0.1:3306/${process.env.BENCH_DB}` });
  // BENCH_SEALED: the payloads sealed with a site key (docs/security.md, "PHI at rest"), in a store of its own.
  const sealed = process.env.BENCH_SEALED === '1';
  const store = openSqliteStore(
    join(
      process.env.BENCH_DIR,
      storeFile ?? `store-${sealed ? 'sealed' : 'plain'}-${process.env.BENCH_ROUND ?? '0'}.db`,
    ),
    sealed ? { siteKey: randomBytes(32) } : {},
  );
  await store.migrate();
  const connection = ConnectionConfig.parse({
    id: 'bench',
    connector: 'open-dental',
    timezone: 'America/New_York',
    database: { url: 'unused' },
  });
  const input = { connection, connector: openDental, stream: 'patients' };
  const deps = { sql, store, logger: silentLogger, ...(mapPool ? { mapPool } : {}) };
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const result = await syncStream(deps, input);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The whole process, every thread: user + system CPU of the backload.
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMsPer1k = (cpu.user + cpu.system) / 1000 / (result.read / 1000);
  // Idle incremental polls: nothing changed within the overlap window.
  const idle = [];
  for (let i = 0; i < idlePolls; i++) {
    const t = process.hrtime.bigint();
    const poll = await syncStream(deps, input);
    idle.push({ ms: Number(process.hrtime.bigint() - t) / 1e6, read: poll.read });
  }
  await mapPool?.close();
  await store.close();
  await sql.close();
  const idleMs = idle.map((p) => p.ms).sort((a, b) => a - b);
  return {
    rows: result.read,
    created: result.created,
    seconds,
    rowsPerSecond: result.read / seconds,
    cpuMsPer1k,
    mapThreads,
    peakRssMb: peakRssMb(),
    idlePollMedianMs: idleMs[Math.floor(idleMs.length / 2)],
    idlePollRowsRead: idle[0]?.read,
  };
}

/** Seeds `patients` into a new database and a scratch folder, runs `work(env)` on them; drops both. */
async function withSeededDatabase(m, patients, work) {
  const db = `tendril_bench_${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'tendril-bench-'));
  const admin = await m.createConnection({ ...MARIADB, multipleStatements: true });
  await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb3`);
  await admin.query(`USE ${db}`);
  await admin.query(
    readFileSync(
      (await import(join(root, 'packages/testing/dist/index.js'))).fixturePath(
        'opendental',
        'opendental_24.3_schema.sql',
      ),
      'utf8',
    ),
  );
  try {
    console.log(
      `seeding ${patients.toLocaleString('en-US')} patients into ${db} (real Open Dental 24.3 schema, MyISAM)…`,
    );
    const { seedOpenDental } = await import(join(root, 'connectors/open-dental/dist/testing/index.js'));
    const knex = (await import(join(root, 'packages/sql/node_modules/knex/knex.mjs'))).default({
      client: 'mysql2',
      connection: {
        ...MARIADB,
        database: db,
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
      },
      pool: { min: 1, max: 1 },
    });
    const seedStarted = Date.now();
    const seeded = await seedOpenDental(knex, { patients, seed: 'bench', dialect: 'mysql' });
    await knex.destroy();
    const seedSeconds = (Date.now() - seedStarted) / 1000;
    const seedRows = Object.values(seeded.rows).reduce((a, b) => a + b, 0);
    // Generator speed is a benchmark figure, never a test assertion.
    console.log(
      `seeded ${seedRows.toLocaleString('en-US')} rows in ${seedSeconds.toFixed(1)} s (${Math.round(seedRows / seedSeconds).toLocaleString('en-US')} rows/s)`,
    );
    // Idle polls must find nothing new: move the seed's stamps out of the overlap window.
    await admin.query('UPDATE patient SET DateTStamp = DateTStamp - INTERVAL 1 DAY');
    return await work({ BENCH_DB: db, BENCH_DIR: dir });
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rate = (n) => Math.round(n).toLocaleString('en-US');

/** Seeds `patients` into a new database, measures the readers, optionally profiles; drops it. */
async function measureSize(m, patients, { profile }) {
  return withSeededDatabase(m, patients, async (env) => {
    const raw = await child('raw', env);
    const rawOutboxRun = await child('raw-outbox', env);
    const rawOutboxSealed = await child('raw-outbox', { ...env, BENCH_SEALED: '1' });
    // Plain and sealed stores in turns (twice each, best kept): the machine's noise hits both alike.
    const plainRuns = [];
    const sealedRuns = [];
    for (const round of ['1', '2']) {
      plainRuns.push(await child('tendril', { ...env, BENCH_ROUND: round }));
      sealedRuns.push(await child('tendril', { ...env, BENCH_ROUND: round, BENCH_SEALED: '1' }));
    }
    const best = (runs) => runs.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
    const tendril = best(plainRuns);
    const tendrilSealed = best(sealedRuns);
    const sealedRatio = tendrilSealed.rowsPerSecond / tendril.rowsPerSecond;
    const ratio = tendril.rowsPerSecond / raw.rowsPerSecond;
    const outboxRatio = tendril.rowsPerSecond / rawOutboxRun.rowsPerSecond;
    const sealedOutboxRatio = tendrilSealed.rowsPerSecond / rawOutboxSealed.rowsPerSecond;
    console.log('');
    console.log(`patients                      ${patients.toLocaleString('en-US')}`);
    console.log(
      `raw mysql2 stream             ${rate(raw.rowsPerSecond)} rows/s   peak RSS ${raw.peakRssMb} MB`,
    );
    console.log(
      `tendril backload              ${rate(tendril.rowsPerSecond)} rows/s   peak RSS ${tendril.peakRssMb} MB   CPU ${tendril.cpuMsPer1k.toFixed(0)} ms per 1,000 rows   (read → map → validate → hash → outbox)`,
    );
    console.log(
      `raw mysql2 → SQLite outbox    ${rate(rawOutboxRun.rowsPerSecond)} rows/s   peak RSS ${rawOutboxRun.peakRssMb} MB   (no mapping, validation or hashing)`,
    );
    console.log(`ratio tendril / raw read      ${ratio.toFixed(2)}`);
    console.log(
      `ratio tendril / raw + outbox  ${outboxRatio.toFixed(2)}   (plain store vs plain outbox; target ≥ 0.5)`,
    );
    console.log(
      `idle incremental poll         ${tendril.idlePollMedianMs.toFixed(1)} ms median of 5, ${tendril.idlePollRowsRead} rows read (target ≤ 100 ms)`,
    );
    console.log(
      `tendril backload, sealed      ${rate(tendrilSealed.rowsPerSecond)} rows/s   peak RSS ${tendrilSealed.peakRssMb} MB   (payloads AES-256-GCM with a site key)`,
    );
    console.log(
      `raw → SQLite outbox, sealed   ${rate(rawOutboxSealed.rowsPerSecond)} rows/s   peak RSS ${rawOutboxSealed.peakRssMb} MB   (each row sealed by the store's sealEnvelope)`,
    );
    console.log(
      `ratio sealed / sealed outbox  ${sealedOutboxRatio.toFixed(2)}   (sealed store vs sealed outbox; target ≥ 0.5)`,
    );
    console.log(
      `ratio sealed / plain          ${sealedRatio.toFixed(2)}   (the backload cost of encryption at rest; best of 2 each, taken in turns)`,
    );
    console.log(`events written                ${tendril.created.toLocaleString('en-US')}`);
    let stages;
    if (profile) {
      const profiledRun = await child('tendril-profile', env);
      console.log('');
      printStages('where a backload spends its time', profiledRun.stages, profiledRun.rows);
      stages = profiledRun.stages;
    }
    console.log('');
    return {
      patients,
      rowsPerSecond: Math.round(tendril.rowsPerSecond),
      rawReadRowsPerSecond: Math.round(raw.rowsPerSecond),
      rawOutboxRowsPerSecond: Math.round(rawOutboxRun.rowsPerSecond),
      ratioRawRead: Number(ratio.toFixed(3)),
      ratioRawOutbox: Number(outboxRatio.toFixed(3)),
      cpuMsPer1k: Math.round(tendril.cpuMsPer1k),
      peakRssMb: tendril.peakRssMb,
      idlePollMedianMs: Number(tendril.idlePollMedianMs.toFixed(1)),
      sealedRowsPerSecond: Math.round(tendrilSealed.rowsPerSecond),
      sealedPeakRssMb: tendrilSealed.peakRssMb,
      rawOutboxSealedRowsPerSecond: Math.round(rawOutboxSealed.rowsPerSecond),
      ratioRawOutboxSealed: Number(sealedOutboxRatio.toFixed(3)),
      ratioSealedPlain: Number(sealedRatio.toFixed(3)),
      ...(stages
        ? { stagesMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, Math.round(v)])) }
        : {}),
    };
  });
}

/**
 * `--against <dir>`: the backload of <dir>'s built code ("before") and of this checkout's ("after")
 * in turns on one seeded database, plain stores, each run in a fresh store of its own.
 */
async function compareAgainst(m, patients, against, rounds) {
  return withSeededDatabase(m, patients, async (env) => {
    const rows = [];
    for (let round = 1; round <= rounds; round++) {
      // Which goes first alternates, so a drift of the machine's load does not favour one side.
      const runBefore = () =>
        child('tendril', { ...env, BENCH_ROUND: `b${round}`, BENCH_CODE_ROOT: against });
      const runAfter = () => child('tendril', { ...env, BENCH_ROUND: `a${round}` });
      let before;
      let after;
      if (round % 2 === 1) {
        before = await runBefore();
        after = await runAfter();
      } else {
        after = await runAfter();
        before = await runBefore();
      }
      const line = {
        round,
        beforeRowsPerSecond: Math.round(before.rowsPerSecond),
        afterRowsPerSecond: Math.round(after.rowsPerSecond),
        ratio: Number((after.rowsPerSecond / before.rowsPerSecond).toFixed(3)),
        beforeCpuMsPer1k: Math.round(before.cpuMsPer1k),
        afterCpuMsPer1k: Math.round(after.cpuMsPer1k),
        beforePeakRssMb: before.peakRssMb,
        afterPeakRssMb: after.peakRssMb,
        afterMapThreads: after.mapThreads,
      };
      console.log(
        `round ${round}: before ${rate(before.rowsPerSecond)} rows/s (CPU ${line.beforeCpuMsPer1k} ms/1k, RSS ${before.peakRssMb} MB)   after ${rate(after.rowsPerSecond)} rows/s (CPU ${line.afterCpuMsPer1k} ms/1k, RSS ${after.peakRssMb} MB, ${after.mapThreads} map threads)   after ÷ before ${line.ratio.toFixed(2)}`,
      );
      rows.push(line);
    }
    return { patients, against, rounds: rows };
  });
}

async function backloadBench() {
  const mapThreads = arg('map-threads', undefined);
  if (mapThreads !== undefined) process.env.BENCH_MAP_THREADS = String(Number(mapThreads));
  const sizes = String(arg('patients', '200000')).split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
    console.error('--patients takes a positive whole number or a comma-separated list of them');
    process.exit(2);
  }
  const m = await mysql();
  const against = arg('against', undefined);
  if (against !== undefined) {
    const rounds = Number(arg('rounds', '3'));
    const comparisons = [];
    for (const patients of sizes)
      comparisons.push(await compareAgainst(m, patients, resolve(against), rounds));
    if (process.argv.includes('--json')) console.log(JSON.stringify({ comparisons }));
    return;
  }
  const results = [];
  // The profile is taken once, at the first size: it says where the time goes, not how fast.
  for (const [i, patients] of sizes.entries())
    results.push(
      await measureSize(m, patients, { profile: i === 0 && !process.argv.includes('--no-profile') }),
    );
  if (results.length > 1) {
    const first = results[0];
    console.log('as the table grows:');
    for (const r of results)
      console.log(
        `  ${r.patients.toLocaleString('en-US').padStart(10)} patients  ${r.rowsPerSecond.toLocaleString('en-US').padStart(8)} rows/s  ×${(r.rowsPerSecond / first.rowsPerSecond).toFixed(2)} of the first size  ratio raw+outbox ${r.ratioRawOutbox.toFixed(2)}  peak RSS ${r.peakRssMb} MB`,
      );
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify({ sizes: results }));
}

const childMode = process.argv.includes('--child')
  ? process.argv[process.argv.indexOf('--child') + 1]
  : undefined;
if (childMode === 'raw') console.log(JSON.stringify(await rawStream()));
else if (childMode === 'raw-outbox') console.log(JSON.stringify(await rawOutbox()));
else if (childMode === 'tendril') console.log(JSON.stringify(await tendrilBackload()));
else if (childMode === 'tendril-profile') console.log(JSON.stringify(await profiledBackload()));
else await backloadBench();
