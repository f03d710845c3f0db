import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('openPostgresStore on a kysely instance (what the hub shares with its own queries)', () => {
  it('works on an instance from createPostgresKysely and leaves it open on close', async () => {
    await (await fresh({})).close();
    const db = createPostgresKysely(lite);
    const store = openPostgresStore(db);
    await store.saveRelayCursor('c1', 42);
    await store.close();
    // The caller's instance still runs its own queries after the store closed.
    const row = await sql<{ last_sequence: number }>`SELECT last_sequence FROM relay_cursor`.execute(db);
    expect(row.rows).toEqual([{ last_sequence: 42 }]);
    await db.destroy();
  });

  it('refuses an instance it did not make, and a schema on PGlite, naming the field', () => {
    const foreign = new Kysely<never>({ dialect: new PostgresDialect({ pool: new pg.Pool() }) });
    expect(() => openPostgresStore(foreign)).toThrow(/createPostgresKysely/);
    expect(() => openPostgresStore(lite, { schema: 'hub' })).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_STORE', details: { field: 'schema' } }),
    );
  });
});
