// Test support for Dentrix Enterprise: a small deterministic data set for every table its streams
// read (the replica's and the public-query tables). Exported as `@tendril/connector-dentrix-enterprise/testing` for tests
// and `tendril seed`; the connector's main entry never imports it.
import { connectorSeeding } from '@tendril/testing';
import { dentrixEnterprise } from '../index.js';
import { seedDentrixEnterprise } from './generator.js';

export * from './generator.js';

const DAY_MS = 86_400_000;

/**
 * `tendril seed --connector dentrix-enterprise`: tables from the declarations (the MariaDB form
 * of the Dentrix Enterprise tables; SQL Server itself is not seeded), rows from
 * {@link seedDentrixEnterprise} with appointments around today and every row stamped yesterday.
 */
export const seeding = connectorSeeding({
  tables: Object.values(dentrixEnterprise.streams),
  mysqlEngine: 'InnoDB',
  seed: async (knex, request) => {
    const started = Date.now();
    const now = new Date();
    const yesterday = new Date(now.getTime() - DAY_MS).toISOString().slice(0, 10);
    const counts = await seedDentrixEnterprise(knex, {
      patients: request.patients,
      seed: request.seed,
      around: now,
      stamp: `${yesterday} 09:30:00.000`,
    });
    request.onProgress?.(request.patients, request.patients);
    // Resources, patients and appointments first: the report reads `seeded 9 DDB_RSC_BASE, 40 DDB_PAT_BASE, …`.
    const { DDB_RSC_BASE, DDB_PAT_BASE, DDB_APPT_BASE, ...rest } = counts.rowsByTable;
    const rows = { DDB_RSC_BASE, DDB_PAT_BASE, DDB_APPT_BASE, ...rest };
    return { seed: request.seed, rows, durationMs: Date.now() - started };
  },
});
