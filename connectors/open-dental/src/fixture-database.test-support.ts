/**
 * Test support (not shipped): a fresh MariaDB database holding Open Dental's real 24.3 schema,
 * loaded from the shared fixture exactly as its README describes.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { fixturesDir } from '@tendril/testing';

/** Where the vendor fixtures live (the one rule: `fixturesDir()`); read at test time, never copied into the repo. */
export const FIXTURES_DIR = fixturesDir();
export const SCHEMA_FILE = join(FIXTURES_DIR, 'opendental', 'opendental_24.3_schema.sql');

/** Server of the real-database tests: `TENDRIL_TEST_MARIADB_URL`, default root on localhost. */
const SERVER_URL = process.env['TENDRIL_TEST_MARIADB_URL'] ?? 'mysql://root@127.0.0.1:3306';

/** The session settings @tendril/sql uses: keys and dates as text, the session clock in UTC. */
const READ_OPTIONS = {
  dateStrings: true,
  supportBigNumbers: true,
  bigNumberStrings: true,
  timezone: '+00:00',
} as const;

export interface FixtureDatabase {
  readonly name: string;
  readonly connection: mysql.Connection;
  drop(): Promise<void>;
}

/** Creates `tendril_od_<purpose>_<random>`, loads the schema into it and connects to it. */
export async function createFixtureDatabase(purpose: string): Promise<FixtureDatabase> {
  const name = `tendril_od_${purpose}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: SERVER_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
  await admin.end();
  const connection = await mysql.createConnection({
    uri: SERVER_URL,
    database: name,
    multipleStatements: true,
    ...READ_OPTIONS,
  });
  await connection.query("SET time_zone = '+00:00'");
  await connection.query(await readFile(SCHEMA_FILE, 'utf8'));
  return {
    name,
    connection,
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
    },
  };
}
