import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionConfig, type StoredEvent } from '@tendril/core';
import { openDental } from '@tendril/connector-open-dental';
import { silentLogger, syncStream } from '@tendril/scheduler';
import { createOdbcClient, createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore } from '@tendril/store';
import { seedOpenDental } from '@tendril/connector-open-dental/testing';
import { createTablesFromDeclarations } from '@tendril/testing';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

/*
 * Issue 3 (ODBC path): the Open Dental connector, unchanged, read once through the native driver
 * and once through unixODBC from the same seeded database, must produce the same outbox — event
 * ids, hashes and data — for every stream. The agent clock is pinned (`now`) so `syncedAt` agrees.
 * MariaDB: the real 24.3 schema with "MariaDB Unicode"; SQLite: the demo-style database (tables
 * from the connector's declarations) with "SQLite3".
 */

const PATIENTS = 150;
const STAMP = new Date('2024-06-01T12:00:00Z');
const ANCHOR = new Date('2024-06-15T00:00:00Z');
const AGENT_NOW = () => new Date('2024-07-01T00:00:00.000Z');

const connection = ConnectionConfig.parse({
  id: 'odbc-parity',
  connector: 'open-dental',
  timezone: 'America/New_York',
  database: { url: 'mysql://unused' },
  sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 97 },
});

/** Backloads every stream into a fresh in-memory store and returns all events, oldest first. */
async function outboxOf(sql: SqlClient): Promise<{ events: StoredEvent[]; counts: Record<string, number> }> {
  // The store's clock seeds the first event sequence, which is part of every event id: pinned too.
  const store = openSqliteStore(':memory:', { now: AGENT_NOW });
  await store.migrate();
  try {
    const counts: Record<string, number> = {};
    for (const stream of Object.keys(openDental.streams)) {
      const result = await syncStream(
        { sql, store, logger: silentLogger },
        { connection, connector: openDental, stream, now: AGENT_NOW },
      );
      counts[stream] = result.created;
    }
    const events = await store.listEvents({ connectionId: connection.id, limit: 1_000_000 });
    return { events, counts };
  } finally {
    await store.close();
  }
}

function expectSameOutbox(
  native: { events: StoredEvent[]; counts: Record<string, number> },
  odbc: typeof native,
): void {
  // Every stream produced something, so the comparison is not trivially equal.
  for (const [stream, created] of Object.entries(native.counts)) expect(created, stream).toBeGreaterThan(0);
  expect(odbc.counts).toEqual(native.counts);
  expect(odbc.events.length).toBe(native.events.length);
  for (let i = 0; i < native.events.length; i++) {
    const a = native.events[i]!;
    const b = odbc.events[i]!;
    expect(b.envelope.id).toBe(a.envelope.id);
    expect(b.envelope.hash).toBe(a.envelope.hash);
    expect(b).toEqual(a);
  }
}

describe('Open Dental through ODBC = through the native driver', () => {
  describe('MariaDB, real 24.3 schema: mysql2 vs "MariaDB Unicode"', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('tendril_odbc_od');
      await loadOpenDentalSchema(db);
      const seeder = createSqlClient({ url: db.url });
      try {
        await seedOpenDental(seeder.knex, {
          patients: PATIENTS,
          seed: 'odbc',
          dialect: 'mysql',
          now: ANCHOR,
          stamp: STAMP,
        });
      } finally {
        await seeder.close();
      }
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('gives identical events (ids, hashes, data) for every stream', async () => {
      const native = createSqlClient({ url: db.url });
      const viaOdbc = createOdbcClient({
        connectionString: `Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;User=root;Password=;Database=${db.name}`,
        dialect: 'mysql',
      });
      try {
        expectSameOutbox(await outboxOf(native), await outboxOf(viaOdbc));
      } finally {
        await native.close();
        await viaOdbc.close();
      }
    });
  });

  describe('SQLite, demo-style database: better-sqlite3 vs "SQLite3"', () => {
    let dir: string;
    let file: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tendril-odbc-od-'));
      file = join(dir, 'opendental.db');
      const seeder = createSqlClient({ url: `sqlite:${file}` });
      try {
        await createTablesFromDeclarations(seeder.knex, Object.values(openDental.streams), 'sqlite');
        await seedOpenDental(seeder.knex, {
          patients: PATIENTS,
          seed: 'odbc',
          dialect: 'sqlite',
          now: ANCHOR,
          stamp: STAMP,
        });
      } finally {
        await seeder.close();
      }
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('gives identical events (ids, hashes, data) for every stream', async () => {
      const native = createSqlClient({ url: `sqlite:${file}` });
      const viaOdbc = createOdbcClient({
        connectionString: `Driver=SQLite3;Database=${file}`,
        dialect: 'sqlite',
      });
      try {
        expectSameOutbox(await outboxOf(native), await outboxOf(viaOdbc));
      } finally {
        await native.close();
        await viaOdbc.close();
      }
    });
  });
});
