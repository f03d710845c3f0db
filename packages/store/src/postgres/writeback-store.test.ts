import { afterAll, beforeAll } from 'vitest';
import { openPostgresStore } from './open.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../postgres-test-database.test-helper.js';
import { describeWritebackStoreContract } from '../writeback-store-contract.test-helper.js';

let db: PostgresTestDatabase;

beforeAll(async () => {
  db = await createPostgresTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

// A real PostgreSQL server: each store in its own schema of this file's database.
describeWritebackStoreContract('postgres', async (deliveryRoutes) =>
  openPostgresStore(db.url, { schema: db.nextSchema(), deliveryRoutes }),
);
