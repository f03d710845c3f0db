import { ConnectionConfig, isTendrilError } from '@tendril/core';
import {
  applyDiscoveredStrategy,
  discoverChangeStrategy,
  syncStream,
  type DiscoveredStrategyUpdate,
  type Logger,
  type StreamSyncResult,
} from '@tendril/scheduler';
import { changeTrackingVersionsQuery, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeSqlServer,
  fakeTableFor,
  rowversionText,
  type FakeColumn,
  type FakeQueryLogEntry,
  type FakeRow,
  type FakeSqlServerOptions,
} from './fake-mssql-client.test-support.js';
import { dentrixEnterprise } from './index.js';
import { patientTable } from './tables/pat-base.js';
import { practitionerTable } from './tables/rsc-practitioner.js';

/*
 * The sync engine's SQL Server change-tracking and rowversion paths, run against a FAKE SQL
 * SERVER (`fake-mssql-client.test-support.ts`): each query is compiled by knex's real mssql
 * dialect, refused unless its T-SQL is one of the reviewed snapshots, and answered by an in-memory
 * model of CT versions and rowversions. THIS IS A SIMULATION, NOT SQL SERVER: it shows what the
 * engine sends and does with such answers, never that SQL Server answers that way.
 */

const ROWVER: FakeColumn = { name: 'RowVer', type: 'rowversion', nullable: false };

const connection = ConnectionConfig.parse({
  id: 'dxe-fake',
  connector: 'dentrix-enterprise',
  timezone: 'America/Chicago',
  database: { url: 'mssql://tendril_reader@fake-sql-server/Dentrix' },
  // Small pages, so every path pages several times.
  sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 3 },
});

/** A made-up patient row as tedious would return it (ints as numbers, datetime as Date). */
function patient(id: number, patch: FakeRow = {}): FakeRow {
  return {
    PATID: id,
    PATDB: 1,
    GUARID: id,
    GUARDB: 1,
    PRPROVID: 0,
    PRPROVDB: 0,
    LASTNAME: `Family${id}`,
    FIRSTNAME: `Given${id}`,
    MiddleName: null,
    MI: null,
    PREFNAME: null,
    TITLE: null,
    Suffix: null,
    CHART: `C${id}`,
    STATUS: 1,
    BIRTHDATE: new Date(Date.UTC(1980, 0, id)),
    EMAILADDRESS: null,
    HOMEPHONE: null,
    WKPHONE: null,
    OTHERPHONE: null,
    Language: 0,
    PatientDeathDate: new Date(Date.UTC(1753, 0, 1)),
    DDB_LAST_MOD: new Date(Date.UTC(2025, 0, 1)),
    ...patch,
  };
}

function practitioner(id: number, type: number): FakeRow {
  return {
    URSCID: id,
    RSCDB: 1,
    RSCID: `R${id}`,
    RSCTYPE: type,
    NAME_LAST: `Resource${id}`,
    NAME_FIRST: 'Pat',
    ActiveFlag: 1,
  };
}

interface Harness {
  readonly server: FakeSqlServer;
  readonly client: SqlClient;
  readonly store: Store;
  readonly warnings: string[];
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.store.close();
    await h.client.close();
  }
});

async function harness(options: FakeSqlServerOptions): Promise<Harness> {
  const server = new FakeSqlServer(options);
  const store = openSqliteStore(':memory:');
  await store.migrate();
  const h = { server, client: server.client(), store, warnings: [] as string[] };
  open.push(h);
  return h;
}

function recordingLogger(warnings: string[]): Logger {
  const logger: Logger = {
    info: () => undefined,
    debug: () => undefined,
    error: () => undefined,
    warn: (obj) => {
      const event = (obj as { event?: unknown }).event;
      if (typeof event === 'string') warnings.push(event);
    },
    child: () => logger,
  };
  return logger;
}

/**
 * The value bound to the `@pN` that `pattern` captures in a logged query: positions shift when a
 * stream's joins carry constants (bound before the WHERE clause), the T-SQL text does not lie.
 */
function boundTo(entry: FakeQueryLogEntry, pattern: RegExp): unknown {
  const m = pattern.exec(entry.sql);
  if (!m) throw new Error(`pattern ${pattern} not in the logged T-SQL`);
  return entry.bindings[Number(m[1])];
}

async function sync(h: Harness, stream: string, extra: { full?: boolean } = {}): Promise<StreamSyncResult> {
  return syncStream(
    { sql: h.client, store: h.store, logger: recordingLogger(h.warnings) },
    { connection, connector: dentrixEnterprise, stream, ...extra },
  );
}

/** What `tendril discover` does per stream on SQL Server: probe, choose, record. */
async function discover(h: Harness, stream: string): Promise<DiscoveredStrategyUpdate> {
  const table = dentrixEnterprise.streams[stream]!;
  const choice = await discoverChangeStrategy(h.client, table);
  const state = (await h.store.getStreamState(connection.id, stream)) ?? { mode: table.cursor.mode };
  const update = applyDiscoveredStrategy(state, table, choice.strategy!, new Date().toISOString());
  await h.store.saveStreamState(connection.id, stream, update.state);
  return update;
}

async function state(h: Harness, stream: string) {
  return (await h.store.getStreamState(connection.id, stream))!;
}

/** Events after `afterSequence`, as `kind sourceId`, sorted. */
async function eventsAfter(h: Harness, afterSequence: number): Promise<string[]> {
  const events = await h.store.listEvents({ connectionId: connection.id, afterSequence, limit: 1000 });
  return events.map((e) => `${e.kind} ${e.sourceId}`).sort();
}

async function lastSequence(h: Harness): Promise<number> {
  const [last] = await h.store.listEvents({ connectionId: connection.id, limit: 1, newestFirst: true });
  return last?.envelope.sequence ?? 0;
}

const counts = (r: StreamSyncResult) => ({
  kind: r.kind,
  read: r.read,
  created: r.created,
  updated: r.updated,
  deleted: r.deleted,
  unchanged: r.unchanged,
});

describe('the FAKE SQL Server itself', () => {
  it('refuses T-SQL that is not in a reviewed snapshot, and answers what is', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { changeTracking: true }));
    await expect(h.client.execute(h.client.knex('DDB_PAT_BASE').select('PATID'))).rejects.toThrow(
      /not in any reviewed snapshot/,
    );
    // The same builder the engine uses, with other values: same T-SQL text, so it is answered.
    const [versions] = await h.client.execute(changeTrackingVersionsQuery(h.client, 'DDB_PAT_BASE'));
    expect(versions).toEqual({ current_version: '0', min_valid_version: '0' });
  });
});

describe('change tracking on a FAKE SQL Server (simulation; not SQL Server)', () => {
  it('inserts, updates and deletes become created / updated / deleted; deletes need no point lookup', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { changeTracking: true }));
    h.server.insert('DDB_PAT_BASE', ...[1, 2, 3, 4, 5, 6, 7].map((id) => patient(id)));

    const recorded = await discover(h, 'patients');
    expect(recorded.state.changeStrategy).toMatchObject({
      mode: 'change-tracking',
      consistency: 'current-version-filter',
    });
    expect(recorded.baseline).toBe(false);

    // No stored version: a baseline. `cur` is read first, then the table by key.
    let mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'backload',
      read: 7,
      created: 7,
      updated: 0,
      deleted: 0,
      unchanged: 0,
    });
    expect(h.server.kindsSince(mark)).toEqual(['ct-versions', 'table-page', 'table-page', 'table-page']);
    const afterBackload = await state(h, 'patients');
    expect(afterBackload.changeTrackingVersion).toBe(String(h.server.changeTrackingCurrentVersion));

    mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'poll',
      read: 0,
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 0,
    });
    expect(h.server.kindsSince(mark)).toEqual(['ct-versions', 'ct-page']);

    const since = (await state(h, 'patients')).changeTrackingVersion!;
    h.server.insert('DDB_PAT_BASE', patient(8), patient(9)); // one transaction: one version, paged by key
    h.server.update('DDB_PAT_BASE', [2, 1], { LASTNAME: 'Renamed' });
    h.server.update('DDB_PAT_BASE', [3, 1], { LASTNAME: 'First' });
    h.server.update('DDB_PAT_BASE', [3, 1], { LASTNAME: 'Final' }); // twice between polls: one event
    h.server.begin().delete('DDB_PAT_BASE', [4, 1]).delete('DDB_PAT_BASE', [5, 1]).commit();
    h.server.update('DDB_PAT_BASE', [6, 1], {}); // CT records an update; the content is the same
    h.server.update('DDB_PAT_BASE', [7, 1], { LASTNAME: 'Doomed' });
    h.server.delete('DDB_PAT_BASE', [7, 1]);
    h.server.insert('DDB_PAT_BASE', patient(10));
    h.server.delete('DDB_PAT_BASE', [10, 1]); // born and gone between polls: nothing to say
    const cur = String(h.server.changeTrackingCurrentVersion);

    const before = await lastSequence(h);
    mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'poll',
      read: 9,
      created: 2,
      updated: 2,
      deleted: 3,
      unchanged: 1,
    });
    // 9 changed keys, pages of 3 → 3 full pages and an empty one; never a point lookup.
    expect(h.server.kindsSince(mark)).toEqual(['ct-versions', 'ct-page', 'ct-page', 'ct-page', 'ct-page']);
    const pages = h.server.log.slice(mark).filter((e) => e.kind === 'ct-page');
    // CHANGETABLE(CHANGES t, @since) gets the stored version as an integer; `<= cur` the version read first.
    for (const page of pages) {
      expect(boundTo(page, /CHANGES \[dbo\]\.\[DDB_PAT_BASE\], @p(\d+)\)/)).toBe(Number(since));
      expect(boundTo(page, /\[SYS_CHANGE_VERSION\] <= CAST\(@p(\d+) AS bigint\)/)).toBe(cur);
    }
    expect(await eventsAfter(h, before)).toEqual([
      'created 8:1',
      'created 9:1',
      'deleted 4:1',
      'deleted 5:1',
      'deleted 7:1',
      'updated 2:1',
      'updated 3:1',
    ]);
    const [renamed] = (
      await h.store.listEvents({ connectionId: connection.id, afterSequence: before, limit: 100 })
    ).filter((e) => e.sourceId === '3:1');
    expect(renamed!.envelope.data['name']).toMatchObject({ family: 'Final' });
    const after = await state(h, 'patients');
    expect(after.changeTrackingVersion).toBe(cur);
    expect(after.changeInProgress).toBeUndefined();
  });

  it("a row that leaves the stream's filter (RSCTYPE change) is a confirmed delete there and a create in the other stream", async () => {
    const h = await harness({ changeTrackingDatabase: true, snapshotIsolation: true });
    h.server.createTable(fakeTableFor(practitionerTable, { changeTracking: true }));
    h.server.insert(
      'DDB_RSC_BASE',
      practitioner(1, 1),
      practitioner(2, 1),
      practitioner(3, 1),
      practitioner(4, 3),
    );
    for (const stream of ['practitioners', 'operatories']) {
      expect((await discover(h, stream)).state.changeStrategy).toMatchObject({
        mode: 'change-tracking',
        consistency: 'snapshot-transaction',
      });
    }
    expect(counts(await sync(h, 'practitioners'))).toMatchObject({ created: 3 });
    expect(counts(await sync(h, 'operatories'))).toMatchObject({ created: 1 });

    h.server.update('DDB_RSC_BASE', [2, 1], { RSCTYPE: 3 });
    const before = await lastSequence(h);
    const mark = h.server.log.length;
    expect(counts(await sync(h, 'practitioners'))).toEqual({
      kind: 'poll',
      read: 1,
      created: 0,
      updated: 0,
      deleted: 1,
      unchanged: 0,
    });
    expect(counts(await sync(h, 'operatories'))).toEqual({
      kind: 'poll',
      read: 1,
      created: 1,
      updated: 0,
      deleted: 0,
      unchanged: 0,
    });
    expect(h.server.kindsSince(mark)).not.toContain('lookup');
    expect(await eventsAfter(h, before)).toEqual(['created 2:1', 'deleted 2:1']);
  });

  it('scenario 15: an expired version (cleanup passed it) runs a baseline that emits only real differences', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { changeTracking: true }));
    h.server.insert('DDB_PAT_BASE', ...[1, 2, 3, 4, 5, 6].map((id) => patient(id)));
    await discover(h, 'patients');
    await sync(h, 'patients');
    const stored = (await state(h, 'patients')).changeTrackingVersion!;

    h.server.update('DDB_PAT_BASE', [1, 1], { LASTNAME: 'Changed' });
    h.server.update('DDB_PAT_BASE', [2, 1], {}); // touched, same content
    h.server.delete('DDB_PAT_BASE', [3, 1]);
    h.server.insert('DDB_PAT_BASE', patient(7));
    h.server.advanceMinValidVersion('DDB_PAT_BASE'); // CT cleanup: changes up to now are gone
    expect(BigInt(stored)).toBeLessThan(h.server.changeTrackingCurrentVersion);

    const before = await lastSequence(h);
    const mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'poll',
      read: 6,
      created: 1,
      updated: 1,
      deleted: 1,
      unchanged: 4,
    });
    // No CHANGETABLE read with the expired version (the fake would refuse it); a scan by key and
    // one point lookup confirming the vanished row.
    expect(h.server.kindsSince(mark)).toEqual([
      'ct-versions',
      'table-page',
      'table-page',
      'table-page',
      'lookup',
    ]);
    expect(h.warnings).toContain('change_tracking.version_expired');
    expect(await eventsAfter(h, before)).toEqual(['created 7:1', 'deleted 3:1', 'updated 1:1']);
    expect((await state(h, 'patients')).changeTrackingVersion).toBe(
      String(h.server.changeTrackingCurrentVersion),
    );

    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 0, created: 0, updated: 0, deleted: 0 });
  });

  it('CT turned off by the DBA stops the stream with a fix to run discover', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { changeTracking: true }));
    h.server.insert('DDB_PAT_BASE', patient(1));
    await discover(h, 'patients');
    await sync(h, 'patients');
    h.server.disableChangeTracking('DDB_PAT_BASE');
    const error = await sync(h, 'patients').catch((e: unknown) => e);
    expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_CURSOR_STATE');
    expect((error as Error).message).toMatch(/run tendril discover/);
  });
});

describe('rowversion on a FAKE SQL Server (simulation; not SQL Server)', () => {
  async function rowversionHarness(): Promise<Harness> {
    const h = await harness({ changeTrackingDatabase: false });
    h.server.createTable(fakeTableFor(patientTable, { extraColumns: [ROWVER] }));
    h.server.insert('DDB_PAT_BASE', ...[1, 2, 3, 4, 5].map((id) => patient(id)));
    const recorded = await discover(h, 'patients');
    expect(recorded.state.changeStrategy).toMatchObject({ mode: 'rowversion', column: 'RowVer' });
    return h;
  }

  it('reads MIN_ACTIVE_ROWVERSION() first, then pages [state, upper) by (rv, key) bound as binary(8)', async () => {
    const h = await rowversionHarness();
    let upper = rowversionText(h.server.minActiveRowversion);
    let mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'backload',
      read: 5,
      created: 5,
      updated: 0,
      deleted: 0,
      unchanged: 0,
    });
    expect(h.server.kindsSince(mark)).toEqual(['rowversion-upper', 'table-page', 'table-page']);
    expect((await state(h, 'patients')).rowversionWatermark).toBe(upper);

    for (const id of [1, 2, 3, 4]) h.server.update('DDB_PAT_BASE', [id, 1], { LASTNAME: `Updated${id}` });
    h.server.insert('DDB_PAT_BASE', patient(6));
    const lower = upper;
    upper = rowversionText(h.server.minActiveRowversion);
    const before = await lastSequence(h);
    mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'poll',
      read: 5,
      created: 1,
      updated: 4,
      deleted: 0,
      unchanged: 0,
    });
    expect(h.server.kindsSince(mark)).toEqual(['rowversion-upper', 'rowversion-page', 'rowversion-page']);
    const [first, second] = h.server.log.slice(mark).filter((e) => e.kind === 'rowversion-page');
    const hex = (b: unknown) => rowversionText((b as Buffer).readBigUInt64BE(0));
    // [lower, upper) as 8-byte buffers; the second page starts after the first page's last (rv, key).
    const rv = (entry: FakeQueryLogEntry, op: string) =>
      hex(boundTo(entry, new RegExp(`\\[RowVer\\] ${op} CAST\\(@p(\\d+) AS binary\\(8\\)\\)`)));
    expect([rv(first!, '>='), rv(first!, '<')]).toEqual([lower, upper]);
    expect(rv(second!, '=')).toBe(rv(second!, '>'));
    expect(rv(second!, '>')).toBe(rowversionText(BigInt(lower) + 2n));
    expect(await eventsAfter(h, before)).toEqual([
      'created 6:1',
      'updated 1:1',
      'updated 2:1',
      'updated 3:1',
      'updated 4:1',
    ]);
    expect((await state(h, 'patients')).rowversionWatermark).toBe(upper);
  });

  it("an open transaction's lower rowversion is not skipped: the poll stops below it", async () => {
    const h = await rowversionHarness();
    await sync(h, 'patients');

    const inFlight = h.server.begin().update('DDB_PAT_BASE', [1, 1], { LASTNAME: 'InFlight' }); // rv X, uncommitted
    h.server.update('DDB_PAT_BASE', [2, 1], { LASTNAME: 'Committed' }); // rv X+1, committed
    const held = rowversionText(inFlight.rowversions[0]!);
    expect(rowversionText(h.server.minActiveRowversion)).toBe(held);
    // Upper = MIN_ACTIVE_ROWVERSION() = X: patient 2 (X+1) waits too, so the watermark cannot pass X.
    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 0, updated: 0 });
    expect((await state(h, 'patients')).rowversionWatermark).toBe(held);

    inFlight.commit();
    const before = await lastSequence(h);
    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 2, updated: 2 });
    expect(await eventsAfter(h, before)).toEqual(['updated 1:1', 'updated 2:1']);

    // A transaction that commits right after the poll read its upper bound: the upper bound was
    // read first, so the row (rowversion = upper) is left to the next poll, not skipped.
    const late = h.server.begin().update('DDB_PAT_BASE', [3, 1], { LASTNAME: 'LateCommit' });
    h.server.update('DDB_PAT_BASE', [4, 1], { LASTNAME: 'Other' });
    h.server.afterNext('rowversion-upper', () => late.commit());
    const mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 0, updated: 0 });
    expect(h.server.kindsSince(mark)[0]).toBe('rowversion-upper');
    const next = await lastSequence(h);
    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 2, updated: 2 });
    expect(await eventsAfter(h, next)).toEqual(['updated 3:1', 'updated 4:1']);
  });

  it('does not see deletes; a full run (baseline) confirms them by point lookup', async () => {
    const h = await rowversionHarness();
    await sync(h, 'patients');
    h.server.delete('DDB_PAT_BASE', [5, 1]);
    expect(counts(await sync(h, 'patients'))).toMatchObject({ read: 0, deleted: 0 });
    const mark = h.server.log.length;
    expect(counts(await sync(h, 'patients', { full: true }))).toEqual({
      kind: 'backload',
      read: 4,
      created: 0,
      updated: 0,
      deleted: 1,
      unchanged: 4,
    });
    expect(h.server.kindsSince(mark)).toEqual(['rowversion-upper', 'table-page', 'table-page', 'lookup']);
  });
});

describe('a change of mode triggers a baseline (FAKE SQL Server; simulation)', () => {
  it('CT → rowversion: discover records the new mode, the next run emits only rows that differ', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { changeTracking: true, extraColumns: [ROWVER] }));
    h.server.insert('DDB_PAT_BASE', ...[1, 2, 3, 4, 5].map((id) => patient(id)));
    // CT is preferred over the rowversion column.
    expect((await discover(h, 'patients')).state.changeStrategy).toMatchObject({ mode: 'change-tracking' });
    await sync(h, 'patients');
    await sync(h, 'patients');

    h.server.disableChangeTracking('DDB_PAT_BASE');
    h.server.update('DDB_PAT_BASE', [1, 1], { LASTNAME: 'Changed' });
    h.server.update('DDB_PAT_BASE', [2, 1], {});
    h.server.delete('DDB_PAT_BASE', [3, 1]);

    const update = await discover(h, 'patients');
    expect(update).toMatchObject({ changed: true, baseline: true });
    expect(update.state.changeStrategy).toMatchObject({ mode: 'rowversion', column: 'RowVer' });
    expect(update.state.baselineRequired?.reason).toBe(
      'change detection changed from change-tracking to rowversion (RowVer)',
    );
    expect(update.state.changeTrackingVersion).toBeUndefined();

    const before = await lastSequence(h);
    const mark = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toEqual({
      kind: 'backload',
      read: 4,
      created: 0,
      updated: 1,
      deleted: 1,
      unchanged: 3,
    });
    expect(h.server.kindsSince(mark)).toEqual(['rowversion-upper', 'table-page', 'table-page', 'lookup']);
    expect(await eventsAfter(h, before)).toEqual(['deleted 3:1', 'updated 1:1']);
    const after = await state(h, 'patients');
    expect(after.baselineRequired).toBeUndefined();
    expect(after.rowversionWatermark).toMatch(/^0x[0-9A-F]{16}$/);

    const poll = h.server.log.length;
    expect(counts(await sync(h, 'patients'))).toMatchObject({
      kind: 'poll',
      read: 0,
      created: 0,
      updated: 0,
      deleted: 0,
    });
    expect(h.server.kindsSince(poll)).toEqual(['rowversion-upper', 'rowversion-page']);
  });

  it('rowversion → change tracking: the baseline stores the CT version read before the scan', async () => {
    const h = await harness({ changeTrackingDatabase: true });
    h.server.createTable(fakeTableFor(patientTable, { extraColumns: [ROWVER] }));
    h.server.insert('DDB_PAT_BASE', ...[1, 2, 3].map((id) => patient(id)));
    await discover(h, 'patients');
    await sync(h, 'patients');

    h.server.enableChangeTracking('DDB_PAT_BASE');
    h.server.update('DDB_PAT_BASE', [2, 1], { LASTNAME: 'Changed' });
    expect(await discover(h, 'patients')).toMatchObject({ changed: true, baseline: true });
    // A write that lands while the baseline scans: read by the scan, and by the next CT poll (no event twice).
    h.server.afterNext('ct-versions', () =>
      h.server.update('DDB_PAT_BASE', [3, 1], { LASTNAME: 'DuringScan' }),
    );
    const cur = String(h.server.changeTrackingCurrentVersion);
    const before = await lastSequence(h);
    expect(counts(await sync(h, 'patients'))).toMatchObject({
      kind: 'backload',
      updated: 2,
      created: 0,
      deleted: 0,
    });
    expect((await state(h, 'patients')).changeTrackingVersion).toBe(cur);
    expect(counts(await sync(h, 'patients'))).toMatchObject({
      kind: 'poll',
      read: 1,
      updated: 0,
      unchanged: 1,
    });
    expect(await eventsAfter(h, before)).toEqual(['updated 2:1', 'updated 3:1']);
  });
});
