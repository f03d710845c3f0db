import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { describeDeliveryStoreContract } from '../delivery-store-contract.test-helper.js';
import { describeStoreContract } from '../store-contract.test-helper.js';
import type { Store } from '../types.js';
import { describeWritebackStoreContract } from '../writeback-store-contract.test-helper.js';
import { createPostgresKysely } from './connection.js';
import { openPostgresStore, type PostgresStoreOptions } from './open.js';

/**
 * The three contract suites on PGlite: PostgreSQL compiled to WebAssembly, in this process, one
 * database for the file (starting one takes seconds). Each store gets it empty: the schema is
 * dropped before the store opens (the suites use one store at a time).
 */
let lite: PGlite;

beforeAll(async () => {
  lite = await PGlite.create();
}, 120_000);
afterAll(async () => {
  await lite?.close();
});

async function fresh(options: PostgresStoreOptions): Promise<Store> {
  const db = createPostgresKysely(lite);
  await sql.raw('DROP SCHEMA public CASCADE; CREATE SCHEMA public').execute(db);
  await db.destroy();
  return openPostgresStore(lite, options);
}

describeStoreContract('pglite', () => fresh({}));
describeDeliveryStoreContract('pglite', (deliveryRoutes) => fresh({ deliveryRoutes }));
describeWritebackStoreContract('pglite', (deliveryRoutes) => fresh({ deliveryRoutes }));
