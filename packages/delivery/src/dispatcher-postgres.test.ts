import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore, type Store } from '@tendril/store';
// The store package's throw-away PostgreSQL database (one per test file, dropped after).
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../store/src/postgres-test-database.test-helper.js';
import { createDispatcher, type Dispatcher } from './dispatcher.js';
import {
  commit,
  fakeClock,
  memoryLogger,
  patientChange,
  subscriptionsFor,
  T0,
} from './dispatcher.test-support.js';
import { startLoopbackReceiver, type LoopbackReceiver } from './loopback-receiver.js';
import { deliveryRoutesFromConfig } from './subscriptions.js';

/**
 * Two dispatchers ("workers on two hosts") on one PostgreSQL store: each delivery goes out once,
 * and a throttled subscription's token bucket is the store's, shared by both (docs/delivery.md, "Throttling")
 * — with a bucket per process each worker would send at the full rate.
 */
describe('dispatcher: several workers on one PostgreSQL store', () => {
  let db: PostgresTestDatabase;
  let receiver: LoopbackReceiver;
  const stores: Store[] = [];
  const dispatchers: Dispatcher[] = [];
  const clock = fakeClock();
  const times: number[] = [];

  beforeAll(async () => {
    db = await createPostgresTestDatabase();
    receiver = await startLoopbackReceiver(() => {
      times.push(clock.now() - T0);
      return { status: 200 };
    });
  });
  afterAll(async () => {
    await Promise.all(dispatchers.map((d) => d.stop({ graceMs: 0 })));
    await Promise.all(stores.map((s) => s.close()));
    await receiver?.close();
    await db?.drop();
  });

  it('sends each event once and shares the subscription’s token bucket between workers', async () => {
    const { resolved, config } = subscriptionsFor([
      { id: 'sub', url: receiver.url, policy: { throttlePolicy: { maxReceivesPerSecond: 1 } } },
    ]);
    const schema = db.nextSchema();
    for (const owner of ['host-a', 'host-b']) {
      const store = openPostgresStore(db.url, {
        schema,
        deliveryRoutes: deliveryRoutesFromConfig(config),
        now: () => new Date(clock.now()),
      });
      await store.migrate();
      stores.push(store);
      dispatchers.push(
        createDispatcher({
          store,
          subscriptions: resolved,
          logger: memoryLogger(),
          clock: clock.now,
          random: () => 0.5,
          owner,
          // One at a time, so both workers lease: each holds deliveries of the same subscription.
          concurrency: 1,
          settings: { ...config.delivery, jitter: 0 },
        }),
      );
    }
    const committed = await commit(
      stores[0]!,
      ['1', '2', '3', '4'].map((id) => patientChange(id, 1)),
    );

    for (let step = 0; step < 100; step += 1) {
      await Promise.all(dispatchers.map((d) => d.drainOnce()));
      const due = await stores[1]!.deliveries.nextDueAtMs(['sub']);
      if (due === undefined) break;
      clock.set(Math.max(clock.now(), due));
    }

    // One request per second in all, not one per second per worker.
    expect(times).toEqual([0, 1_000, 2_000, 3_000]);
    const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
    expect([...ids].sort()).toEqual(committed.map((e) => e.envelope.id).sort());
    const rows = await stores[0]!.deliveries.list({ limit: 10 });
    expect(rows.map((d) => [d.status, d.attempts])).toEqual(
      Array.from({ length: 4 }, () => ['delivered', 1]),
    );
  });
});
