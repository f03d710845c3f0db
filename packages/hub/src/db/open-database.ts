import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrateHub } from './migrations.js';
import { PgliteDialect } from './pglite-dialect.js';
import type { HubDatabase } from './schema.js';

/** Where the hub keeps its state: a PostgreSQL server, or PGlite in a local folder. */
export type HubStoreConfig = { readonly postgres: string } | { readonly pglite: string };

/** The one channel hub nodes talk on; the table stays the truth, a notice only wakes a node up. */
export const HUB_CHANNEL = 'tendril_hub';

/** The hub database and its wake-up channel. */
export interface HubDb {
  readonly db: Kysely<HubDatabase>;
  readonly kind: 'postgres' | 'pglite';
  /** Sends a notice to every node (this one included), delivered after the sender's commit. */
  notify(payload: Readonly<Record<string, unknown>>): Promise<void>;
  /** Calls `listener` with each notice's payload. */
  listen(listener: (payload: Record<string, unknown>) => void): Promise<void>;
  close(): Promise<void>;
}

const INT8_OID = 20;

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens (and migrates) the hub's database. Counters and sequences are `bigint` read back as JS
 * numbers: they stay below 2^53 (agent sequences are epoch microseconds plus a count).
 */
export async function openHubDatabase(
  store: HubStoreConfig,
  options: { poolSize?: number } = {},
): Promise<HubDb> {
  const listeners: ((payload: Record<string, unknown>) => void)[] = [];
  const dispatch = (text: string) => {
    const payload = parse(text);
    if (payload) for (const listener of listeners) listener(payload);
  };
  let hub: HubDb;
  if ('pglite' in store) {
    mkdirSync(store.pglite, { recursive: true });
    const database = await PGlite.create(store.pglite, {
      parsers: { [INT8_OID]: (value: string) => Number(value) },
    });
    const db = new Kysely<HubDatabase>({ dialect: new PgliteDialect(database) });
    let listening = false;
    hub = {
      db,
      kind: 'pglite',
      async notify(payload) {
        await sql`SELECT pg_notify(${HUB_CHANNEL}, ${JSON.stringify(payload)})`.execute(db);
      },
      async listen(listener) {
        listeners.push(listener);
        if (!listening) {
          listening = true;
          await database.listen(HUB_CHANNEL, dispatch);
        }
      },
      async close() {
        await db.destroy();
        await database.close();
      },
    };
  } else {
    const types = {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        format !== 'binary' && oid === INT8_OID
          ? (value: string) => Number(value)
          : (pg.types.getTypeParser(oid, format ?? 'text') as (
              value: string,
            ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
    };
    const pool = new pg.Pool({
      connectionString: store.postgres,
      max: options.poolSize ?? 10,
      types,
      application_name: 'tendril-hub',
      idle_in_transaction_session_timeout: 60_000,
    });
    // A failing idle client (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const db = new Kysely<HubDatabase>({ dialect: new PostgresDialect({ pool }) });
    let listener: pg.Client | undefined;
    hub = {
      db,
      kind: 'postgres',
      async notify(payload) {
        await sql`SELECT pg_notify(${HUB_CHANNEL}, ${JSON.stringify(payload)})`.execute(db);
      },
      async listen(callback) {
        listeners.push(callback);
        if (listener) return;
        listener = new pg.Client({
          connectionString: store.postgres,
          application_name: 'tendril-hub-listen',
        });
        listener.on('notification', (message) => {
          if (message.channel === HUB_CHANNEL && message.payload) dispatch(message.payload);
        });
        listener.on('error', () => undefined);
        await listener.connect();
        await listener.query(`LISTEN ${HUB_CHANNEL}`);
      },
      async close() {
        await listener?.end().catch(() => undefined);
        await db.destroy();
      },
    };
  }
  try {
    await migrateHub(hub.db);
  } catch (error) {
    await hub.close().catch(() => undefined);
    throw error;
  }
  return hub;
}
