import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import {
  createOpenEmrDatabase,
  officeDay,
  OPENEMR_TEST_ZONE,
  type OpenEmrDatabase,
} from './support/openemr.js';

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
}

const PATIENTS = 150;

/**
 * OpenEMR end to end through the built CLI: real schema + the 14 example patients + generated
 * practice data in MariaDB → `sync --once --json` creates exactly what the database holds; again →
 * nothing changes; an appointment hard-deleted inside the window → deleted at the next poll; one
 * moved outside the window → updated, not deleted.
 */
describe('OpenEMR end to end on real MariaDB through the CLI', () => {
  let db: OpenEmrDatabase;
  let ehr: mysql.Connection;
  let configFile: string;

  beforeAll(async () => {
    db = await createOpenEmrDatabase('e2e', { examples: true });
    ehr = await db.connect();
    const dir = mkdtempSync(join(tmpdir(), 'tendril-emr-e2e-'));
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: warn',
        'connections:',
        '  - id: desert-family-medicine',
        '    connector: openemr',
        `    timezone: ${OPENEMR_TEST_ZONE}`,
        '    database: { url: "mysql://root:${EMR_PASSWORD}@127.0.0.1:3306/' + db.name + '" }',
        '    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 500 }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await ehr?.end();
    await db?.drop();
  });

  async function sync(): Promise<Map<string, StreamCounts>> {
    const result = await runCli(['sync', '--config', configFile, '--once', '--json'], {
      env: { EMR_PASSWORD: '' },
    });
    expect(result.stderr).not.toMatch(/TENDRIL_E_/);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as SyncJson;
    expect(report.connections).toHaveLength(1);
    return new Map(report.connections[0]!.streams.map((s) => [s.stream, s]));
  }

  async function count(sql: string): Promise<number> {
    const [[row]] = (await ehr.query(sql)) as unknown as [{ n: string }[]];
    return Number(row!.n);
  }

  it('seeds, backloads, re-polls, and sees window deletes and moves', async () => {
    const seeded = await runCli([
      'seed',
      '--connector',
      'openemr',
      '--url',
      db.url,
      '--patients',
      String(PATIENTS),
      '--seed',
      'e2e',
    ]);
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);

    const services = "code_type IN ('CPT4', 'HCPCS', 'ICD9-SG', 'ICD10-PCS', 'SNOMED-PR') AND activity <> 0";
    const expected: Record<string, number> = {
      patients: await count('SELECT COUNT(*) AS n FROM patient_data'),
      practitioners: await count('SELECT COUNT(*) AS n FROM users WHERE authorized = 1'),
      offices: await count('SELECT COUNT(*) AS n FROM facility'),
      appointments: await count(
        "SELECT COUNT(*) AS n FROM openemr_postcalendar_events WHERE pc_pid NOT IN ('', '0')",
      ),
      encounters: await count('SELECT COUNT(*) AS n FROM form_encounter'),
      conditions: await count(
        "SELECT COUNT(*) AS n FROM lists WHERE type = 'medical_problem' AND activity <> 0",
      ),
      procedures: await count(`SELECT COUNT(*) AS n FROM billing WHERE ${services}`),
      charges: await count(`SELECT COUNT(*) AS n FROM billing WHERE ${services}`),
      coverage: await count("SELECT COUNT(*) AS n FROM insurance_data WHERE provider NOT IN ('', '0')"),
    };
    expect(expected['patients']).toBe(14 + PATIENTS);
    expect(expected['practitioners']).toBe(2 + 4);
    for (const [stream, n] of Object.entries(expected)) expect(n, stream).toBeGreaterThan(0);
    await sleep(1100); // stamps have 1 s precision; the poll's upper bound excludes the current second

    const first = await sync();
    expect(new Set(first.keys())).toEqual(new Set(Object.keys(expected)));
    for (const [stream, counts] of first) {
      expect(counts.error, stream).toBeUndefined();
      expect([stream, counts.created], stream).toEqual([stream, expected[stream]]);
      expect(counts.updated + counts.deleted, stream).toBe(0);
    }

    const second = await sync();
    for (const [stream, counts] of second) {
      expect(counts.created + counts.updated + counts.deleted, stream).toBe(0);
    }

    // One appointment inside the window hard-deleted, another moved 200 days ahead (outside it).
    const [inside] = (await ehr.query(
      "SELECT pc_eid FROM openemr_postcalendar_events WHERE pc_pid NOT IN ('', '0') AND pc_eventDate BETWEEN ? AND ? ORDER BY pc_eid LIMIT 2",
      [officeDay(-25), officeDay(85)],
    )) as unknown as [{ pc_eid: string }[]];
    expect(inside).toHaveLength(2);
    await ehr.query('DELETE FROM openemr_postcalendar_events WHERE pc_eid = ?', [inside[0]!.pc_eid]);
    await ehr.query('UPDATE openemr_postcalendar_events SET pc_eventDate = ? WHERE pc_eid = ?', [
      officeDay(200),
      inside[1]!.pc_eid,
    ]);

    const third = await sync();
    expect(third.get('appointments')).toMatchObject({ deleted: 1, updated: 1, created: 0 });
    for (const [stream, counts] of third) {
      if (stream !== 'appointments') expect(counts.created + counts.updated + counts.deleted, stream).toBe(0);
    }

    const all = await runCli(
      ['events', '--config', configFile, '--format', 'json', '--limit', '100000', '--json'],
      { env: { EMR_PASSWORD: '' } },
    );
    expect(all.code).toBe(0);
    const envelopes = JSON.parse(all.stdout) as { type: string; data: { sourceId: string } }[];
    const deleted = envelopes.filter((e) => e.type === 'appointment.deleted').map((e) => e.data.sourceId);
    const updated = envelopes.filter((e) => e.type === 'appointment.updated').map((e) => e.data.sourceId);
    expect(deleted).toEqual([String(inside[0]!.pc_eid)]);
    expect(updated).toEqual([String(inside[1]!.pc_eid)]);
  });
});
