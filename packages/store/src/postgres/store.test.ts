import { afterAll, beforeAll } from 'vitest';
import { describeDeliveryStoreContract } from '../delivery-store-contract.test-helper.js';
import { openPostgresStore } from './open.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../postgres-test-database.test-helper.js';
import { describeStoreContract } from '../store-contract.test-helper.js';

let db: PostgresTestDatabase;

beforeAll(async () => {
  db = await createPostgresTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

// Every store opened by the suites lives in its own schema of this file's database: an empty store per test.
describeStoreContract('postgres', async () => openPostgresStore(db.url, { schema: db.nextSchema() }));
describeDeliveryStoreContract('postgres', async (deliveryRoutes) =>
  openPostgresStore(db.url, { schema: db.nextSchema(), deliveryRoutes }),
);
