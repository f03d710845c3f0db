import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/mariadb.js';
import { REPO_ROOT } from './support/paths.js';

interface StreamCounts {
  stream: string;
  read: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
}

const PATIENTS = 40;

/**
 * `tendril seed` loads a connector's generator from its test support
 * (`@tendril/connector-<id>/testing`), creating the tables from the connector's declarations.
 * Dentrix Enterprise: the MariaDB form of its tables (replica and public-query ones alike), then a
 * sync reads back every seeded row of every stream.
 */
describe('tendril seed --connector dentrix-enterprise', () => {
  let db: TestDatabase;
  let ehr: mysql.Connection;
  let configFile: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_dx_seed');
    ehr = await db.connect();
    const dir = mkdtempSync(join(tmpdir(), 'tendril-dx-seed-'));
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: dx-seeded',
        '    connector: dentrix-enterprise',
        '    timezone: America/Chicago',
        `    database: { url: "${db.url}" }`,
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 25 }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await ehr?.end();
    await db?.drop();
  });

  async function count(sql: string): Promise<number> {
    const [[row]] = (await ehr.query(sql)) as unknown as [{ n: string }[]];
    return Number(row!.n);
  }

  it('creates the declared tables, fills them, and a sync reads back every seeded row', async () => {
    const seeded = await runCli([
      'seed',
      '--connector',
      'dentrix-enterprise',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
    ]);
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toContain('created tables: ');
    expect(seeded.stdout).toMatch(
      new RegExp(`seeded 9 DDB_RSC_BASE, ${PATIENTS} DDB_PAT_BASE, \\d+ DDB_APPT_BASE`),
    );

    const expected: Record<string, number> = {
      patients: await count('SELECT COUNT(*) AS n FROM DDB_PAT_BASE'),
      practitioners: await count('SELECT COUNT(*) AS n FROM DDB_RSC_BASE WHERE RSCTYPE = 1'),
      offices: await count('SELECT COUNT(*) AS n FROM DDB_RSC_BASE WHERE RSCTYPE = 0'),
      operatories: await count('SELECT COUNT(*) AS n FROM DDB_RSC_BASE WHERE RSCTYPE = 3'),
      appointments: await count('SELECT COUNT(*) AS n FROM DDB_APPT_BASE'),
      'appointment-types': await count('SELECT COUNT(*) AS n FROM DDB_PROC_CODE_BASE'),
      'appointment-procedures': await count(
        'SELECT COUNT(*) AS n FROM DDB_APPT_PROCCODE_BASE p JOIN DDB_APPT_BASE a ON a.APPTID = p.APPTID AND a.APPTDB = p.APPTDB WHERE a.PATID <> 0',
      ),
      procedures: await count('SELECT COUNT(*) AS n FROM DDB_PROC_LOG_BASE WHERE CHART_STATUS = 102'),
      charges: await count(
        "SELECT COUNT(*) AS n FROM DDB_PROC_LOG_BASE l JOIN DDB_PROC_CODE_BASE c ON c.PROC_CODEID = l.PROC_CODEID AND c.PROC_CODEDB = l.PROC_CODEDB WHERE l.CHART_STATUS = 102 AND c.ADACODE <> ''",
      ),
      payments: await count(
        'SELECT COUNT(*) AS n FROM DDB_PROC_LOG_BASE WHERE CHART_STATUS = 90 AND CLASS IN (1, 3)',
      ),
      'coverage-primary': await count('SELECT COUNT(*) AS n FROM DDB_PAT_BASE WHERE PRINSUREDID <> 0'),
      'coverage-secondary': await count('SELECT COUNT(*) AS n FROM DDB_PAT_BASE WHERE SCINSUREDID <> 0'),
    };
    expect(expected).toMatchObject({ patients: PATIENTS, practitioners: 4, offices: 2, operatories: 3 });
    // Every stream has rows to read: the generator fills the public-query tables too.
    for (const [stream, n] of Object.entries(expected)) expect(n, stream).toBeGreaterThan(0);

    await sleep(1100); // the poll's upper bound excludes the current second
    const synced = await runCli(['sync', '--config', configFile, '--once', '--json']);
    expect(synced.stderr).not.toMatch(/TENDRIL_E_/);
    expect(synced.code).toBe(0);
    const streams = (JSON.parse(synced.stdout) as { connections: { streams: StreamCounts[] }[] })
      .connections[0]!.streams;
    const created = Object.fromEntries(streams.map((s) => [s.stream, s.created]));
    expect(created).toEqual(expected);
  });

  it('says which connectors have a generator when asked for one without', async () => {
    const result = await runCli(['seed', '--connector', 'dolphin', '--url', db.url, '--patients', '5']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'connector dolphin has no data generator yet; generators exist for: open-dental, openemr, dentrix-enterprise',
    );
  });
});

/**
 * `--from-declarations`: a connector without a generator (Dolphin's provisional map here, a
 * just-scaffolded one alike) gets its declared tables and placeholder rows, and a first sync reads
 * rows in every stream.
 */
describe('tendril seed --from-declarations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('tendril_decl_seed');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates and fills the declared tables; the first sync reads every stream', async () => {
    const seeded = await runCli([
      'seed',
      '--connector',
      'dolphin',
      '--url',
      db.url,
      '--patients',
      '12',
      '--from-declarations',
    ]);
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toContain('created tables: ');
    expect(seeded.stdout).toMatch(/seeded 12 \w+/);
    const dir = mkdtempSync(join(tmpdir(), 'tendril-decl-seed-'));
    const configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: declared',
        '    connector: dolphin',
        '    timezone: America/Denver',
        `    database: { url: "${db.url}" }`,
        '    sync: { settleSeconds: 0 }',
        '',
      ].join('\n'),
    );
    const synced = await runCli(['sync', '--config', configFile, '--once', '--json']);
    expect(synced.code, synced.stderr).toBe(0);
    const streams = (JSON.parse(synced.stdout) as { connections: { streams: StreamCounts[] }[] })
      .connections[0]!.streams;
    expect(streams.length).toBeGreaterThan(0);
    for (const s of streams) expect(s.created, s.stream).toBeGreaterThan(0);
  });
});

/** The demo loads Open Dental's generator, patient edits and API fake from the connector's test support. */
describe('tendril demo', () => {
  it('runs the read flow and the writeback on an embedded database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-demo-'));
    const result = await runCli(['demo', '--patients', '60', '--dir', dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/generated .*60 patient/);
    expect(result.stdout).toContain('4. Incremental poll: only what changed');
    expect(result.stdout).toMatch(/next poll: appointment\.created \S+ — the same id the writeback returned/);
  });
});

/**
 * A release build leaves the `testing` subpaths out. The loader meets Node's own error for a
 * package subpath that is not exported (here a real one: core exports no `./testing`) and says so.
 */
describe('connector test support absent from a build', () => {
  it('fails with TENDRIL_E_NOT_AVAILABLE naming the command and the connector', async () => {
    const script = `
      import { loadTestSupport } from ${JSON.stringify(join(REPO_ROOT, 'packages/agent/dist/connector-test-support.js'))};
      try {
        await loadTestSupport('open-dental', 'tendril demo', { 'open-dental': () => import('@tendril/core/testing') });
        console.log('loaded');
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, message: error.message, cause: error.cause?.code }));
      }
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(REPO_ROOT, 'packages/agent'),
    });
    const failure = JSON.parse(stdout) as { code: string; message: string; cause: string };
    expect(failure.code).toBe('TENDRIL_E_NOT_AVAILABLE');
    expect(failure.cause).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(failure.message).toContain('tendril demo needs the test support of connector open-dental');
    expect(failure.message).toContain('this build does not include it');
  });
});
