import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import { createSqlClient, type SqlClient } from './client.js';
import { dbNowUtc } from './clock.js';
import { compileForOdbc, createOdbcClient, normaliseOdbcValue } from './odbc-client.js';

/*
 * The ODBC adapter against real unixODBC drivers: "MariaDB Unicode" (Debian odbc-mariadb) on the
 * local MariaDB and "SQLite3" (libsqliteodbc) on a file. Every value shape is compared with what
 * the native knex client (mysql2 / better-sqlite3, client.ts settings) returns for the same rows.
 * Databases start with `tendril_odbc_` and are dropped in afterAll.
 */

const RUN = `${process.pid}_${Date.now().toString(36)}`;
const DB = `tendril_odbc_types_${RUN}`;
const MARIADB_ODBC = (database: string, user = 'root', password = '') =>
  `Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;User=${user};Password=${password};Database=${database}`;

const MYSQL_TABLE = `CREATE TABLE shapes (
  id bigint(20) NOT NULL PRIMARY KEY,
  big bigint(20), i int(11), ti tinyint(4), si smallint, d date, dt datetime, dt6 datetime(6),
  ts timestamp NULL DEFAULT NULL, tm time, dec1 decimal(10,2), dbl double, fl float, v varchar(40), tx text, vb varbinary(8)
) CHARACTER SET utf8mb3`;
const MYSQL_ROWS = `INSERT INTO shapes VALUES
 (1, 9223372036854775807, 2147483647, 127, 32767, '2024-02-29', '2024-03-01 10:11:12', '2024-03-01 10:11:12.123456', '2024-03-01 10:11:12', '23:59:59', 12345678.90, 1.25, 0.5, 'héllo ✓', 'long text', X'00ff10'),
 (2, -9223372036854775808, -2147483648, -128, -32768, '0001-01-01', '0001-01-01 00:00:00', '2024-01-01 00:00:00.000000', NULL, '00:00:00', -0.05, -1e300, 0, '', '', X''),
 (3, 9007199254740993, 0, 0, 0, NULL, NULL, NULL, '1970-01-01 00:00:01', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

describe('ODBC adapter: value shapes identical to the native drivers', () => {
  let root: SqlClient;
  let sqliteDir: string;

  beforeAll(async () => {
    root = createSqlClient({ url: 'mysql://root@127.0.0.1:3306' });
    await root.execute(root.knex.raw(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb3`));
    const seed = createSqlClient({ url: `mysql://root@127.0.0.1:3306/${DB}` });
    await seed.execute(seed.knex.raw(MYSQL_TABLE));
    await seed.execute(seed.knex.raw(MYSQL_ROWS));
    await seed.close();
    sqliteDir = mkdtempSync(join(tmpdir(), 'tendril-odbc-'));
  });
  afterAll(async () => {
    await root?.execute(root.knex.raw(`DROP DATABASE IF EXISTS \`${DB}\``));
    await root?.close();
    rmSync(sqliteDir, { recursive: true, force: true });
  });

  it('MariaDB: every row and value is deep-equal to mysql2 (bigint text, decimal text, date text, Buffer)', async () => {
    const native = createSqlClient({ url: `mysql://root@127.0.0.1:3306/${DB}` });
    const viaOdbc = createOdbcClient({ connectionString: MARIADB_ODBC(DB), dialect: 'mysql' });
    try {
      const query = (c: SqlClient) => c.knex('shapes').select('*').orderBy('id');
      const expected = await native.execute(query(native));
      const actual = await viaOdbc.execute(query(viaOdbc));
      expect(actual).toEqual(expected);
      // The shapes themselves, so a change on both sides would still be noticed.
      expect(actual[0]).toMatchObject({
        id: '1',
        big: '9223372036854775807',
        i: 2147483647,
        d: '2024-02-29',
        dt: '2024-03-01 10:11:12',
        dt6: '2024-03-01 10:11:12.123456',
        ts: '2024-03-01 10:11:12',
        dec1: '12345678.90',
        v: 'héllo ✓',
      });
      expect(actual[1]).toMatchObject({ big: '-9223372036854775808', dec1: '-0.05', ts: null });
      expect(actual[2]).toMatchObject({ big: '9007199254740993', ts: '1970-01-01 00:00:01' });
      expect(Buffer.isBuffer(actual[0]!['vb'])).toBe(true);
    } finally {
      await native.close();
      await viaOdbc.close();
    }
  });

  it('MariaDB: keyset bindings (CAST(? AS SIGNED) on 64-bit keys) select the same rows', async () => {
    const native = createSqlClient({ url: `mysql://root@127.0.0.1:3306/${DB}` });
    const viaOdbc = createOdbcClient({ connectionString: MARIADB_ODBC(DB), dialect: 'mysql' });
    try {
      const query = (c: SqlClient) =>
        c
          .knex('shapes')
          .select('id', 'big')
          .where('big', '>', c.knex.raw('CAST(? AS SIGNED)', ['9007199254740992']))
          .orderBy('id');
      const expected = await native.execute(query(native));
      expect(expected).toEqual([
        { id: '1', big: '9223372036854775807' },
        { id: '3', big: '9007199254740993' },
      ]);
      expect(await viaOdbc.execute(query(viaOdbc))).toEqual(expected);
    } finally {
      await native.close();
      await viaOdbc.close();
    }
  });

  it('MariaDB: dbNowUtc works through ODBC and the session runs in UTC like mysql2', async () => {
    const native = createSqlClient({ url: `mysql://root@127.0.0.1:3306/${DB}` });
    const viaOdbc = createOdbcClient({ connectionString: MARIADB_ODBC(DB), dialect: 'mysql' });
    try {
      const now = await dbNowUtc(viaOdbc);
      expect(now).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
      const zone = (c: SqlClient) => c.knex.raw('SELECT @@session.time_zone AS tz');
      expect(await viaOdbc.execute(zone(viaOdbc))).toEqual([{ tz: '+00:00' }]);
      expect(await native.execute(zone(native))).toEqual([{ tz: '+00:00' }]);
    } finally {
      await native.close();
      await viaOdbc.close();
    }
  });

  it('MariaDB: a wrong password is TENDRIL_E_DB_AUTH without the password in the message', async () => {
    const viaOdbc = createOdbcClient({
      connectionString: MARIADB_ODBC(DB, 'root', 'not-the-password-x9'),
      dialect: 'mysql',
    });
    try {
      const error = await viaOdbc.execute(viaOdbc.knex.raw('SELECT 1 AS one')).catch((e: unknown) => e);
      expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_DB_AUTH');
      expect(String((error as Error).message)).not.toContain('not-the-password-x9');
    } finally {
      await viaOdbc.close();
    }
  });

  it('a missing driver name is TENDRIL_E_DB_CONNECT naming odbcinst', async () => {
    const viaOdbc = createOdbcClient({
      connectionString: 'Driver={No Such Driver};Database=x',
      dialect: 'mysql',
    });
    try {
      const error = await viaOdbc.execute(viaOdbc.knex.raw('SELECT 1')).catch((e: unknown) => e);
      expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_DB_CONNECT');
      expect((error as Error).message).toContain('odbcinst');
    } finally {
      await viaOdbc.close();
    }
  });

  it('SQLite: every row is deep-equal to better-sqlite3, and dbNowUtc works', async () => {
    const file = join(sqliteDir, 'shapes.db');
    const native = createSqlClient({ url: `sqlite:${file}` });
    await native.execute(
      native.knex.raw(
        'CREATE TABLE shapes (id INTEGER PRIMARY KEY, big bigint(20), i int(11), ti tinyint, d date, dt datetime, ts timestamp, dbl double, v varchar(40), tx text)',
      ),
    );
    await native.execute(
      native.knex.raw(
        `INSERT INTO shapes VALUES (1, 9007199254740991, 42, 3, '2024-02-29', '2024-03-01 10:11:12', '2024-03-01 10:11:12', 1.25, 'héllo ✓', NULL),
         (2, -5, 0, 0, '0001-01-01', '0001-01-01 00:00:00', '2024-03-01 10:11:12.123', 0.1, '', '')`,
      ),
    );
    const viaOdbc = createOdbcClient({
      connectionString: `Driver=SQLite3;Database=${file}`,
      dialect: 'sqlite',
    });
    try {
      // Aliased like every Tendril query (queries.ts), including a dotted join-style alias.
      const columns = ['id', 'big', 'i', 'ti', 'd', 'dt', 'ts', 'dbl', 'v', 'tx'];
      const query = (c: SqlClient) =>
        c
          .knex('shapes')
          .select({ ...Object.fromEntries(columns.map((n) => [n, `shapes.${n}`])), 'j.v': 'shapes.v' })
          .where('id', '>', '0')
          .orderBy('id');
      const expected = await native.execute(query(native));
      expect(expected).toHaveLength(2);
      expect(expected[0]).toMatchObject({ 'j.v': 'héllo ✓', big: 9007199254740991 });
      expect(await viaOdbc.execute(query(viaOdbc))).toEqual(expected);
      expect(await dbNowUtc(viaOdbc)).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    } finally {
      await native.close();
      await viaOdbc.close();
    }
  });
});

describe('ODBC adapter: compilation and normalisation', () => {
  const mssql = createOdbcClient({ connectionString: 'DSN=none', dialect: 'mssql' });
  afterAll(() => mssql.close());

  it('turns knex mssql @pN markers back into ? in order, keeping the native bindings', () => {
    const q = mssql
      .knex('t')
      .select('a')
      .where('a', '>', mssql.knex.raw('CAST(? AS varchar(20))', ['x']))
      .andWhere('b', 2)
      .limit(5);
    const { sql, parameters } = compileForOdbc('mssql', q);
    expect(sql).toBe('select top (?) [a] from [t] where [a] > CAST(? AS varchar(20)) and [b] = ?');
    expect(parameters).toEqual([5, 'x', 2]);
  });

  it('refuses a DECIMAL a double cannot carry exactly instead of returning a wrong value', () => {
    const column = { name: 'amount', dataType: 3, decimalDigits: 2 };
    expect(normaliseOdbcValue('mysql', column, 12.5)).toBe('12.50');
    let error: unknown;
    try {
      // The literal is the point: a DECIMAL value a double cannot carry exactly.
      normaliseOdbcValue('mysql', column, 1234567890123456.7); // eslint-disable-line no-loss-of-precision
    } catch (e) {
      error = e;
    }
    expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_DB_QUERY');
  });

  it('keeps big integers exact: text on mysql/mssql, a number on sqlite only while it is safe', () => {
    const column = { name: 'k', dataType: -5, decimalDigits: 0 };
    expect(normaliseOdbcValue('mysql', column, 2n ** 62n)).toBe('4611686018427387904');
    expect(normaliseOdbcValue('mssql', column, -1n)).toBe('-1');
    expect(normaliseOdbcValue('sqlite', column, 42n)).toBe(42);
    expect(normaliseOdbcValue('sqlite', column, 2n ** 60n)).toBe('1152921504606846976');
  });
});
