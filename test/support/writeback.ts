import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createApiServer, generateApiKey, type ApiServer } from '@tendril/api';
import type { Store } from '@tendril/store';
import mysql from 'mysql2/promise';
import { MARIADB } from './mariadb.js';
import { OPENEMR_EXAMPLE_PATIENTS, OPENEMR_EXAMPLE_USERS, OPENEMR_SCHEMA } from './openemr.js';
import { requireFixture } from './paths.js';

/** A fresh `tendril_wb_<purpose>_<hex>` database holding OpenEMR's real schema and its example patients and users. */
export async function createWritebackOpenEmrDatabase(purpose: string): Promise<{
  name: string;
  url: string;
  connect(): Promise<mysql.Connection>;
  drop(): Promise<void>;
}> {
  const name = `tendril_wb_${purpose}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ ...MARIADB });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  await admin.end();
  const connect = async () => {
    const connection = await mysql.createConnection({
      ...MARIADB,
      database: name,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      multipleStatements: true,
    });
    await connection.query("SET time_zone = '-07:00'");
    return connection;
  };
  const loader = await connect();
  try {
    await loader.query(readFileSync(requireFixture(OPENEMR_SCHEMA), 'utf8'));
    await loader.query(readFileSync(requireFixture(OPENEMR_EXAMPLE_PATIENTS), 'utf8'));
    await loader.query(readFileSync(requireFixture(OPENEMR_EXAMPLE_USERS), 'utf8'));
  } finally {
    await loader.end();
  }
  return {
    name,
    url: `mysql://root@127.0.0.1:3306/${name}`,
    connect,
    async drop() {
      const root = await mysql.createConnection({ ...MARIADB });
      await root.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await root.end();
    },
  };
}

/** Polls `GET /v1/writebacks/:id` until the command leaves `accepted`. */
export async function waitForResult(
  baseUrl: string,
  key: string,
  id: string,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${baseUrl}/v1/writebacks/${id}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const body = (await response.json()) as Record<string, unknown>;
    if (body['status'] !== 'accepted') return body;
    if (Date.now() > until) throw new Error(`writeback ${id} still accepted after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SILENT_API_LOGGER = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The writeback API on a free loopback port; only its writeback routes are under test. */
export async function startWritebackApi(
  writeback: NonNullable<Parameters<typeof createApiServer>[0]['writeback']>,
): Promise<{ api: ApiServer; base: string }> {
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    status: async () => {
      throw new Error('not used here');
    },
    logger: SILENT_API_LOGGER,
    writeback,
  });
  return { api, base: await api.listen() };
}

/** Stores an API key (its hash only) for these connections and returns the bearer secret. */
export async function createVendorKey(
  store: Store,
  name: string,
  connectionIds: string[],
  subscriptionIds: string[] = [],
): Promise<string> {
  const created = generateApiKey();
  await store.writebacks.createApiKey({
    id: created.id,
    name,
    secretHash: created.secretHash,
    connectionIds,
    subscriptionIds,
    createdAt: new Date().toISOString(),
  });
  return created.key;
}
