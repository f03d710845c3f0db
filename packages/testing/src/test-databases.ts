import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';

/**
 * Throw-away real databases for integration tests: a fresh MariaDB/MySQL database or a SQLite file
 * in a temp folder, with a knex instance on it and a `drop()` that removes everything. Tests use
 * real engines, never mocks, because type coercion, timestamps and multi-row limits are exactly
 * what they must exercise.
 *
 * Servers: `TENDRIL_TEST_MARIADB_URL` (default `mysql://root@127.0.0.1:3306`, as the connector
 * tests use) and `TENDRIL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`).
 */
export interface TestDatabase {
  readonly knex: Knex;
  /** The MySQL database name, or the SQLite file path. */
  readonly name: string;
  drop(): Promise<void>;
}

const DATABASE_NAME = /^[A-Za-z0-9_]+$/;

function urlConnection(
  envName: string,
  fallback: string,
): { host: string; port: number; user: string; password: string } {
  const url = new URL(process.env[envName] ?? fallback);
  return {
    host: url.hostname,
    port: Number(url.port || (url.protocol.startsWith('postgres') ? 5432 : 3306)),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

function mysqlConnection(database?: string): Knex.MySql2ConnectionConfig {
  return {
    ...urlConnection('TENDRIL_TEST_MARIADB_URL', 'mysql://root@127.0.0.1:3306'),
    // Dates as the text the server holds: no time-zone shifts, exact comparisons.
    dateStrings: true,
    multipleStatements: true,
    ...(database === undefined ? {} : { database }),
  };
}

/** Creates a uniquely named MariaDB database (`<prefix><random>`, utf8mb3 like Open Dental). */
export async function createMysqlTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  if (!DATABASE_NAME.test(name)) throw new Error('test database prefix must be letters, digits and _');
  const admin = knexFactory({ client: 'mysql2', connection: mysqlConnection(), pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
  } finally {
    await admin.destroy();
  }
  const knex = knexFactory({ client: 'mysql2', connection: mysqlConnection(name), pool: { min: 0, max: 2 } });
  return {
    knex,
    name,
    async drop() {
      await knex.destroy();
      const dropper = knexFactory({
        client: 'mysql2',
        connection: mysqlConnection(),
        pool: { min: 0, max: 1 },
      });
      try {
        await dropper.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

function postgresConnection(database: string): Knex.PgConnectionConfig {
  return { ...urlConnection('TENDRIL_TEST_POSTGRES_URL', 'postgres://postgres@127.0.0.1:5432'), database };
}

/** Creates a uniquely named PostgreSQL database (`<prefix><random>`). */
export async function createPostgresTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  if (!DATABASE_NAME.test(name)) throw new Error('test database prefix must be letters, digits and _');
  const admin = () =>
    knexFactory({ client: 'pg', connection: postgresConnection('postgres'), pool: { min: 0, max: 1 } });
  const creator = admin();
  try {
    await creator.raw(`CREATE DATABASE "${name}"`);
  } finally {
    await creator.destroy();
  }
  const knex = knexFactory({ client: 'pg', connection: postgresConnection(name), pool: { min: 0, max: 2 } });
  return {
    knex,
    name,
    async drop() {
      await knex.destroy();
      const dropper = admin();
      try {
        await dropper.raw(`DROP DATABASE IF EXISTS "${name}"`);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

/** Creates an empty SQLite database file in a fresh temp folder. */
export async function createSqliteTestDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'tendril-gen-'));
  const file = join(dir, 'db.sqlite');
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
  });
  return {
    knex,
    name: file,
    async drop() {
      await knex.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
