import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server of the tests (trust auth): `TENDRIL_TEST_POSTGRES_URL` or the local default. */
const SERVER = process.env['TENDRIL_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

function urlFor(database: string): string {
  const url = new URL(SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface PostgresTestDatabase {
  readonly name: string;
  /** URL of this database, for openPostgresStore. */
  readonly url: string;
  /** A fresh schema name for one store: every test gets an empty store without a new database. */
  nextSchema(): string;
  /** Runs SQL directly in this database (optionally in one schema), to look under the store. */
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[], schema?: string): Promise<R[]>;
  drop(): Promise<void>;
}

/**
 * Creates a database `tendril_pgs_<random>` for one test file; `drop()` removes it. `icuLocale`
 * gives it that ICU default collation (e.g. `en-US`, where `a` sorts before `B`), to prove that the
 * store does not depend on the database's collation.
 */
export async function createPostgresTestDatabase(
  options: { icuLocale?: string } = {},
): Promise<PostgresTestDatabase> {
  const name = `tendril_pgs_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: urlFor('postgres') });
  await admin.connect();
  try {
    const locale = options.icuLocale;
    if (locale !== undefined && !/^[A-Za-z-]+$/.test(locale))
      throw new Error('icuLocale must be letters and -');
    await admin.query(
      locale === undefined
        ? `CREATE DATABASE ${name}`
        : `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${locale}' LOCALE 'C.UTF-8'`,
    );
  } finally {
    await admin.end();
  }
  let schemas = 0;
  const url = urlFor(name);
  return {
    name,
    url,
    nextSchema: () => `s${(schemas += 1)}`,
    async query<R extends pg.QueryResultRow>(
      sql: string,
      params: unknown[] = [],
      schema?: string,
    ): Promise<R[]> {
      const client = new pg.Client({
        connectionString: url,
        ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
      });
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async drop() {
      const dropper = new pg.Client({ connectionString: urlFor('postgres') });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
