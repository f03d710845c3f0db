import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { MARIADB } from './mariadb.js';
import { FIXTURES, requireFixture } from './paths.js';

export const OPENEMR_SCHEMA = resolve(FIXTURES, 'openemr/database.sql');
export const OPENEMR_EXAMPLE_PATIENTS = resolve(FIXTURES, 'openemr/example_patient_data.sql');
export const OPENEMR_EXAMPLE_USERS = resolve(FIXTURES, 'openemr/example_patient_users.sql');

/**
 * The office zone of the OpenEMR tests: no DST, so the session offset OpenEMR would set
 * (`SET time_zone`, from PHP's zone) is one fixed value.
 */
export const OPENEMR_TEST_ZONE = 'America/Phoenix';
export const OPENEMR_TEST_OFFSET = '-07:00';

export interface OpenEmrDatabase {
  readonly name: string;
  readonly url: string;
  /**
   * A connection that writes as OpenEMR does: its session clock in the office zone, so
   * `DATETIME … DEFAULT/ON UPDATE CURRENT_TIMESTAMP` stamps are office wall time (`db-local`) and
   * `TIMESTAMP` columns still store UTC. Reads text dates and string bigints like @tendril/sql.
   */
  connect(): Promise<mysql.Connection>;
  drop(): Promise<void>;
}

/** A fresh `tendril_emr_<purpose>_<hex>` database (utf8mb4) with OpenEMR's schema, optionally its example patients. */
export async function createOpenEmrDatabase(
  purpose: string,
  options: { examples?: boolean } = {},
): Promise<OpenEmrDatabase> {
  const name = `tendril_emr_${purpose}_${randomBytes(4).toString('hex')}`;
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
    await connection.query(`SET time_zone = '${OPENEMR_TEST_OFFSET}'`);
    return connection;
  };
  const loader = await connect();
  try {
    await loader.query(readFileSync(requireFixture(OPENEMR_SCHEMA), 'utf8'));
    if (options.examples) {
      await loader.query(readFileSync(requireFixture(OPENEMR_EXAMPLE_PATIENTS), 'utf8'));
      await loader.query(readFileSync(requireFixture(OPENEMR_EXAMPLE_USERS), 'utf8'));
    }
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

/** A day `offset` days from today in the office zone, `YYYY-MM-DD`. */
export function officeDay(offset: number): string {
  const local = new Date(Date.now() - 7 * 3_600_000 + offset * 86_400_000);
  return local.toISOString().slice(0, 10);
}
