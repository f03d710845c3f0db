import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

interface StreamCounts {
  stream: string;
  read: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  error?: unknown;
}
interface SyncJson {
  connections: { id: string; streams: StreamCounts[] }[];
  durationMs: number;
}

const PATIENTS = 400;

/**
 * The "done when": seed a real MariaDB Open Dental database (real 24.3 schema), sync →
 * the seeded counts as created; again → unchanged; edit 10 patients → exactly 10 updated.
 */
describe('Open Dental end to end on real MariaDB through the CLI', () => {
  let db: TestDatabase;
  let configFile: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_e2e');
    await loadOpenDentalSchema(db);
    const dir = mkdtempSync(join(tmpdir(), 'tendril-e2e-'));
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: smile-dental-main',
        '    connector: open-dental',
        '    timezone: America/New_York',
        '    database: { url: "mysql://root:${OD_PASSWORD}@127.0.0.1:3306/' + db.name + '" }',
        // Rows are seeded seconds before the first poll; production keeps the 120 s default.
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 500 }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function syncJson(): Promise<SyncJson> {
    const result = await runCli(['sync', '--config', configFile, '--once', '--json'], {
      env: { OD_PASSWORD: '' },
    });
    expect(result.stderr).not.toMatch(/TENDRIL_E_/);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as SyncJson;
  }

  function streams(report: SyncJson): Map<string, StreamCounts> {
    expect(report.connections).toHaveLength(1);
    return new Map(report.connections[0]!.streams.map((s) => [s.stream, s]));
  }

  it('seeds, backloads, re-polls and sees exactly the 10 edited patients', async () => {
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'e2e',
    ]);
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);

    const connection = await db.connect();
    const [[patientRow]] = (await connection.query(
      'SELECT COUNT(*) AS n, SUM(PatStatus = 4) AS deleted FROM patient',
    )) as unknown as [{ n: string; deleted: string }[]];
    const [[appointmentRow]] = (await connection.query(
      'SELECT COUNT(*) AS n FROM appointment WHERE AptStatus NOT IN (6, 7, 8)',
    )) as unknown as [{ n: string }[]];
    expect(Number(patientRow!.n)).toBe(PATIENTS);
    await sleep(1100); // stamps have 1 s precision; the poll's upper bound excludes the current second

    const first = streams(await syncJson());
    const patients = first.get('patients')!;
    expect(patients.created).toBe(PATIENTS - Number(patientRow!.deleted));
    expect(patients.read).toBe(PATIENTS);
    expect(first.get('appointments')!.created).toBe(Number(appointmentRow!.n));
    for (const stream of first.values()) {
      expect(stream.error, stream.stream).toBeUndefined();
      expect(stream.updated + stream.deleted, stream.stream).toBe(0);
      expect(stream.created, stream.stream).toBeGreaterThan(0);
    }

    const second = streams(await syncJson());
    for (const stream of second.values()) {
      expect(stream.created + stream.updated + stream.deleted, stream.stream).toBe(0);
      expect(stream.unchanged, stream.stream).toBe(
        first.get(stream.stream)!.created + first.get(stream.stream)!.unchanged,
      );
    }

    // Ten patients edited in the EHR (their street address): the stamp moves with the edit.
    const [rows] = (await connection.query(
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 10',
    )) as unknown as [{ PatNum: string }[]];
    for (const row of rows) {
      await connection.query("UPDATE patient SET Address = CONCAT('Suite 9, ', Address) WHERE PatNum = ?", [
        row.PatNum,
      ]);
    }
    await connection.end();
    await sleep(1100);

    const third = streams(await syncJson());
    expect(third.get('patients')!.updated).toBe(10);
    for (const stream of third.values()) {
      expect(stream.created + stream.deleted, stream.stream).toBe(0);
      if (stream.stream !== 'patients') expect(stream.updated, stream.stream).toBe(0);
    }

    const events = await runCli(
      ['events', '--config', configFile, '--format', 'flat', '--limit', '10', '--json'],
      { env: { OD_PASSWORD: '' } },
    );
    expect(events.code).toBe(0);
    const flat = JSON.parse(events.stdout) as { element: string; data: string }[];
    expect(flat).toHaveLength(10);
    for (const body of flat) {
      expect(body.element).toBe('demographic');
      expect(body.data.split('\n')[1]!.endsWith('|Updated')).toBe(true);
    }
  });
});
