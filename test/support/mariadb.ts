import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { OPEN_DENTAL_SCHEMA, requireFixture } from './paths.js';

export const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' } as const;

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A root connection to this database, reading like @tendril/sql does (text dates, string bigints, UTC). */
  connect(): Promise<mysql.Connection>;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ ...MARIADB });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
  await admin.end();
  return {
    name,
    url: `mysql://root@127.0.0.1:3306/${name}`,
    async connect() {
      const connection = await mysql.createConnection({
        ...MARIADB,
        database: name,
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        timezone: '+00:00',
        multipleStatements: true,
      });
      await connection.query("SET time_zone = '+00:00'");
      return connection;
    },
    async drop() {
      const root = await mysql.createConnection({ ...MARIADB });
      await root.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await root.end();
    },
  };
}

/** Loads the real Open Dental 24.3 schema (408 tables, MyISAM as shipped; InnoDB on request). */
export async function loadOpenDentalSchema(
  db: TestDatabase,
  options: { innodb?: boolean } = {},
): Promise<void> {
  let ddl = readFileSync(requireFixture(OPEN_DENTAL_SCHEMA), 'utf8');
  if (options.innodb) ddl = ddl.replace(/ENGINE=MyISAM/g, 'ENGINE=InnoDB');
  const connection = await db.connect();
  try {
    await connection.query(ddl);
  } finally {
    await connection.end();
  }
}
