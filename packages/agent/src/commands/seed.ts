import { TendrilError } from '@tendril/core';
import { createSqlClient } from '@tendril/sql';
import {
  createTablesFromDeclarations,
  seedOpenDental,
  seedOpenEmr,
  type OpenEmrSeedSummary,
  type SeedSummary,
} from '@tendril/testing';
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

/** Data generators by connector id; a connector without one cannot be seeded yet. */
const GENERATORS = {
  'open-dental': seedOpenDental,
  openemr: seedOpenEmr,
} as const;

/** Storage engine of the tables `seed` creates, per connector (the vendor's own default). */
const MYSQL_ENGINES: Readonly<Record<string, 'MyISAM' | 'InnoDB'>> = { openemr: 'InnoDB' };

/** `tendril seed`: create the connector's tables if missing, then fill them with generated rows. */
export async function runSeed(
  options: SeedOptions,
): Promise<{ createdTables: string[]; summary: SeedSummary | OpenEmrSeedSummary }> {
  const connector = await loadConnector(options.connector);
  const generator = GENERATORS[options.connector as keyof typeof GENERATORS];
  if (!generator) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `connector ${options.connector} has no data generator yet; generators exist for: ${Object.keys(GENERATORS).join(', ')}`,
    );
  }
  const client = createSqlClient({ url: options.url });
  try {
    if (client.dialect !== 'mysql' && client.dialect !== 'sqlite') {
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `seeding ${client.dialect} is not supported; use a mysql:// (MariaDB/MySQL) or sqlite: URL`,
      );
    }
    const engine = MYSQL_ENGINES[options.connector];
    const createdTables = await createTablesFromDeclarations(
      client.knex,
      Object.values(connector.streams),
      client.dialect,
      engine ? { mysqlEngine: engine } : {},
    );
    const summary = await generator(client.knex, {
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
        const { createdTables, summary } = await runSeed({ ...opts, onProgress: progress.update });
        progress.stop();
        if (createdTables.length) ctx.write(`created tables: ${createdTables.join(', ')}`);
        ctx.write(`seeded ${renderSeedRows(summary)} in ${summary.durationMs} ms (seed "${summary.seed}")`);
      } finally {
        progress.stop();
      }
    });
};
