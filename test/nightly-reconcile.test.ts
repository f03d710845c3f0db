import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDental } from '@tendril/connector-open-dental';
import { ConnectionConfig } from '@tendril/core';
import { startLoopbackReceiver, type LoopbackReceiver } from '@tendril/delivery';
import { reconcileStream, rehashSliceOf, silentLogger, syncStream } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentContainer, createRootLogger, loadConfigFile } from '@tendril/agent';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

const PAT_STATUS_DELETED = 4;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

async function seed(db: TestDatabase, patients: number, seedName: string): Promise<void> {
  await loadOpenDentalSchema(db);
  const seeded = await runCli([
    'seed',
    '--connector',
    'open-dental',
    '--url',
    db.url,
    '--patients',
    String(patients),
    '--seed',
    seedName,
  ]);
  expect(seeded.code, seeded.stderr).toBe(0);
  // Stamps have whole-second precision: let the seeded second pass before the first poll.
  await sleep(1100);
}

async function query<T>(db: TestDatabase, sql: string, values: unknown[] = []): Promise<T[]> {
  const connection = await db.connect();
  try {
    const [rows] = (await connection.query(sql, values)) as unknown as [T[]];
    return rows;
  } finally {
    await connection.end();
  }
}

/** Scenario 8 (docs/sync-semantics.md, "Conformance scenarios") through the engine: the rolling re-hash on a real Open Dental schema. */
describe('nightly reconciliation: keys-only scan with rolling re-hash', () => {
  let db: TestDatabase;
  let sql: SqlClient;
  let store: Store;
  let connection: ConnectionConfig;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_nit_rehash');
    await seed(db, 150, 'rehash');
    sql = createSqlClient({ url: db.url });
    store = openSqliteStore(':memory:');
    await store.migrate();
    connection = ConnectionConfig.parse({
      id: 'rehash-dental',
      connector: 'open-dental',
      timezone: 'America/New_York',
      database: { url: db.url },
      streams: ['patients'],
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 40, rehashSlices: 7 },
    });
  });

  afterAll(async () => {
    await sql?.close();
    await store?.close();
    await db?.drop();
  });

  it('catches updates that did not touch the cursor column within rehashSlices nights, reading one slice per night', async () => {
    const deps = { sql, store, logger: silentLogger };
    const input = { connection, connector: openDental, stream: 'patients' };
    // Stamps far behind the poll's overlap window, so a re-poll cannot re-read these rows by chance.
    await query(db, "UPDATE patient SET DateTStamp = '2020-01-01 00:00:00'");
    await syncStream(deps, input);
    const keys = (await query<{ PatNum: string }>(db, 'SELECT PatNum FROM patient ORDER BY PatNum')).map(
      (r) => String(r.PatNum),
    );
    const live = (
      await query<{ PatNum: string }>(
        db,
        'SELECT PatNum FROM patient WHERE PatStatus <> ? ORDER BY PatNum LIMIT 21',
        [PAT_STATUS_DELETED],
      )
    ).map((r) => String(r.PatNum));
    expect(live).toHaveLength(21);
    // Edits that keep the stamp (an EHR that writes without moving DateTStamp).
    await query(
      db,
      "UPDATE patient SET LName = CONCAT(LName, 'x'), DateTStamp = DateTStamp WHERE PatNum IN (?)",
      [live],
    );
    const poll = await syncStream(deps, input);
    expect(poll.updated).toBe(0); // the cursor cannot see them

    // Rows soft-deleted before they were first read have no shadow row (nothing was emitted for
    // them): the key scan cannot tell them from new keys, so they are read in full every night.
    const shadow = await store.getShadow(connection.id, 'Patient', keys);
    const unknown = keys.filter((k) => !shadow.has(k));
    const softDeleted = (
      await query<{ PatNum: string }>(db, 'SELECT PatNum FROM patient WHERE PatStatus = ? ORDER BY PatNum', [
        PAT_STATUS_DELETED,
      ])
    ).map((r) => String(r.PatNum));
    expect(unknown).toEqual(softDeleted);

    const caught = new Map<number, string[]>();
    for (let day = 700; day < 707; day++) {
      const slice = day % 7;
      const before = (await store.listEvents({ connectionId: connection.id, limit: 100_000 })).length;
      const result = await reconcileStream(deps, { ...input, rehashDay: day });
      const inSlice = keys.filter((k) => shadow.has(k) && rehashSliceOf(k, 7) === slice);
      expect(result).toMatchObject({
        kind: 'reconcile',
        keysScanned: keys.length,
        rehashSlice: { slice, slices: 7 },
        read: inSlice.length + unknown.length, // one slice in full (+ unknown keys), every other key by key only
        created: 0,
        deleted: 0,
        guardTripped: false,
      });
      const events = (await store.listEvents({ connectionId: connection.id, limit: 100_000 })).slice(before);
      expect(events.every((e) => e.kind === 'updated')).toBe(true);
      caught.set(slice, events.map((e) => e.sourceId).sort());
      expect(caught.get(slice)).toEqual(live.filter((k) => rehashSliceOf(k, 7) === slice).sort());
      expect(result.updated).toBe(caught.get(slice)!.length);
    }
    // Every edit caught exactly once over seven nights.
    expect([...caught.values()].flat().sort()).toEqual([...live].sort());
    // The slices really split the work (no night re-read everything).
    expect(
      Math.max(...[...caught.keys()].map((s) => keys.filter((k) => rehashSliceOf(k, 7) === s).length)),
    ).toBeLessThan(keys.length);

    // New keys (an insert a cursor missed: its stamp is older than the watermark) are read on any night.
    const [{ next }] = await query<{ next: string }>(db, 'SELECT MAX(PatNum) + 1 AS next FROM patient');
    await query(
      db,
      "INSERT INTO patient (PatNum, LName, FName, Birthdate, PatStatus, DateTStamp) VALUES (?, 'Late', 'Row', '1980-01-01', 0, '2001-01-01 00:00:00')",
      [next],
    );
    expect((await syncStream(deps, input)).created).toBe(0);
    const night = 800 + ((rehashSliceOf(String(next), 7) + 1) % 7); // a night whose slice is not the new row's
    const found = await reconcileStream(deps, { ...input, rehashDay: night });
    expect(found.created).toBe(1);
    const [created] = await store.listEvents({ connectionId: connection.id, limit: 1, newestFirst: true });
    expect(created).toMatchObject({ kind: 'created', sourceId: String(next) });
    const poll2 = await syncStream(deps, input);
    expect(poll2.created + poll2.updated).toBe(0);
  });
});

describe('tendril reconcile (built CLI, real MariaDB)', () => {
  let db: TestDatabase;
  let dir: string;
  let receiver: LoopbackReceiver;
  let configFile: string;
  let storeFile: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_nit_reconcile');
    await seed(db, 100, 'reconcile');
    dir = mkdtempSync(join(tmpdir(), 'tendril_nit_reconcile-'));
    receiver = await startLoopbackReceiver(() => ({ status: 204 }));
    configFile = join(dir, 'tendril.yaml');
    storeFile = join(dir, 'tendril.db');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: storeFile },
        logLevel: 'silent',
        connections: [
          {
            id: 'nit-dental',
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { url: db.url },
            streams: ['patients'],
            sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 25 },
            nightlyScripts: [
              {
                name: 'recall-list',
                element: 'recall_list',
                sql: 'SELECT PatNum, LName, Birthdate FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 6',
              },
            ],
          },
        ],
        subscriptions: [
          // Only the script's rows: the patient events of the backload are not routed here.
          {
            id: 'healthjump',
            url: receiver.url,
            allowInsecure: true,
            format: 'flat',
            eventTypes: ['recall_list.*'],
            secrets: [SECRET],
          },
        ],
      }),
    );
    const backload = await runCli(['sync', '--once', '--json', '--config', configFile]);
    expect(backload.code, backload.stderr).toBe(0);
  });

  afterAll(async () => {
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  const events = async () => {
    const store = openSqliteStore(storeFile);
    try {
      return await store.listEvents({ connectionId: 'nit-dental', limit: 100_000 });
    } finally {
      await store.close();
    }
  };

  it("delivers a nightly script's rows to a real receiver in flat format, once per row and day", async () => {
    // A value that needs escaping (rule 2) in one of the rows.
    const [first] = await query<{ PatNum: string }>(
      db,
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 1',
    );
    await query(db, "UPDATE patient SET LName = 'Pipe|Back\\\\slash' WHERE PatNum = ?", [first!.PatNum]);
    const expected = await query<{ PatNum: string; LName: string; Birthdate: string }>(
      db,
      'SELECT PatNum, LName, Birthdate FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 6',
    );
    expect(expected[0]!.LName).toBe('Pipe|Back\\slash');

    const ran = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--scripts',
      '--json',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    const report = JSON.parse(ran.stdout) as {
      scripts: { script: string; element: string; rows: number; inserted: number; existing: number }[];
    };
    expect(report.scripts).toMatchObject([
      { script: 'recall-list', element: 'recall_list', rows: 6, inserted: 6, existing: 0 },
    ]);

    const sent = await runCli(['deliver', '--once', '--json', '--config', configFile]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ attempted: 6, delivered: 6, pending: 0 });
    expect(receiver.requests).toHaveLength(6);
    const webhook = new Webhook(SECRET.slice('whsec_'.length));
    const bodies = receiver.requests.map((request) => {
      const body = request.body.toString('utf8');
      webhook.verify(body, request.headers as Record<string, string>); // throws when the signature is wrong
      return JSON.parse(body) as { element: string; data: string };
    });
    const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
    expect(bodies.map((b) => b.element)).toEqual(Array(6).fill('recall_list'));
    expect(bodies.map((b) => b.data).sort()).toEqual(
      expected.map((r) => `PatNum|LName|Birthdate\n${r.PatNum}|${escape(r.LName)}|${r.Birthdate}`).sort(),
    );
    const stored = (await events()).filter((e) => e.envelope.resourceType === 'CustomElement');
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set(stored.map((e) => e.envelope.id)),
    );

    // The same night again (a catch-up after a restart): nothing new is queued or sent.
    const again = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--scripts',
      '--json',
    ]);
    expect(JSON.parse(again.stdout).scripts).toMatchObject([{ rows: 6, inserted: 0, existing: 6 }]);
    const none = await runCli(['deliver', '--once', '--json', '--config', configFile]);
    expect(JSON.parse(none.stdout)).toMatchObject({ attempted: 0 });
    expect(receiver.requests).toHaveLength(6);
  });

  it('holds back a mass delete (guard), then emits exactly those deletes with --approve', async () => {
    const gone = (
      await query<{ PatNum: string }>(
        db,
        'SELECT PatNum FROM patient WHERE PatStatus <> ? ORDER BY PatNum DESC LIMIT 60',
        [PAT_STATUS_DELETED],
      )
    ).map((r) => String(r.PatNum));
    expect(gone).toHaveLength(60);
    await query(db, 'DELETE FROM patient WHERE PatNum IN (?)', [gone]);
    const deletedEvents = async () =>
      (await events()).filter((e) => e.kind === 'deleted' && e.envelope.resourceType === 'Patient');
    const before = (await deletedEvents()).length;

    const held = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--stream',
      'patients',
      '--json',
    ]);
    expect(held.code, held.stderr).toBe(15);
    expect(JSON.parse(held.stdout).stream).toMatchObject({
      stream: 'patients',
      guardTripped: true,
      approved: false,
      deleted: 0,
    });
    expect((await deletedEvents()).length).toBe(before);
    const text = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--stream',
      'patients',
    ]);
    expect(text.code).toBe(15);
    expect(text.stdout).toContain('GUARD TRIPPED');
    expect(text.stdout).toContain('--approve');

    const approved = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--stream',
      'patients',
      '--approve',
      '--json',
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout).stream).toMatchObject({
      guardTripped: false,
      approved: true,
      deleted: 60,
      created: 0,
    });
    const deleted = (await deletedEvents()).slice(before);
    expect(deleted.map((e) => e.sourceId).sort()).toEqual([...gone].sort());

    // Released once: the next ordinary reconciliation has nothing left to delete.
    const after = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--stream',
      'patients',
      '--json',
    ]);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).stream).toMatchObject({
      guardTripped: false,
      deleted: 0,
      created: 0,
      updated: 0,
    });
  });

  it("the agent's nightly job (tendril run) delivers the script's rows instead of reporting them as not available", async () => {
    const [first] = await query<{ PatNum: string }>(
      db,
      'SELECT PatNum FROM patient WHERE PatStatus = 0 ORDER BY PatNum LIMIT 1',
    );
    await query(db, "UPDATE patient SET LName = 'Changed Tonight' WHERE PatNum = ?", [first!.PatNum]);
    const before = (await events()).filter((e) => e.envelope.resourceType === 'CustomElement').length;
    const config = await loadConfigFile(configFile);
    const container = await createAgentContainer(config, createRootLogger({ level: 'silent' }));
    try {
      const runtime = container.cradle.agentRuntime;
      expect(await runtime.scheduler.nightlyNow('nit-dental')).toBe('ran');
      await runtime.scheduler.idle();
      const [connection] = runtime.scheduler.snapshot().connections;
      const script = connection!.scripts.find((s) => s.name === 'recall-list')!;
      expect(script.lastError).toBeUndefined();
      expect(script.lastRunAt).toEqual(expect.any(String));
      await runtime.stop({ graceMs: 0 });
    } finally {
      await container.dispose();
    }
    const custom = (await events()).filter((e) => e.envelope.resourceType === 'CustomElement');
    // Only the changed row is new today; the other five were queued by the earlier run.
    expect(custom.length - before).toBe(1);
    const newest = custom.at(-1)!;
    expect((newest.envelope.data as { values: Record<string, unknown> }).values).toMatchObject({
      PatNum: String(first!.PatNum),
      LName: 'Changed Tonight',
    });
  });

  it('refuses a command line without work, and --approve without a stream', async () => {
    const none = await runCli(['reconcile', '--config', configFile, '--connection', 'nit-dental']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--stream <name>, --scripts, or both');
    const approve = await runCli([
      'reconcile',
      '--config',
      configFile,
      '--connection',
      'nit-dental',
      '--scripts',
      '--approve',
    ]);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toContain('add --stream <name>');
  });
});
