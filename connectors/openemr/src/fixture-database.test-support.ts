/**
 * Test support (not shipped): a fresh MariaDB database holding OpenEMR's real schema
 * (`sql/database.sql`, 8.2.0-dev) and, on request, its 14 example patients and 2 users, loaded
 * from the shared fixture exactly as its README describes.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { fixturesDir } from '@tendril/testing';

/** Where the vendor fixtures live (the one rule: `fixturesDir()`); read at test time, never copied into the repo. */
export const FIXTURES_DIR = fixturesDir();
export const SCHEMA_FILE = join(FIXTURES_DIR, 'openemr', 'database.sql');
export const EXAMPLE_PATIENTS_FILE = join(FIXTURES_DIR, 'openemr', 'example_patient_data.sql');
export const EXAMPLE_USERS_FILE = join(FIXTURES_DIR, 'openemr', 'example_patient_users.sql');

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
  readonly url: string;
  readonly connection: mysql.Connection;
  drop(): Promise<void>;
}

/** Creates `tendril_emr_<purpose>_<random>` (utf8mb4, as OpenEMR installs it) and loads the schema. */
export async function createOpenEmrDatabase(
  purpose: string,
  options: { examples?: boolean } = {},
): Promise<FixtureDatabase> {
  const name = `tendril_emr_${purpose}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: SERVER_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  await admin.end();
  const connection = await mysql.createConnection({
    uri: SERVER_URL,
    database: name,
    multipleStatements: true,
    ...READ_OPTIONS,
  });
  await connection.query("SET time_zone = '+00:00'");
  await connection.query(await readFile(SCHEMA_FILE, 'utf8'));
  if (options.examples) {
    await connection.query(await readFile(EXAMPLE_PATIENTS_FILE, 'utf8'));
    await connection.query(await readFile(EXAMPLE_USERS_FILE, 'utf8'));
  }
  return {
    name,
    url: `${SERVER_URL}/${name}`,
    connection,
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
    },
  };
}
