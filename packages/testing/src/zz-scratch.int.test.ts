import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { seedOpenDental } from './open-dental-generator.js';
import { createMysqlTestDatabase, createSqliteTestDatabase } from './test-databases.js';
import { createTablesFromDeclarations } from './ddl.js';
import { SAMPLE_TABLES } from './sample-declarations.js';

const N = Number(process.env.N ?? 100000);
it('bench mysql real', async () => {
  const db = await createMysqlTestDatabase('tendril_gen_');
  try {
    await db.knex.raw(readFileSync('/work/shared/fixtures/opendental/opendental_24.3_schema.sql', 'utf8'));
    const t0 = Date.now();
    const s = await seedOpenDental(db.knex, { patients: N, dialect: 'mysql', seed: 1, now: new Date('2025-06-15T12:00:00Z') });
    const ms = Date.now() - t0;
    const total = Object.values(s.rows).reduce((a, b) => a + b, 0);
    console.log('mysql real', N, ms, 'ms', total, 'rows', Math.round(total / ms * 1000), 'rows/s', JSON.stringify(s.rows));
  } finally { await db.drop(); }
}, 600000);
it('bench sqlite declared', async () => {
  const db = await createSqliteTestDatabase();
  try {
    await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'sqlite');
    const t0 = Date.now();
    const s = await seedOpenDental(db.knex, { patients: N, dialect: 'sqlite', seed: 1, now: new Date('2025-06-15T12:00:00Z') });
    const ms = Date.now() - t0;
    console.log('sqlite declared', N, ms, 'ms', JSON.stringify(s.rows), s.missingTables);
  } finally { await db.drop(); }
}, 600000);
