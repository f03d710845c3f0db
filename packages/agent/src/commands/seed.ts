import { isTendrilError, TendrilError } from '@tendril/core';
import { classifyDbError, createSqlClient } from '@tendril/sql';
import { hasTestSupport, loadTestSupport, TEST_SUPPORT_LOADERS } from '../connector-test-support.js';
import { loadConnector } from '../registry.js';
import type { CommandRegistrar } from '../cli-context.js';
import { positiveInt } from '../cli-context.js';
import { renderSeedRows } from './demo.js';
import { createProgress } from '../progress.js';

export interface SeedOptions {
  connector: string;
  url: string;
  patients: number;
  seed: string;
  onProgress?: (done: number, total: number) => void;
}

/** What `seed` reports: the tables it created, and the generator's rows per table. */
export interface SeedResult {
  readonly createdTables: string[];
  readonly summary: {
    readonly seed: string;
    readonly rows: Readonly<Record<string, number>>;
    readonly durationMs: number;
  };
}

/**
 * `tendril seed`: create the connector's tables if missing, then fill them with generated rows.
 * The generator is the connector's test support, loaded only here (and by the demo).
 */
export async function runSeed(options: SeedOptions): Promise<SeedResult> {
  await loadConnector(options.connector); // an unknown id fails here, naming the installed connectors
  if (!hasTestSupport(options.connector)) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `connector ${options.connector} has no data generator yet; generators exist for: ${Object.keys(TEST_SUPPORT_LOADERS).join(', ')}`,
    );
  }
  const { seeding } = await loadTestSupport(options.connector, 'tendril seed');
  const client = createSqlClient({ url: options.url });
  try {
    if (client.dialect !== 'mysql' && client.dialect !== 'sqlite') {
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `seeding ${client.dialect} is not supported; use a mysql:// (MariaDB/MySQL) or sqlite: URL`,
      );
    }
    const createdTables = await seeding.createTables(client.knex, client.dialect);
    const summary = await seeding.seed(client.knex, {
      patients: options.patients,
      seed: options.seed,
      dialect: client.dialect,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { createdTables, summary };
  } finally {
    await client.close();
  }
}

/**
 * A database that is not there is a wrong `--url` (exit 2, with the statement that creates it);
 * other database errors keep their classification (docs/errors.md), never "unexpected failure".
 */
function seedFailure(error: unknown, url: string): unknown {
  if (isTendrilError(error) && error.code !== 'TENDRIL_E_INTERNAL') return error;
  const coded = classifyDbError(error);
  if (coded.details?.['code'] === 'ER_BAD_DB_ERROR' || coded.details?.['sqlState'] === '3D000') {
    let name = '<database>';
    try {
      name = decodeURIComponent(new URL(url).pathname.slice(1)) || name;
    } catch {
      // Not a URL with a path: the generic name is enough for the hint.
    }
    return new TendrilError(
      'TENDRIL_E_USAGE',
      `--url: the database "${name}" does not exist on that server; create it first, e.g. mariadb -uroot -e 'CREATE DATABASE ${name}'`,
      { cause: error },
    );
  }
  return coded;
}

/** `tendril seed`. */
export const registerSeedCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('seed')
    .description(
      "fill a database with generated data in a connector's schema (creating its tables if missing)",
    )
    .requiredOption('--connector <id>', 'connector id, e.g. open-dental')
    .requiredOption(
      '--url <db-url>',
      'database URL, e.g. mysql://root@127.0.0.1:3306/opendental or sqlite:./demo.db',
    )
    .requiredOption('--patients <n>', 'number of patients', positiveInt)
    .option('--seed <s>', 'generator seed (same seed, same rows)', 'tendril')
    .action(async (opts: { connector: string; url: string; patients: number; seed: string }) => {
      const progress = createProgress(ctx.io.stderr, 'seeding patients');
      try {
        const { createdTables, summary } = await runSeed({ ...opts, onProgress: progress.update }).catch(
          (error: unknown) => {
            throw seedFailure(error, opts.url);
          },
        );
        progress.stop();
        if (createdTables.length) ctx.write(`created tables: ${createdTables.join(', ')}`);
        ctx.write(`seeded ${renderSeedRows(summary)} in ${summary.durationMs} ms (seed "${summary.seed}")`);
      } finally {
        progress.stop();
      }
    });
};
