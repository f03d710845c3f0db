#!/usr/bin/env node
// Times a new connector from scaffold to first sync (docs/adding-a-connector.md, "Scaffold to first
// sync, timed"), in a throw-away copy of this workspace:
//   1. `tendril new connector <id> --dialect mysql` (files, registry, package and tsconfig references)
//   2. `tsc -b` of the whole workspace
//   3. the scaffold's own tests, untouched, with the registry and config-schema tests
//   4. a MariaDB database with the scaffold's schema fixture, filled by `tendril seed --from-declarations`
//   5. `tendril sync --once` of a connection on it: the first sync
// Prints the wall time of each step and the total; exits non-zero if a step fails. Needs a built
// checkout (`pnpm build`) and MariaDB on 127.0.0.1:3306 (TENDRIL_TEST_MARIADB_URL overrides it).
// Usage: node scripts/time-new-connector.mjs [--rows 200] [--keep]
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '200' }, keep: { type: 'boolean', default: false } },
});
const ROWS = Number(args.rows);
const ID = 'acme-timed';
const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SERVER = process.env.TENDRIL_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';

/** A copy of the workspace as a fresh clone would be after `pnpm install && pnpm build`. */
function scratchCopy() {
  const root = mkdtempSync(join(tmpdir(), 'tendril-timed-'));
  const skipped = new Set(['node_modules', '.git', 'test-results', '.tendril']);
  cpSync(REPO, root, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: (source) => !skipped.has(relative(REPO, source).split(sep)[0] ?? ''),
  });
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  return root;
}

function run(root, command, commandArgs) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== 'TEST'),
  );
  return new Promise((done, fail) => {
    const child = spawn(command, commandArgs, {
      cwd: root,
      env: { ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const steps = [];
async function step(name, work) {
  const started = performance.now();
  const detail = await work();
  const ms = performance.now() - started;
  steps.push({ name, ms, detail });
  console.log(`${name.padEnd(48)} ${(ms / 1000).toFixed(1).padStart(6)} s  ${detail ?? ''}`);
}

function check(result, what) {
  if (result.code !== 0) {
    // Thrown, not process.exit: the `finally` below still drops the database and the copy.
    throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

const root = scratchCopy();
const database = `tendril_timed_${process.pid}`;
const mysql = (await import(pathToFileURL(join(REPO, 'test/node_modules/mysql2/promise.js')).href)).default;
const node = process.execPath;
console.log(`scratch copy of the workspace: ${root}\n`);
try {
  await step(`1. tendril new connector ${ID} --dialect mysql`, async () => {
    const r = check(
      await run(root, node, [
        'packages/agent/dist/bin.js',
        'new',
        'connector',
        ID,
        '--dialect',
        'mysql',
        '--root',
        root,
      ]),
      'scaffold',
    );
    return `${r.stdout.split('\n').filter((l) => /^(created|updated) /.test(l.trim())).length} files written or updated`;
  });
  await step('2. tsc -b (whole workspace)', async () => {
    check(await run(root, node, ['node_modules/typescript/bin/tsc', '-b']), 'tsc -b');
  });
  await step('3. scaffold, registry and config-schema tests', async () => {
    const r = check(
      await run(root, node, [
        'node_modules/vitest/vitest.mjs',
        'run',
        `connectors/${ID}`,
        // The workspace-wide checks a registration step can break: registry and config schema.
        'test/registry.test.ts',
        'test/config-schema.test.ts',
      ]),
      'scaffold tests',
    );
    return (/Tests\s+(\d+ passed[^\n]*)/.exec(r.stdout)?.[1] ?? '').trim();
  });
  await step(`4. database: schema fixture + ${ROWS} seeded rows`, async () => {
    const admin = await mysql.createConnection({ uri: SERVER, multipleStatements: true });
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.query(`USE \`${database}\``);
    await admin.query(readFileSync(join(root, `connectors/${ID}/fixtures/schema.mariadb.sql`), 'utf8'));
    await admin.end();
    // The CLI's generic seeder: the scaffold has no generator of its own.
    const r = check(
      await run(root, node, [
        'packages/agent/dist/bin.js',
        'seed',
        '--connector',
        ID,
        '--url',
        `${SERVER}/${database}`,
        '--patients',
        String(ROWS),
        '--from-declarations',
      ]),
      'seed',
    );
    return r.stdout.trim().split('\n').pop();
  });
  await step('5. tendril sync --once (first sync)', async () => {
    const config = join(root, 'tendril.yaml');
    writeFileSync(
      config,
      [
        `store: { sqlite: ${join(root, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: timed',
        `    connector: ${ID}`,
        '    timezone: America/Chicago',
        `    database: { url: "${SERVER}/${database}" }`,
        '    sync: { settleSeconds: 0 }',
        '',
      ].join('\n'),
    );
    const r = check(
      await run(root, node, ['packages/agent/dist/bin.js', 'sync', '--config', config, '--once', '--json']),
      'sync',
    );
    const streams = JSON.parse(r.stdout).connections[0].streams;
    const created = streams.reduce((n, s) => n + s.created, 0);
    if (created !== ROWS) {
      throw new Error(`first sync created ${created} records, expected ${ROWS}:\n${r.stdout}\n${r.stderr}`);
    }
    return `${created} records created (${streams.map((s) => `${s.stream} ${s.created}`).join(', ')})`;
  });
  const total = steps.reduce((n, s) => n + s.ms, 0);
  console.log(`${'scaffold to first sync, total'.padEnd(48)} ${(total / 1000).toFixed(1).padStart(6)} s`);
} finally {
  const admin = await mysql.createConnection({ uri: SERVER });
  await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin.end();
  if (args.keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
