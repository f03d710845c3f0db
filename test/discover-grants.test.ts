import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dolphin } from '@tendril/connector-dolphin';
import { isTendrilError } from '@tendril/core';
import { classifyDbError, createSqlClient } from '@tendril/sql';
import { seedOpenDental } from '@tendril/connector-open-dental/testing';
import { createTablesFromDeclarations, seedFromDeclarations } from '@tendril/testing';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, MARIADB, type TestDatabase } from './support/mariadb.js';

/*
 * Issue 3 through the built CLI (run `npx tsc -b` first) on real MariaDB:
 * - `tendril discover`: a site whose patient table and one column are named differently; the
 *   stream is reported missing and paused, the others keep syncing; a tableMap override fixes it
 *   without code; a later type change pauses another stream. The support bundle holds no rows.
 * - `tendril grants`: the printed MySQL script creates a user that can sync Open Dental and is
 *   denied a table outside the script.
 */

interface SyncJson {
  connections: {
    id: string;
    streams: { stream: string; created: number; read: number; paused?: string; error?: unknown }[];
  }[];
}

function writeConfig(dir: string, db: TestDatabase, tableMap?: string): string {
  const file = join(dir, `tendril-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(
    file,
    [
      `store: { sqlite: ${join(dir, 'tendril.db')} }`,
      'logLevel: warn',
      'connections:',
      '  - id: ortho-site',
      '    connector: dolphin',
      '    timezone: America/Denver',
      `    database: { url: "${db.url}" }`,
      '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 7 }',
      ...(tableMap ? [`    tableMap: ${tableMap}`] : []),
      '',
    ].join('\n'),
  );
  return file;
}

describe('tendril discover on a site that differs from the provisional Dolphin map', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_dsc_site');
    dir = mkdtempSync(join(tmpdir(), 'tendril-dsc-'));
    const client = createSqlClient({ url: db.url });
    try {
      const tables = Object.values(dolphin.streams);
      await createTablesFromDeclarations(client.knex, tables, 'mysql');
      await seedFromDeclarations(client.knex, tables, { rows: 20 });
    } finally {
      await client.close();
    }
    // The site names the patient table and its surname column differently.
    const root = await db.connect();
    await root.query('RENAME TABLE Patients TO tblPatient');
    await root.query('ALTER TABLE tblPatient CHANGE LastName PatLast varchar(60)');
    await root.end();
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the missing table, pauses that stream only, and writes a row-free support bundle', async () => {
    const config = writeConfig(dir, db);
    const bundle = join(dir, 'bundle.json');
    const result = await runCli([
      'discover',
      '--config',
      config,
      '--connection',
      'ortho-site',
      '--json',
      '--bundle',
      bundle,
    ]);
    expect(result.code).toBe(14);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      streams: { stream: string; status: string }[];
      streamStatus: { stream: string; action: string }[];
    };
    expect(report.ok).toBe(false);
    const status = Object.fromEntries(report.streams.map((s) => [s.stream, s.status]));
    expect(status).toEqual({
      patients: 'missing',
      practitioners: 'ok',
      offices: 'ok',
      'appointment-types': 'ok',
      appointments: 'ok',
      coverage: 'ok',
    });
    expect(report.streamStatus.find((s) => s.stream === 'patients')?.action).toBe('paused');

    const text = readFileSync(bundle, 'utf8');
    const parsed = JSON.parse(text) as { tables: { name: string; columns: { name: string }[] }[] };
    // Metadata of every table, including the one the map does not know yet…
    expect(parsed.tables.find((t) => t.name === 'tblPatient')?.columns.map((c) => c.name)).toContain(
      'PatLast',
    );
    // …and no row value (the seeded text is "<Column> <i>", e.g. "FirstName 3").
    expect(text).not.toMatch(/FirstName \d|OfficeName \d|person\d+@example\.com/);

    const sync = await runCli(['sync', '--config', config, '--once', '--json']);
    expect(sync.code).toBe(0);
    const streams = new Map(
      (JSON.parse(sync.stdout) as SyncJson).connections[0]!.streams.map((s) => [s.stream, s]),
    );
    expect(streams.get('patients')?.paused).toMatch(/^missing: table Patients does not exist/);
    expect(streams.get('patients')?.read).toBe(0);
    for (const other of ['practitioners', 'offices', 'appointment-types', 'appointments', 'coverage'])
      expect(streams.get(other)?.created, other).toBe(20);
  });

  it('rejects a tableMap naming an undeclared column at config time, with its path', async () => {
    const config = writeConfig(dir, db, '{ patients: { table: tblPatient, columns: { Surname: PatLast } } }');
    const result = await runCli(['discover', '--config', config, '--connection', 'ortho-site']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('connections.0.tableMap.patients.columns.Surname');
  });

  it('a tableMap override makes the stream fit: discover resumes it and sync reads it through site names', async () => {
    const config = writeConfig(
      dir,
      db,
      '{ patients: { table: tblPatient, columns: { LastName: PatLast } } }',
    );
    const result = await runCli([
      'discover',
      '--config',
      config,
      '--connection',
      'ortho-site',
      '--json',
      '--bundle',
      join(dir, 'b2.json'),
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      streamStatus: { stream: string; action: string }[];
    };
    expect(report.ok).toBe(true);
    expect(report.streamStatus.find((s) => s.stream === 'patients')?.action).toBe('resumed');
    const sync = await runCli(['sync', '--config', config, '--once', '--json']);
    expect(sync.code).toBe(0);
    const patients = (JSON.parse(sync.stdout) as SyncJson).connections[0]!.streams.find(
      (s) => s.stream === 'patients',
    );
    expect(patients).toMatchObject({ created: 20 });
    expect(patients?.paused).toBeUndefined();
    const events = await runCli(['events', '--config', config, '--json', '--limit', '500']);
    expect(events.stdout).toContain('"family":"LastName 7"');
  });

  it('a later type change pauses only the drifted stream', async () => {
    const root = await db.connect();
    await root.query('ALTER TABLE Appointments MODIFY StartTime varchar(30)');
    await root.end();
    const config = writeConfig(
      dir,
      db,
      '{ patients: { table: tblPatient, columns: { LastName: PatLast } } }',
    );
    const result = await runCli([
      'discover',
      '--config',
      config,
      '--connection',
      'ortho-site',
      '--bundle',
      join(dir, 'b3.json'),
    ]);
    expect(result.code).toBe(14);
    expect(result.stdout).toMatch(/appointments\s+TYPE-MISMATCH .*stream paused/);
    expect(result.stdout).toContain('StartTime is varchar(30), the connector expects datetime');
    expect(result.stdout).toMatch(/patients\s+OK/);
    const sync = await runCli(['sync', '--config', config, '--once']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/appointments\s+PAUSED by discover: type-mismatch/);
  });
});

describe('tendril grants on MariaDB: the printed script is enough to sync, and nothing more', () => {
  let db: TestDatabase;
  let dir: string;
  const user = `tendril_grt_${randomBytes(3).toString('hex')}`;
  const password = `Pw-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_grt_od');
    await loadOpenDentalSchema(db);
    const client = createSqlClient({ url: db.url });
    try {
      await seedOpenDental(client.knex, {
        patients: 60,
        seed: 'grants',
        dialect: 'mysql',
        now: new Date('2024-06-15T00:00:00Z'),
        stamp: new Date('2024-06-01T12:00:00Z'),
      });
    } finally {
      await client.close();
    }
    dir = mkdtempSync(join(tmpdir(), 'tendril-grt-'));
  });
  afterAll(async () => {
    const root = await mysql.createConnection({ ...MARIADB });
    await root.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await root.end();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the user from the script, syncs with it, and is denied a table outside the script', async () => {
    const printed = await runCli([
      'grants',
      '--connector',
      'open-dental',
      '--dialect',
      'mysql',
      '--user',
      user,
      '--password',
      password,
      '--database',
      db.name,
    ]);
    expect(printed.code).toBe(0);
    const script = printed.stdout;
    expect(script).toContain(`CREATE USER IF NOT EXISTS '${user}'@'%'`);
    expect(script).not.toMatch(/GRANT (ALL|INSERT|UPDATE|DELETE)/i);
    const root = await mysql.createConnection({ ...MARIADB, multipleStatements: true });
    await root.query(script);
    await root.end();

    const config = join(dir, 'tendril.yaml');
    writeFileSync(
      config,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: od-least-privilege',
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://${user}:\${OD_PASSWORD}@127.0.0.1:3306/${db.name}" }`,
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 500 }',
        '',
      ].join('\n'),
    );
    const sync = await runCli(['sync', '--config', config, '--once', '--json'], {
      env: { OD_PASSWORD: password },
    });
    expect(sync.stderr).not.toMatch(/TENDRIL_E_/);
    expect(sync.code).toBe(0);
    const streams = (JSON.parse(sync.stdout) as SyncJson).connections[0]!.streams;
    expect(streams.filter((s) => s.error)).toEqual([]);
    expect(streams.find((s) => s.stream === 'patients')?.created).toBeGreaterThan(0);

    const limited = createSqlClient({ url: `mysql://${user}:${password}@127.0.0.1:3306/${db.name}` });
    try {
      const error = await limited
        .execute(limited.knex('securityuser').select('UserNum').limit(1))
        .catch((e: unknown) => classifyDbError(e));
      expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_DB_PERMISSION');
    } finally {
      await limited.close();
    }
  });

  it('--writeback says plainly that no writeback handlers are declared', async () => {
    const printed = await runCli([
      'grants',
      '--connector',
      'dolphin',
      '--dialect',
      'mssql',
      '--password',
      'x',
      '--writeback',
    ]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('no writeback handlers declared for dolphin');
    expect(printed.stdout).not.toMatch(/GRANT (INSERT|UPDATE)/);
  });
});
