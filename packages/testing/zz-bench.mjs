import { readFileSync } from 'node:fs';
import { seedOpenDental } from './dist/open-dental-generator.js';
import { createMysqlTestDatabase } from './dist/test-databases.js';
const N = Number(process.env.N ?? 100000);
const db = await createMysqlTestDatabase('tendril_gen_');
try {
  await db.knex.raw(readFileSync('/work/shared/fixtures/opendental/opendental_24.3_schema.sql', 'utf8'));
  const t0 = Date.now();
  const s = await seedOpenDental(db.knex, { patients: N, dialect: 'mysql', seed: 1, now: new Date('2025-06-15T12:00:00Z'), batchSize: Number(process.env.B ?? 2000) });
  console.log('ms', Date.now() - t0);
} finally { await db.drop(); }
