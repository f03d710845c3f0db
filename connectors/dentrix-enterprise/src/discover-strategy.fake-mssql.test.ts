import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderDiscover, runDiscover, type Cradle } from '@tendril/agent';
import { ConnectionConfig } from '@tendril/core';
import { silentLogger, syncStream } from '@tendril/scheduler';
import { openSqliteStore, type Store } from '@tendril/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FakeSqlServer,
  fakeTableFor,
  type FakeColumn,
  type FakeRow,
} from './fake-mssql-client.test-support.js';
import { dentrixEnterprise } from './index.js';
import { appointmentTable } from './tables/appt-base.js';
import { patientTable } from './tables/pat-base.js';
import { practitionerTable } from './tables/rsc-practitioner.js';

/*
 * `tendril discover` (runDiscover, the command's own function) on a FAKE SQL SERVER
 * (`fake-mssql-client.test-support.ts`: knex's real mssql dialect, T-SQL checked against the
 * reviewed snapshots, answers from an in-memory model). A simulation, not SQL Server: it shows
 * which strategy discovery picks from the probe answers and what it records.
 */

const ROWVER: FakeColumn = { name: 'RowVer', type: 'rowversion', nullable: false };

const connection = ConnectionConfig.parse({
  id: 'dxe-fake',
  connector: 'dentrix-enterprise',
  timezone: 'America/Chicago',
  database: { url: 'mssql://tendril_reader@fake-sql-server/Dentrix' },
  sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 100 },
  // The streams over the replica's resource, patient and appointment tables: what this fake models.
  streams: ['patients', 'practitioners', 'offices', 'operatories', 'appointments'],
});

/** The definitions table the patients stream joins (race, language, ethnicity). */
const DEF_TEXT = {
  name: 'DDB_DEF_TEXT',
  columns: [
    { name: 'DEFID', type: 'int', nullable: false },
    { name: 'TYPE', type: 'int', nullable: false },
    { name: 'DESCRIPTION', type: 'varchar(255)', nullable: true },
  ],
  primaryKey: ['DEFID', 'TYPE'],
};

function patient(id: number): FakeRow {
  return {
    PATID: id,
    PATDB: 1,
    LASTNAME: `Family${id}`,
    FIRSTNAME: `Given${id}`,
    STATUS: 1,
    DDB_LAST_MOD: new Date(Date.UTC(2025, 0, 1)),
  };
}

describe('tendril discover records the change-detection strategy per stream (FAKE SQL Server; simulation)', () => {
  let server: FakeSqlServer;
  let store: Store;
  let dir: string;
  let cradle: Cradle;
  let clock: number;

  beforeEach(async () => {
    // Snapshot isolation on: CT reads would be allowed one SNAPSHOT transaction (recorded, not used yet).
    server = new FakeSqlServer({ changeTrackingDatabase: true, snapshotIsolation: true });
    // Patients: CT on (and a rowversion column: CT still wins). Resources: a rowversion column, no
    // CT. Appointments: neither, so the declared DDB_LAST_MOD stamp.
    server.createTable(fakeTableFor(patientTable, { changeTracking: true, extraColumns: [ROWVER] }));
    server.createTable(fakeTableFor(practitionerTable, { extraColumns: [ROWVER] }));
    server.createTable(fakeTableFor(appointmentTable));
    server.createTable(DEF_TEXT);
    server.insert('DDB_PAT_BASE', patient(1), patient(2));
    store = openSqliteStore(':memory:');
    await store.migrate();
    dir = mkdtempSync(join(tmpdir(), 'tendril-dxe-discover-'));
    const client = server.client();
    cradle = {
      config: { connections: [connection] },
      connectors: new Map([['dentrix-enterprise', dentrixEnterprise]]),
      store,
      sqlClients: { get: () => client, closeAll: () => client.close() },
    } as unknown as Cradle;
    clock = Date.UTC(2026, 0, 5, 9, 0, 0);
  });

  afterEach(async () => {
    await store.close();
    await cradle.sqlClients.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  const discover = () =>
    runDiscover(cradle, {
      connection: connection.id,
      bundle: join(dir, 'bundle.json'),
      now: () => new Date((clock += 60_000)),
    });

  it('chooses CT when enabled, rowversion when a rowversion column exists, else the timestamp stamp, and records it', async () => {
    const result = await discover();
    expect(result.report.ok).toBe(true);
    const byStream = Object.fromEntries(result.streams.map((s) => [s.stream, s.changeDetection]));
    const at = new Date(Date.UTC(2026, 0, 5, 9, 1, 0)).toISOString();
    expect(byStream['patients']).toEqual({
      strategy: { mode: 'change-tracking', consistency: 'snapshot-transaction', chosenAt: at },
      skipped: [],
      changed: true,
      baseline: false,
    });
    for (const stream of ['practitioners', 'offices', 'operatories']) {
      expect(byStream[stream]).toEqual({
        strategy: { mode: 'rowversion', column: 'RowVer', sqlType: 'rowversion', chosenAt: at },
        skipped: [{ mode: 'change-tracking', reason: 'ct-table-off' }],
        changed: true,
        baseline: false,
      });
    }
    expect(byStream['appointments']).toEqual({
      strategy: {
        mode: 'timestamp',
        column: 'DDB_LAST_MOD',
        sqlType: 'datetime',
        precision: 3,
        chosenAt: at,
      },
      skipped: [
        { mode: 'change-tracking', reason: 'ct-table-off' },
        { mode: 'rowversion', reason: 'no-rowversion-column' },
      ],
      // The declared mode and column: nothing changed.
      changed: false,
      baseline: false,
    });
    // Recorded in the stream state, next to the schema fingerprint.
    for (const s of result.streams) {
      const state = await store.getStreamState(connection.id, s.stream);
      expect(state?.changeStrategy).toEqual(s.changeDetection!.strategy);
      expect(state?.schemaFingerprint).toBeDefined();
    }
    // Probed with the reviewed probe T-SQL: three probes per stream after the schema read.
    const kinds = server.kindsSince(0);
    expect(kinds.filter((k) => k === 'probe-status')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'probe-columns')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'probe-primary-key')).toHaveLength(5);
    expect(renderDiscover(result)).toContain(
      '      change detection: rowversion (RowVer); skipped change-tracking: ct-table-off',
    );
    // The support bundle holds metadata only: the row values the fake holds never appear.
    expect(readFileSync(join(dir, 'bundle.json'), 'utf8')).not.toContain('Family1');
  });

  it('keeps chosenAt when nothing changed; a new mode on a stream already read asks for a baseline', async () => {
    const first = await discover();
    const chosenAt = first.streams.find((s) => s.stream === 'patients')!.changeDetection!.strategy.chosenAt;
    const again = await discover();
    expect(again.streams.find((s) => s.stream === 'patients')!.changeDetection).toMatchObject({
      changed: false,
      baseline: false,
      strategy: { mode: 'change-tracking', chosenAt },
    });

    // The patients stream is read (CT baseline), then the DBA turns CT off for its table.
    await syncStream(
      { sql: cradle.sqlClients.get(connection), store, logger: silentLogger },
      { connection, connector: dentrixEnterprise, stream: 'patients' },
    );
    server.disableChangeTracking('DDB_PAT_BASE');
    // Appointments were never read: a new mode needs no baseline there.
    server.enableChangeTracking('DDB_APPT_BASE');
    const changed = await discover();
    const patients = changed.streams.find((s) => s.stream === 'patients')!.changeDetection!;
    expect(patients).toMatchObject({
      changed: true,
      baseline: true,
      strategy: { mode: 'rowversion', column: 'RowVer' },
    });
    expect((await store.getStreamState(connection.id, 'patients'))?.baselineRequired?.reason).toBe(
      'change detection changed from change-tracking to rowversion (RowVer)',
    );
    expect(changed.streams.find((s) => s.stream === 'appointments')!.changeDetection).toMatchObject({
      changed: true,
      baseline: false,
      strategy: { mode: 'change-tracking' },
    });
    expect((await store.getStreamState(connection.id, 'appointments'))?.baselineRequired).toBeUndefined();
    expect(renderDiscover(changed)).toMatch(
      /change detection: rowversion \(RowVer\); skipped change-tracking: ct-table-off {2}→ baseline at the next run/,
    );
  });
});
