/**
 * Test support (not shipped): a fresh MariaDB database holding the Dentrix Enterprise 11.0 tables
 * in their MariaDB form, loaded from the shared fixture as its README describes, then this
 * connector's own `fixtures/public-query-tables.mariadb.sql` (the tables known from public queries,
 * columns exact, types inferred). The shared fixture is read at test time, never copied into the
 * repository.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { fixturesDir } from '@tendril/testing';

/** Where the vendor fixtures live (the one rule: `fixturesDir()`); read at test time, never copied into the repo. */
export const FIXTURES_DIR = fixturesDir();
export const MARIADB_SCHEMA_FILE = join(
  FIXTURES_DIR,
  'dentrix-enterprise',
  'dentrix_enterprise_11_mariadb.sql',
);
export const MSSQL_SCHEMA_FILE = join(FIXTURES_DIR, 'dentrix-enterprise', 'dentrix_enterprise_11_mssql.sql');
/** The public-query tables (this repository's file), loaded after the replica. */
export const PUBLIC_QUERY_TABLES_FILE = fileURLToPath(
  new URL('../fixtures/public-query-tables.mariadb.sql', import.meta.url),
);
/** The shared note listing the tables and columns public queries name. */
export const PUBLIC_SQL_COLUMNS_FILE = join(FIXTURES_DIR, 'dentrix-enterprise', 'public-sql-columns.md');

const SERVER_URL = process.env['TENDRIL_TEST_MARIADB_URL'] ?? 'mysql://root@127.0.0.1:3306';

export interface FixtureDatabase {
  readonly name: string;
  /** `mysql://…/<name>` for `createSqlClient`. */
  readonly url: string;
  readonly connection: mysql.Connection;
  drop(): Promise<void>;
}

/**
 * Creates `tendril_dxe_<purpose>_<random>`, loads the MariaDB form of the replica and then the
 * public-query tables (unless `replicaOnly`), and connects to it.
 */
export async function createFixtureDatabase(
  purpose: string,
  options: { replicaOnly?: boolean } = {},
): Promise<FixtureDatabase> {
  const name = `tendril_dxe_${purpose}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: SERVER_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  await admin.end();
  const connection = await mysql.createConnection({
    uri: SERVER_URL,
    database: name,
    multipleStatements: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: '+00:00',
  });
  await connection.query("SET time_zone = '+00:00'");
  await connection.query(await readFile(MARIADB_SCHEMA_FILE, 'utf8'));
  if (!options.replicaOnly) await connection.query(await readFile(PUBLIC_QUERY_TABLES_FILE, 'utf8'));
  return {
    name,
    url: `${SERVER_URL.replace(/\/$/, '')}/${name}`,
    connection,
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
    },
  };
}
