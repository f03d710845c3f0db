import { isTendrilError, TendrilError, type TableDefinition } from '@tendril/core';
import { classifyDbError, createSqlClient } from '@tendril/sql';
import {
  hasTestSupport,
  loadGenericSeeding,
  loadTestSupport,
  TEST_SUPPORT_LOADERS,
} from '../connector-test-support.js';
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
  /** Fill the connector's declared tables with placeholder rows (`seedFromDeclarations`) instead of its generator. */
  fromDeclarations?: boolean;
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
  const connector = await loadConnector(options.connector); // an unknown id fails here, naming the installed connectors
  if (options.fromDeclarations) return seedFromOwnDeclarations(options, Object.values(connector.streams));
  if (!hasTestSupport(options.connector)) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `connector ${options.connector} has no data generator yet; generators exist for: ${Object.keys(TEST_SUPPORT_LOADERS).join(', ')}; --from-declarations fills its declared tables with placeholder rows`,
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
 * `tendril seed --from-declarations`: the connector's tables from its declarations (where missing)
 * and `patients` placeholder rows in every one of them (`seedFromDeclarations`, @tendril/testing:
 * keys unique within the live widths, joins consistent). Any connector, a just-scaffolded one
 * included; enough for a first sync, not realistic data.
 */
async function seedFromOwnDeclarations(
  options: SeedOptions,
  tables: readonly TableDefinition[],
): Promise<SeedResult> {
  const { createTablesFromDeclarations, seedFromDeclarations } = await loadGenericSeeding('tendril seed');
  const client = createSqlClient({ url: options.url });
  try {
    if (client.dialect !== 'mysql' && client.dialect !== 'sqlite' && client.dialect !== 'postgres') {
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `seeding ${client.dialect} is not supported; use a mysql://, postgres:// or sqlite: URL`,
      );
    }
    const started = Date.now();
    const createdTables = await createTablesFromDeclarations(client.knex, tables, client.dialect);
    const rows = await seedFromDeclarations(client.knex, tables, { rows: options.patients });
    options.onProgress?.(options.patients, options.patients);
    return { createdTables, summary: { seed: 'declarations', rows, durationMs: Date.now() - started } };
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
    .option(
      '--from-declarations',
      "no generator: fill the connector's declared tables with <n> placeholder rows each (any connector, a new one included)",
    )
    .action(
      async (opts: {
        connector: string;
        url: string;
        patients: number;
        seed: string;
        fromDeclarations?: boolean;
      }) => {
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
      },
    );
};
