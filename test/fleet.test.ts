import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoopbackReceiver, type LoopbackReceiver } from '@tendril/delivery';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../packages/store/src/postgres-test-database.test-helper.js';
import { runCli } from './support/cli.js';
import {
  createFleetDatabases,
  dropFleetDatabases,
  startWorker,
  type FleetDatabase,
  type WorkerProcess,
} from './support/fleet.js';
import { MARIADB } from './support/mariadb.js';

/*
 * Issue 7, part B: several `tendril run --worker` processes of the built CLI share a fleet of real
 * MariaDB practice databases through one real PostgreSQL store and pg-boss, while workers are
 * killed (SIGKILL) and started at random, connections are onboarded, changed and removed while
 * they run. At the end every event in the outbox reached the receiver (deduplicated by
 * webhook-id), in sequence order per resource, no connection was ever run by two workers at once,
 * and every job of a killed worker was finished by another.
 */

const CONNECTIONS = Number(process.env['TENDRIL_FLEET_CONNECTIONS'] ?? 200);
const LATE = Math.max(1, Math.round(CONNECTIONS / 20)); // onboarded while the workers run
const WORKERS = 3;
const PATIENTS = 3;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ENV = { FLT_DB_PASSWORD: '' };

interface RunRow {
  connection_id: string;
  worker_id: string;
  started_at: Date;
  finished_at: Date | null;
  status: string;
  kind: string;
}

function connectionYaml(db: FleetDatabase, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: db.id,
    connector: 'open-dental',
    timezone: 'America/New_York',
    database: { url: db.storedUrl },
    sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 50 },
    // Ticks are rare here: the test asks for polls with `tendril connections poll`.
    schedule: { poll: '*/30 * * * *' },
    ...extra,
  };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

describe('fleet: several workers, pg-boss, random kills', () => {
  let pg: PostgresTestDatabase;
  let databases: FleetDatabase[] = [];
  let receiver: LoopbackReceiver;
  let dir: string;
  let configFile: string;
  const workers = new Map<number, WorkerProcess>();
  const killedAt = new Map<string, number>(); // worker id → when SIGKILL was sent
  const editedPatNums = new Map<string, string[]>(); // connection id → patients edited
  const workerIdOf = (w: WorkerProcess) => `${hostname()}/${w.pid}`;

  beforeAll(async () => {
    pg = await createPostgresTestDatabase();
    databases = await createFleetDatabases('tendril_flt', CONNECTIONS, {
      patients: PATIENTS,
      stamp: new Date(Date.now() - 10_000),
    });
    receiver = await startLoopbackReceiver(() => ({ status: 200 }));
    dir = mkdtempSync(join(tmpdir(), 'tendril-flt-'));
    configFile = join(dir, 'fleet.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { postgres: pg.url },
        logLevel: 'warn',
        fleet: { concurrency: 3, reloadSeconds: 2, tickSeconds: 1, leaseSeconds: 15, maintenanceSeconds: 2 },
        subscriptions: [
          { id: 'flt-sub', url: receiver.url, allowInsecure: true, secrets: [SECRET], timeoutSeconds: 5 },
        ],
        delivery: { leaseSeconds: 10, concurrency: 8 },
      }),
    );
  }, 240_000);

  afterAll(async () => {
    for (const w of workers.values()) w.child.kill('SIGKILL');
    await Promise.all([...workers.values()].map((w) => w.exited));
    await receiver?.close();
    await dropFleetDatabases(databases.map((d) => d.name));
    await pg?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('refuses a connection with a plain-text password, naming the path and never the value', async () => {
    const file = join(dir, 'plain.yaml');
    writeFileSync(
      file,
      JSON.stringify([
        {
          ...connectionYaml(databases[0]!),
          database: { url: 'mysql://root:hunter2secret@127.0.0.1:3306/x' },
        },
      ]),
    );
    const result = await runCli(['connections', 'add', '--config', configFile, '--from', file], { env: ENV });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('connection practice-000.database.url');
    expect(result.stderr).toContain('plain text');
    expect(result.stderr + result.stdout).not.toContain('hunter2secret');
  });

  it('delivers every change once per event id, in order per resource, while workers die and start', async () => {
    const early = databases.slice(0, CONNECTIONS - LATE);
    const late = databases.slice(CONNECTIONS - LATE);
    const firstFile = join(dir, 'connections.yaml');
    writeFileSync(firstFile, JSON.stringify({ connections: early.map((d) => connectionYaml(d)) }));
    const added = await runCli(
      ['connections', 'add', '--config', configFile, '--from', firstFile, '--json'],
      { env: ENV },
    );
    expect(added.code, added.stderr).toBe(0);
    expect((JSON.parse(added.stdout) as { connections: unknown[] }).connections).toHaveLength(early.length);

    const start = () => {
      const w = startWorker(configFile, ENV);
      workers.set(w.pid, w);
      return w;
    };
    for (let i = 0; i < WORKERS; i++) start();

    // Chaos: every 3–6 s, SIGKILL a worker that is in the middle of a job (by the run log), then start a new one.
    let chaos = true;
    let kills = 0;
    let busyKills = 0;
    const chaosLoop = (async () => {
      while (chaos) {
        await sleep(3000 + Math.random() * 3000);
        if (!chaos) break;
        const busy = await pg.query<{ worker_id: string }>(
          "SELECT DISTINCT worker_id FROM fleet_runs WHERE status = 'running'",
        );
        const alive = [...workers.values()].filter(
          (w) => w.child.exitCode === null && w.child.signalCode === null,
        );
        const busyAlive = alive.filter((w) => busy.some((b) => b.worker_id === workerIdOf(w)));
        const victim = (busyAlive.length > 0 ? busyAlive : alive)[
          Math.floor(Math.random() * (busyAlive.length || alive.length))
        ];
        if (!victim) continue;
        if (busyAlive.includes(victim)) busyKills++;
        killedAt.set(workerIdOf(victim), Date.now());
        victim.child.kill('SIGKILL');
        kills++;
        await sleep(Math.random() * 1000);
        start();
      }
    })();

    try {
      // Onboarding while the fleet runs: no restart.
      await sleep(4000);
      const lateFile = join(dir, 'late.yaml');
      writeFileSync(lateFile, JSON.stringify(late.map((d) => connectionYaml(d))));
      const lateAdd = await runCli(['connections', 'add', '--config', configFile, '--from', lateFile], {
        env: ENV,
      });
      expect(lateAdd.code, lateAdd.stderr).toBe(0);

      // Backload: every connection polled successfully once.
      await until('every connection backloaded', 180_000, async () => {
        const [row] = await pg.query<{ n: string }>(
          "SELECT COUNT(DISTINCT connection_id) AS n FROM fleet_runs WHERE status = 'succeeded'",
        );
        return Number(row!.n) === CONNECTIONS;
      });

      // A change (page size) and a removal while running; then edits in half of the practices.
      const changed = databases[1]!;
      const removed = databases[3]!;
      const changeFile = join(dir, 'change.yaml');
      writeFileSync(
        changeFile,
        JSON.stringify(
          connectionYaml(changed, { sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 1 } }),
        ),
      );
      const change = await runCli(['connections', 'add', '--config', configFile, '--from', changeFile], {
        env: ENV,
      });
      expect(change.code, change.stderr).toBe(0);
      expect(change.stdout).toContain(`updated ${changed.id} (version 2)`);
      const removal = await runCli(['connections', 'remove', '--config', configFile, removed.id], {
        env: ENV,
      });
      expect(removal.code, removal.stderr).toBe(0);
      await sleep(3000); // a job of the removed connection that had already started finishes

      // Edits a front desk would make: a new last name for up to two live patients (a change the
      // mapped record always shows, unlike a phone number that may equal another of its numbers).
      const edited = databases.filter((_, i) => i % 2 === 1);
      for (const db of edited) {
        const connection = await mysql.createConnection({ ...MARIADB, database: db.name });
        try {
          const [rows] = (await connection.query(
            'SELECT PatNum FROM patient WHERE PatStatus <> 4 ORDER BY PatNum LIMIT 2',
          )) as unknown as [{ PatNum: number }[]];
          const patNums = rows.map((r) => String(r.PatNum));
          expect(patNums.length, db.id).toBeGreaterThan(0);
          for (const patNum of patNums)
            await connection.query('UPDATE patient SET LName = ? WHERE PatNum = ?', [
              `Edited-${db.id}-${patNum}`,
              patNum,
            ]);
          editedPatNums.set(db.id, patNums);
        } finally {
          await connection.end();
        }
      }
      await sleep(1200); // stamps have 1 s precision; the poll's upper bound excludes the current second
      const [{ now: editedAt }] = (await pg.query<{ now: Date }>('SELECT now() AS now')) as [{ now: Date }];
      const poll = await runCli(['connections', 'poll', '--config', configFile, '--all'], { env: ENV });
      expect(poll.code, poll.stderr).toBe(0);
      expect(poll.stdout).toContain(`${CONNECTIONS - 1} connections due`);

      await until('every remaining connection polled after the edits', 180_000, async () => {
        const [row] = await pg.query<{ n: string }>(
          "SELECT COUNT(DISTINCT connection_id) AS n FROM fleet_runs WHERE kind = 'poll' AND status = 'succeeded' AND started_at > $1",
          [editedAt],
        );
        return Number(row!.n) === CONNECTIONS - 1;
      });
      // A poll that resumes one cut short by a kill keeps that poll's window (sync.md), which may end
      // before the edits: the edits are then read by the next poll. So every connection must have
      // two polls after the edits; the second has a window that covers them.
      const again = await runCli(['connections', 'poll', '--config', configFile, '--all'], { env: ENV });
      expect(again.code, again.stderr).toBe(0);
      await until('a second poll of every remaining connection after the edits', 180_000, async () => {
        const [row] = await pg.query<{ n: string }>(
          `SELECT COUNT(*) AS n FROM (SELECT connection_id FROM fleet_runs WHERE kind = 'poll' AND status = 'succeeded' AND started_at > $1
           GROUP BY connection_id HAVING COUNT(*) >= 2) AS polled`,
          [editedAt],
        );
        return Number(row!.n) === CONNECTIONS - 1;
      });

      // A small or fast fleet may finish before the chaos did its part: keep polls coming until
      // at least three workers died, one of them in the middle of a job.
      await until('three kills, one mid-job', 180_000, async () => {
        if (kills >= 3 && busyKills >= 1) return true;
        await runCli(['connections', 'poll', '--config', configFile, '--all'], { env: ENV });
        return false;
      });
    } finally {
      chaos = false;
      await chaosLoop;
    }
    if (![...workers.values()].some((w) => w.child.exitCode === null && w.child.signalCode === null)) start();

    // A job cut by a kill is handed to another worker once its lease expires.
    await until('every interrupted job finished by another worker', 120_000, async () => {
      const [row] = await pg.query<{ n: string }>(
        `SELECT COUNT(*) AS n FROM fleet_runs r WHERE r.status = 'running' AND r.connection_id <> $1 AND NOT EXISTS (
           SELECT 1 FROM fleet_runs s WHERE s.connection_id = r.connection_id AND s.status = 'succeeded' AND s.started_at > r.started_at)`,
        [databases[3]!.id],
      );
      return Number(row!.n) === 0;
    });

    // Every event of the outbox delivered (the dispatchers of all workers share the deliveries).
    const outbox = await pg.query<{
      id: string;
      connection_id: string;
      sequence: string;
      resource_type: string;
      resource_id: string;
      source_id: string;
      type: string;
    }>('SELECT id, connection_id, sequence, resource_type, resource_id, source_id, type FROM outbox');
    const webhookIds = () => new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
    await until('every event delivered', 180_000, async () => {
      const [pending] = await pg.query<{ n: string }>(
        "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'delivered'",
      );
      return Number(pending!.n) === 0 && webhookIds().size >= outbox.length;
    });

    for (const w of workers.values())
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all([...workers.values()].map((w) => w.exited));

    // 1. The outbox holds exactly the source's changes: each live patient created once, each edit of
    //    a live patient once, nothing for the practice removed before its edits. (PatStatus 4 is
    //    Open Dental's "deleted": such rows are deletes, never created or updated events.)
    for (const db of databases) {
      const connection = await mysql.createConnection({ ...MARIADB, database: db.name });
      const [rows] = (await connection.query('SELECT PatNum, PatStatus FROM patient')) as unknown as [
        { PatNum: number; PatStatus: number }[],
      ];
      await connection.end();
      const live = new Set(rows.filter((r) => Number(r.PatStatus) !== 4).map((r) => String(r.PatNum)));
      const sourceIds = (type: string) =>
        outbox
          .filter((e) => e.connection_id === db.id && e.type === type)
          .map((e) => e.source_id)
          .sort();
      expect(sourceIds('patient.created'), db.id).toEqual([...live].sort());
      const expectedUpdates =
        db === databases[3] ? [] : (editedPatNums.get(db.id) ?? []).filter((n) => live.has(n));
      if (JSON.stringify(sourceIds('patient.updated')) !== JSON.stringify([...expectedUpdates].sort())) {
        // Diagnostics for a failure: the source rows, the stream runs and the fleet runs of this connection.
        const c2 = await mysql.createConnection({ ...MARIADB, database: db.name, dateStrings: true });
        const [source] = await c2.query(
          'SELECT PatNum, PatStatus, HmPhone, WkPhone, WirelessPhone, DateTStamp FROM patient',
        );
        await c2.end();
        console.log(
          JSON.stringify(
            {
              connection: db.id,
              source,
              events: outbox.filter((e) => e.connection_id === db.id && e.resource_type === 'Patient'),
              streamRuns: await pg.query(
                "SELECT stream, kind, status, started_at, finished_at, counts_json FROM runs WHERE connection_id = $1 AND stream = 'patients' ORDER BY started_at",
                [db.id],
              ),
              state: await pg.query(
                "SELECT state_json FROM stream_state WHERE connection_id = $1 AND stream = 'patients'",
                [db.id],
              ),
              fleetRuns: await pg.query(
                'SELECT * FROM fleet_runs WHERE connection_id = $1 ORDER BY started_at',
                [db.id],
              ),
              killedAt: [...killedAt.entries()],
            },
            null,
            1,
          ),
        );
      }
      expect(sourceIds('patient.updated'), db.id).toEqual(expectedUpdates.sort());
    }

    // 2. Delivered: the receiver's webhook-ids (deduplicated) are exactly the outbox ids.
    const received = webhookIds();
    expect(received.size).toBe(outbox.length);
    for (const e of outbox) expect(received.has(e.id), e.id).toBe(true);

    // 3. In order per resource: first arrivals follow the outbox sequence.
    const byId = new Map(outbox.map((e) => [e.id, e]));
    const lastSeq = new Map<string, number>();
    const firstSeen = new Set<string>();
    for (const request of receiver.requests) {
      const id = String(request.headers['webhook-id']);
      if (firstSeen.has(id)) continue;
      firstSeen.add(id);
      const event = byId.get(id)!;
      const key = `${event.connection_id}\u0000${event.resource_type}\u0000${event.resource_id}`;
      const seq = Number(event.sequence);
      expect(seq, `order of ${key}`).toBeGreaterThan(lastSeq.get(key) ?? -1);
      lastSeq.set(key, seq);
    }

    // 4. No connection ever ran in two workers at once; runs cut by a kill end at the kill.
    const runs = await pg.query<RunRow>(
      'SELECT connection_id, worker_id, started_at, finished_at, status, kind FROM fleet_runs ORDER BY connection_id, started_at, id',
    );
    const interrupted = runs.filter((r) => r.status === 'running');
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    for (const run of interrupted)
      expect(killedAt.has(run.worker_id), `unfinished run of ${run.worker_id} that was not killed`).toBe(
        true,
      );
    const endOf = (r: RunRow) => (r.finished_at ? r.finished_at.getTime() : killedAt.get(r.worker_id)!);
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!;
      const current = runs[i]!;
      if (previous.connection_id !== current.connection_id) continue;
      expect(
        current.started_at.getTime(),
        `${current.connection_id}: run in ${current.worker_id} overlaps ${previous.worker_id}`,
      ).toBeGreaterThanOrEqual(endOf(previous));
    }
    // 5. Every job a kill interrupted was finished later by another worker.
    for (const run of interrupted.filter((r) => r.connection_id !== databases[3]!.id)) {
      const after = runs.find(
        (r) =>
          r.connection_id === run.connection_id && r.started_at > run.started_at && r.status === 'succeeded',
      );
      expect(after, `${run.connection_id} after the kill of ${run.worker_id}`).toBeDefined();
      expect(after!.worker_id).not.toBe(run.worker_id);
    }
    const duplicates = receiver.requests.length - received.size;
    console.log(
      `fleet: ${CONNECTIONS} connections, ${outbox.length} events, ${receiver.requests.length} requests (${duplicates} redelivered), ${kills} kills, ${interrupted.length} runs interrupted, ${runs.length} runs`,
    );
  }, 600_000);
});
