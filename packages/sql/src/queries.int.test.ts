import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2';
import pg from 'pg';
import { defineTable, isTendrilError, type TableDefinition, type TendrilError } from '@tendril/core';
import { classifyDbError, createSqlClient, type Dialect, type SqlClient } from './client.js';
import { dbNowUtc } from './clock.js';
import { compareCursor, cursorToMicros } from './cursor-text.js';
import {
  CURSOR_ALIAS,
  keysPageQuery,
  lookupByKeysQuery,
  snapshotPageQuery,
  timestampPageQuery,
  type CursorPosition,
  type SqlRow,
} from './queries.js';

/*
 * Real MariaDB (127.0.0.1:3306, root), PostgreSQL (127.0.0.1:5432, postgres, trust) and SQLite.
 * Every database and login created here starts with `tendril_sql_` and is dropped in afterAll.
 */

const RUN = `${process.pid}_${Date.now().toString(36)}`;
const DB = `tendril_sql_q_${RUN}`;
const RO_USER = `tendril_sql_ro_${RUN}`;
const MYSQL_ROOT = 'mysql://root@127.0.0.1:3306';
const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';

const STAMP = '2024-03-05 10:00:00';
const LOWER = '2024-03-05 09:45:00';
const UPPER = '2024-03-05 10:08:05';
const SAME_STAMP_ROWS = 2500;
const AT_LOWER_ROWS = 10;
const PAGE = 1000;

interface Engine {
  readonly dialect: Dialect;
  client: SqlClient;
  /** Declared column types, as a connector for this engine would write them. */
  readonly types: {
    readonly int: string;
    readonly bigint: string;
    readonly text: string;
    readonly stamp: string;
  };
}

const engines: Engine[] = [];
let mysqlAdmin: SqlClient;
let pgAdmin: SqlClient;

function apptTable(engine: Engine): TableDefinition<'Appointment'> {
  return defineTable<'Appointment'>({
    resourceType: 'Appointment',
    table: 'appt',
    key: ['ClinicNum', 'AptNum'],
    columns: {
      ClinicNum: engine.types.int,
      AptNum: engine.types.bigint,
      Note: engine.types.text,
      DateTStamp: engine.types.stamp,
    },
    cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
    fields: {},
  });
}

async function createAppt(client: SqlClient, engine: Engine): Promise<void> {
  const { knex } = client;
  await knex.schema.createTable('appt', (table) => {
    table.integer('ClinicNum').notNullable();
    table.bigInteger('AptNum').notNullable();
    table.string('Note', 40);
    if (engine.dialect === 'mysql')
      table.timestamp('DateTStamp', { precision: 0 }).notNullable().defaultTo(knex.fn.now());
    else if (engine.dialect === 'postgres') table.specificType('DateTStamp', 'timestamp(0)').notNullable();
    else table.text('DateTStamp').notNullable();
    table.primary(['ClinicNum', 'AptNum']);
  });
  const rows: Record<string, unknown>[] = [];
  // 2,500 rows with one stamp; keys interleave so (ClinicNum, AptNum) order differs from insert order.
  for (let i = 0; i < SAME_STAMP_ROWS; i++)
    rows.push({
      ClinicNum: (i % 3) + 1,
      AptNum: String(SAME_STAMP_ROWS - i),
      Note: `n${i}`,
      DateTStamp: STAMP,
    });
  // Window edges: rows at `lower` are read, rows at `upper` and before `lower` are not.
  for (let i = 0; i < AT_LOWER_ROWS; i++)
    rows.push({ ClinicNum: 9, AptNum: String(100 + i), Note: 'lower', DateTStamp: LOWER });
  for (let i = 0; i < 5; i++)
    rows.push({ ClinicNum: 9, AptNum: String(200 + i), Note: 'upper', DateTStamp: UPPER });
  for (let i = 0; i < 5; i++)
    rows.push({ ClinicNum: 9, AptNum: String(300 + i), Note: 'before', DateTStamp: '2024-03-05 09:44:59' });
  await knex.batchInsert('appt', rows, 500);
}

/** Reads every page of a window the way the scheduler will, checking that each page advances. */
async function readWindow(
  client: SqlClient,
  table: TableDefinition,
  limit: number,
): Promise<{ rows: SqlRow[]; pages: number[] }> {
  const rows: SqlRow[] = [];
  const pages: number[] = [];
  let after: CursorPosition | undefined;
  for (;;) {
    const page: SqlRow[] = await timestampPageQuery(client, table, {
      lower: LOWER,
      upper: UPPER,
      ...(after ? { after } : {}),
      limit,
    });
    pages.push(page.length);
    if (page.length === 0) break;
    rows.push(...page);
    const last = page[page.length - 1] as SqlRow;
    const next: CursorPosition = {
      cursor: String(last[CURSOR_ALIAS]),
      key: table.key.map((k) => String(last[k])),
    };
    if (after) expect(compareRows(next, after)).toBeGreaterThan(0);
    after = next;
    if (page.length < limit) break;
    if (pages.length > 50) throw new Error('paging did not end');
  }
  return { rows, pages };
}

/** (cursor, integer keys…) order, the order the keyset promises. */
function compareRows(a: CursorPosition, b: CursorPosition): number {
  const byCursor = a.cursor !== undefined && b.cursor !== undefined ? compareCursor(a.cursor, b.cursor) : 0;
  if (byCursor !== 0) return byCursor;
  for (let i = 0; i < a.key.length; i++) {
    const x = BigInt(a.key[i] as string);
    const y = BigInt(b.key[i] as string);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

async function caught(promise: PromiseLike<unknown>): Promise<TendrilError> {
  try {
    await promise;
  } catch (error) {
    const classified = classifyDbError(error);
    expect(isTendrilError(classified)).toBe(true);
    return classified;
  }
  throw new Error('expected the query to fail');
}

beforeAll(async () => {
  mysqlAdmin = createSqlClient({ url: MYSQL_ROOT });
  await mysqlAdmin.knex.raw(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4`);
  pgAdmin = createSqlClient({ url: PG_ADMIN });
  await pgAdmin.knex.raw(`CREATE DATABASE "${DB}"`);
  engines.push(
    {
      dialect: 'mysql',
      client: createSqlClient({ url: `${MYSQL_ROOT}/${DB}` }),
      types: { int: 'int(11)', bigint: 'bigint(20)', text: 'varchar(40)', stamp: 'timestamp' },
    },
    {
      dialect: 'postgres',
      client: createSqlClient({ url: `postgres://postgres@127.0.0.1:5432/${DB}` }),
      types: { int: 'integer', bigint: 'bigint', text: 'varchar(40)', stamp: 'timestamp(0)' },
    },
    {
      dialect: 'sqlite',
      client: createSqlClient({ url: 'sqlite::memory:' }),
      types: { int: 'integer', bigint: 'integer', text: 'text', stamp: 'text' },
    },
  );
  for (const engine of engines) await createAppt(engine.client, engine);
});

afterAll(async () => {
  for (const engine of engines) await engine.client.close();
  await mysqlAdmin?.knex.raw(`DROP DATABASE IF EXISTS \`${DB}\``);
  await mysqlAdmin?.knex.raw(`DROP USER IF EXISTS '${RO_USER}'@'%'`);
  await mysqlAdmin?.close();
  await pgAdmin?.knex.raw(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
  await pgAdmin?.knex.raw(`DROP ROLE IF EXISTS "${RO_USER}"`);
  await pgAdmin?.close();
});

const engine = (dialect: Dialect) => engines.find((e) => e.dialect === dialect) as Engine;

describe.each(['mysql', 'postgres', 'sqlite'] as const)('timestamp paging on %s', (dialect) => {
  it('(a, b) reads 2,500 rows with one identical stamp and composite keys exactly once, pages of 1000, then stops', async () => {
    const e = engine(dialect);
    const table = apptTable(e);
    const { rows, pages } = await readWindow(e.client, table, PAGE);
    expect(pages).toEqual([1000, 1000, 510]);
    const keys = rows.map((r) => `${String(r['ClinicNum'])}|${String(r['AptNum'])}`);
    expect(new Set(keys).size).toBe(SAME_STAMP_ROWS + AT_LOWER_ROWS);
    expect(keys).toHaveLength(SAME_STAMP_ROWS + AT_LOWER_ROWS);
    // Nothing at or after `upper`, nothing before `lower`.
    expect(rows.filter((r) => r['Note'] === 'upper' || r['Note'] === 'before')).toEqual([]);
    expect(rows.filter((r) => r['Note'] === 'lower')).toHaveLength(AT_LOWER_ROWS);
    // Rows come in strict (cursor, ClinicNum, AptNum) order, cursors as text.
    for (let i = 1; i < rows.length; i++) {
      const position = (r: SqlRow): CursorPosition => ({
        cursor: String(r[CURSOR_ALIAS]),
        key: [String(r['ClinicNum']), String(r['AptNum'])],
      });
      expect(compareRows(position(rows[i] as SqlRow), position(rows[i - 1] as SqlRow))).toBe(1);
    }
    for (const row of rows) expect(typeof row[CURSOR_ALIAS]).toBe('string');
    expect(compareCursor(String(rows[rows.length - 1]?.[CURSOR_ALIAS]), STAMP)).toBe(0);
  });

  it('(b) pages composite keys in snapshot and keys-only scans and finds rows by composite key', async () => {
    const e = engine(dialect);
    const table = apptTable(e);
    const seen: string[] = [];
    let after: CursorPosition | undefined;
    for (let guard = 0; guard < 20; guard++) {
      const page: SqlRow[] = await keysPageQuery(e.client, table, {
        ...(after ? { after } : {}),
        limit: 700,
      });
      if (page.length === 0) break;
      expect(Object.keys(page[0] as SqlRow).sort()).toEqual(['AptNum', 'ClinicNum']);
      for (const row of page) seen.push(`${String(row['ClinicNum'])}|${String(row['AptNum'])}`);
      const last = page[page.length - 1] as SqlRow;
      after = { key: [String(last['ClinicNum']), String(last['AptNum'])] };
    }
    expect(seen).toHaveLength(SAME_STAMP_ROWS + AT_LOWER_ROWS + 10);
    expect(new Set(seen).size).toBe(seen.length);
    const snapshot: SqlRow[] = await snapshotPageQuery(e.client, table, {
      after: { key: ['1', '5'] },
      limit: 3,
    });
    // Clinic 1 holds AptNum 1, 4, 7, …, 2500; clinic 2 holds 3, 6, …, 2499.
    expect(snapshot.map((r) => [Number(r['ClinicNum']), Number(r['AptNum'])])).toEqual([
      [1, 7],
      [1, 10],
      [1, 13],
    ]);
    const nextClinic: SqlRow[] = await snapshotPageQuery(e.client, table, {
      after: { key: ['1', '2500'] },
      limit: 2,
    });
    expect(nextClinic.map((r) => [Number(r['ClinicNum']), Number(r['AptNum'])])).toEqual([
      [2, 3],
      [2, 6],
    ]);
    const found: SqlRow[] = await lookupByKeysQuery(e.client, table, [
      ['1', '2500'],
      ['9', '100'],
      ['2', '2500'],
    ]);
    expect(found.map((r) => `${String(r['ClinicNum'])}|${String(r['AptNum'])}`).sort()).toEqual([
      '1|2500',
      '9|100',
    ]);
  });
});

describe('MariaDB specifics', () => {
  const BIG = [
    9223372036854775807n,
    9223372036854775806n,
    9223372036854775805n,
    9223372036854775800n,
    9223372036854775296n,
    9223372036854774784n,
    9007199254740993n,
    9007199254740992n,
    9007199254740991n,
    42n,
    1n,
  ];
  const UNSIGNED = [
    18446744073709551615n,
    18446744073709551614n,
    18446744073709551613n,
    9223372036854775808n,
    5n,
  ];

  it('(c) orders, pages and looks up BIGINT keys near 2^63 (and BIGINT UNSIGNED near 2^64) exactly', async () => {
    const { knex } = engine('mysql').client;
    await knex.raw('CREATE TABLE big (Id BIGINT NOT NULL PRIMARY KEY, Stamp TIMESTAMP NOT NULL)');
    await knex('big').insert(BIG.map((id) => ({ Id: id.toString(), Stamp: STAMP })));
    const table = defineTable<'Patient'>({
      resourceType: 'Patient',
      table: 'big',
      key: ['Id'],
      columns: { Id: 'bigint(20)', Stamp: 'timestamp' },
      cursor: { mode: 'timestamp', column: 'Stamp', clock: 'db-utc', precision: 0 },
      fields: {},
    });
    const expected = [...BIG].sort((a, b) => (a < b ? -1 : 1)).map(String);
    const client = engine('mysql').client;

    // What mysql2 actually sends: knex hands the bindings over unchanged and mysql2 interpolates them
    // client-side; a key string becomes a quoted literal, which the CAST turns into an exact integer.
    const native = keysPageQuery(client, table, { after: { key: ['9223372036854775805'] }, limit: 2 })
      .toSQL()
      .toNative();
    expect(mysql.format(native.sql, native.bindings as Parameters<typeof mysql.format>[1])).toContain(
      "`big`.`Id` > CAST('9223372036854775805' AS SIGNED)",
    );

    const scanned: string[] = [];
    let after: CursorPosition | undefined;
    for (let guard = 0; guard < 20; guard++) {
      const page: SqlRow[] = await timestampPageQuery(client, table, {
        lower: LOWER,
        upper: UPPER,
        ...(after ? { after } : {}),
        limit: 2,
      });
      if (page.length === 0) break;
      for (const row of page) {
        expect(typeof row['Id']).toBe('string');
        scanned.push(row['Id'] as string);
      }
      const last = page[page.length - 1] as SqlRow;
      after = { cursor: String(last[CURSOR_ALIAS]), key: [String(last['Id'])] };
    }
    expect(scanned).toEqual(expected);

    const keysAfter: SqlRow[] = await keysPageQuery(client, table, {
      after: { key: ['9223372036854775805'] },
      limit: 10,
    });
    expect(keysAfter.map((r) => r['Id'])).toEqual(['9223372036854775806', '9223372036854775807']);
    const near53: SqlRow[] = await snapshotPageQuery(client, table, {
      after: { key: ['9007199254740992'] },
      limit: 1,
    });
    expect(near53.map((r) => r['Id'])).toEqual(['9007199254740993']);
    const found: SqlRow[] = await lookupByKeysQuery(client, table, [
      ['9223372036854775806'],
      ['9007199254740993'],
    ]);
    expect(found.map((r) => r['Id']).sort()).toEqual(['9007199254740993', '9223372036854775806']);

    await knex.raw('CREATE TABLE ubig (Id BIGINT UNSIGNED NOT NULL PRIMARY KEY)');
    await knex('ubig').insert(UNSIGNED.map((id) => ({ Id: id.toString() })));
    const unsigned = defineTable<'Patient'>({
      resourceType: 'Patient',
      table: 'ubig',
      key: ['Id'],
      columns: { Id: 'bigint(20) unsigned' },
      cursor: { mode: 'snapshot' },
      fields: {},
    });
    const upperKeys: SqlRow[] = await keysPageQuery(client, unsigned, {
      after: { key: ['18446744073709551613'] },
      limit: 10,
    });
    expect(upperKeys.map((r) => r['Id'])).toEqual(['18446744073709551614', '18446744073709551615']);
  });

  it('(e) every pooled session runs in +00:00 and TIMESTAMP values come back as text', async () => {
    const client = createSqlClient({ url: `${MYSQL_ROOT}/${DB}` }, { pool: { min: 0, max: 4 } });
    try {
      const { knex } = client;
      // Hold four connections at once so the pool has to create four sessions.
      const sessions = await Promise.all(
        [0, 1, 2, 3].map(() =>
          knex.raw('SELECT @@session.time_zone AS tz, CONNECTION_ID() AS id, SLEEP(0.2) AS s'),
        ),
      );
      const seen = sessions.map((result) => (result as [{ tz: string; id: number }[]])[0][0]);
      expect(new Set(seen.map((s) => s?.id)).size).toBe(4);
      for (const session of seen) expect(session?.tz).toBe('+00:00');

      await knex.raw(
        'CREATE TABLE tzcheck (Id INT PRIMARY KEY, Stamp TIMESTAMP(6) NULL, Local DATETIME NULL, Day DATE NULL)',
      );
      await knex('tzcheck').insert({
        Id: 1,
        Stamp: '2024-07-01 12:00:00.123456',
        Local: '2024-07-01 08:00:00',
        Day: '2024-07-01',
      });
      const [row] = (await knex('tzcheck').select('*')) as SqlRow[];
      expect(row).toEqual({
        Id: 1,
        Stamp: '2024-07-01 12:00:00.123456',
        Local: '2024-07-01 08:00:00',
        Day: '2024-07-01',
      });
      // The stored instant is 12:00 UTC: a session in another zone shows another wall time.
      const shifted = await knex.transaction(async (trx) => {
        await trx.raw("SET time_zone = '-05:00'");
        const result = (await trx.raw('SELECT Stamp FROM tzcheck WHERE Id = 1')) as [SqlRow[]];
        await trx.raw("SET time_zone = '+00:00'");
        return result[0][0]?.['Stamp'];
      });
      expect(shifted).toBe('2024-07-01 07:00:00.123456');
    } finally {
      await client.close();
    }
  });

  it('(f) classifies a wrong login, a closed port, a missing grant and a missing database', async () => {
    const wrongUser = createSqlClient({ url: `mysql://${RO_USER}_nobody:wrong@127.0.0.1:3306/${DB}` });
    const auth = await caught(wrongUser.knex.raw('SELECT 1'));
    await wrongUser.close();
    expect(auth.code).toBe('TENDRIL_E_DB_AUTH');
    expect(auth.details).toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 });
    expect(auth.message).not.toContain('wrong');

    const closedPort = createSqlClient({ url: `mysql://root@127.0.0.1:1/${DB}` });
    const connect = await caught(closedPort.knex.raw('SELECT 1'));
    await closedPort.close();
    expect(connect.code).toBe('TENDRIL_E_DB_CONNECT');
    expect(connect.details).toMatchObject({ code: 'ECONNREFUSED' });

    await mysqlAdmin.knex.raw(`CREATE USER '${RO_USER}'@'%' IDENTIFIED BY 'tendril-test'`);
    const limited = createSqlClient({ url: `mysql://${RO_USER}:tendril-test@127.0.0.1:3306` });
    const secret = 'SENTINEL-VALUE-93417';
    const permission = await caught(limited.knex(`${DB}.appt`).where('Note', secret).select('AptNum'));
    await limited.close();
    expect(permission.code).toBe('TENDRIL_E_DB_PERMISSION');
    expect(permission.details).toMatchObject({ errno: 1142 });
    // knex puts the SQL and its values into the driver error; the classified message has none.
    expect(String((permission.cause as Error).message)).toContain(secret);
    expect(permission.message).not.toContain(secret);

    const missing = createSqlClient({ url: `${MYSQL_ROOT}/${DB}_missing` });
    const noDb = await caught(missing.knex.raw('SELECT 1'));
    await missing.close();
    expect(noDb.code).toBe('TENDRIL_E_DB_CONNECT');
    expect(noDb.message).toMatch(/database name/);
  });
});

describe('PostgreSQL specifics', () => {
  it('returns date, timestamp and timestamptz as text without touching the process-wide pg parsers', async () => {
    const { knex } = engine('postgres').client;
    const result = (await knex.raw(
      `SELECT '2024-07-01 12:00:00.123456'::timestamp AS ts, '2024-07-01 12:00:00.5+02'::timestamptz AS tstz, '2024-07-01'::date AS day, current_setting('TimeZone') AS zone`,
    )) as { rows: SqlRow[] };
    expect(result.rows[0]).toEqual({
      ts: '2024-07-01 12:00:00.123456',
      tstz: '2024-07-01 10:00:00.5+00',
      day: '2024-07-01',
      zone: 'UTC',
    });
    expect(pg.types.getTypeParser(1114)('2024-07-01 12:00:00')).toBeInstanceOf(Date);
  });

  it('(f) classifies a missing role, a closed port and a missing grant', async () => {
    const noRole = createSqlClient({ url: `postgres://${RO_USER}_nobody@127.0.0.1:5432/${DB}` });
    const auth = await caught(noRole.knex.raw('SELECT 1'));
    await noRole.close();
    expect(auth.code).toBe('TENDRIL_E_DB_AUTH');

    const closedPort = createSqlClient({ url: `postgres://postgres@127.0.0.1:1/${DB}` });
    const connect = await caught(closedPort.knex.raw('SELECT 1'));
    await closedPort.close();
    expect(connect.code).toBe('TENDRIL_E_DB_CONNECT');

    await pgAdmin.knex.raw(`CREATE ROLE "${RO_USER}" LOGIN`);
    const limited = createSqlClient({ url: `postgres://${RO_USER}@127.0.0.1:5432/${DB}` });
    const permission = await caught(
      limited.knex('appt').where('Note', 'SENTINEL-VALUE-5521').select('AptNum'),
    );
    await limited.close();
    expect(permission.code).toBe('TENDRIL_E_DB_PERMISSION');
    expect(permission.details).toMatchObject({ code: '42501' });
    expect(permission.message).not.toContain('SENTINEL');
  });
});

describe.each(['mysql', 'postgres', 'sqlite'] as const)('(d) dbNowUtc on %s', (dialect) => {
  it('is the database clock in UTC, 6 fraction digits, within a few seconds of the host clock', async () => {
    const before = BigInt(Date.now()) * 1000n;
    const now = await dbNowUtc(engine(dialect).client);
    const after = BigInt(Date.now()) * 1000n;
    expect(now).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    const micros = cursorToMicros(now);
    expect(micros).toBeGreaterThan(before - 5_000_000n);
    expect(micros).toBeLessThan(after + 5_000_000n);
  });
});
