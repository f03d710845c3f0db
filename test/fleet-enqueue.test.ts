import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  createFleetWorker,
  fleetJobId,
  FLEET_QUEUES,
  silentLogger,
  type FleetWorker,
} from '@tendril/scheduler';
import { openFleetStore, openPostgresStore, type FleetStore, type Store } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../packages/store/src/postgres-test-database.test-helper.js';
import { REPO_ROOT } from './support/paths.js';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The fleet's "one poll per connection" rule on real PostgreSQL through pg-boss's public API: a
 * connection whose previous poll job is still outstanding gets no second one (the tick is skipped
 * and counted), and once that job finished, the next tick enqueues again.
 */
describe('fleet enqueue: one outstanding poll per connection', () => {
  let pg: PostgresTestDatabase;
  let store: Store;
  let fleetStore: FleetStore;
  let worker: FleetWorker | undefined;

  beforeAll(async () => {
    pg = await createPostgresTestDatabase();
    const schema = pg.nextSchema();
    store = openPostgresStore(pg.url, { schema });
    await store.migrate();
    fleetStore = openFleetStore(pg.url, { schema });
  });

  afterAll(async () => {
    await worker?.stop({ graceMs: 1000 });
    await fleetStore?.close();
    await store?.close();
    await pg?.drop();
  });

  it('skips a tick while the previous job runs, and enqueues again once it finished', async () => {
    await fleetStore.upsertConnection('practice-1', { id: 'practice-1', connector: 'open-dental' });
    let release: () => void = () => undefined;
    let polls = 0;
    const jobIds: string[] = [];
    worker = createFleetWorker<string>({
      url: pg.url,
      fleetStore,
      workerId: 'test-worker',
      bossSchema: `boss_${pg.nextSchema()}`,
      concurrency: 1,
      tickSeconds: 3600,
      leaseSeconds: 60,
      maintenanceSeconds: 60,
      pollingIntervalSeconds: 0.2,
      logger: silentLogger,
      resolve: async (id) => id,
      runPoll: async () => {
        polls += 1;
        await new Promise<void>((done) => (release = done));
        return { events: 0, failedStreams: 0 };
      },
      runNightly: async () => ({ events: 0, failedStreams: 0 }),
    });
    await fleetStore.requestPoll(['practice-1']);
    await worker.start(); // its first tick enqueues the poll; the job loop takes it
    await until('the first poll to run', async () => (polls === 1 ? true : undefined));
    const runs = await fleetStore.listRuns({ connectionId: 'practice-1' });
    jobIds.push(runs[0]!.jobId!);
    expect(jobIds[0]).toBe(fleetJobId(FLEET_QUEUES.poll, 'practice-1'));

    // Due again while the job is active: skipped, not queued behind it.
    await fleetStore.requestPoll(['practice-1']);
    expect(await worker.tick()).toEqual({ polls: 0, nightlies: 0, skipped: 1 });
    expect((await fleetStore.getConnection('practice-1'))?.skippedTicks).toBe(1);

    release();
    await until('the first run to finish', async () =>
      (await fleetStore.listRuns({ connectionId: 'practice-1' }))[0]?.status === 'succeeded'
        ? true
        : undefined,
    );
    // pg-boss marks the job completed just after the run record; the next tick finds it finished.
    const next = await until('a tick that enqueues', async () => {
      await fleetStore.requestPoll(['practice-1']);
      const result = await worker!.tick();
      return result.polls === 1 ? result : undefined;
    });
    expect(next).toEqual({ polls: 1, nightlies: 0, skipped: 0 });
    await until('the second poll to run', async () => (polls === 2 ? true : undefined));
    release();
  });

  it('uses pg-boss through its public API only: no query against its tables', () => {
    const dir = resolve(REPO_ROOT, 'scheduler/src');
    for (const file of readdirSync(dir).filter((f) => /^pgboss-.*\.ts$/.test(f))) {
      const text = readFileSync(resolve(dir, file), 'utf8');
      // No SQL of our own in these files: every pg-boss table is reached through pg-boss's methods.
      expect(text, file).not.toMatch(/[`'"]\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s/i);
      expect(text, file).not.toMatch(/\.(job|archive)\b\s/);
    }
  });
});
