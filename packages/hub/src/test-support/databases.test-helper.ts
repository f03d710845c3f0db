import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { HubStoreConfig } from '../db/open-database.js';

/** The PostgreSQL server of the tests (trust auth): `TENDRIL_TEST_POSTGRES_URL` or the local default. */
export const POSTGRES_SERVER =
  process.env['TENDRIL_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

function urlFor(database: string): string {
  const url = new URL(POSTGRES_SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, uniquely named PostgreSQL database for one test file; `drop()` removes it. */
export async function createHubTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tendril_hub_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: urlFor('postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: urlFor(name),
    async drop() {
      const root = new pg.Client({ connectionString: urlFor('postgres') });
      await root.connect();
      await root.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await root.end();
    },
  };
}

/** Both backends the hub runs on: a PostgreSQL database and a PGlite folder, each fresh. */
export const HUB_BACKENDS: readonly {
  readonly name: 'postgres' | 'pglite';
  create(): Promise<{ store: HubStoreConfig; drop(): Promise<void> }>;
}[] = [
  {
    name: 'postgres',
    async create() {
      const db = await createHubTestDatabase();
      return { store: { postgres: db.url }, drop: () => db.drop() };
    },
  },
  {
    name: 'pglite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'tendril-hub-pglite-'));
      return {
        store: { pglite: join(dir, 'db') },
        async drop() {
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];
