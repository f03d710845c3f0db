import { sql, type Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import type { StoreTables } from './tables.js';

/**
 * Applies every step not yet recorded, in version order, in one transaction — even one numbered
 * below the highest recorded (steps written in parallel land in any order). A store whose recorded
 * versions go beyond this code's was written by a newer Tendril and is refused.
 */
export async function migrate(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  appliedAt: string,
): Promise<void> {
  await dialect.beginMigration(db);
  const applied = new Set(
    (await db.selectFrom('schema_migrations').select('version').execute()).map((row) => Number(row.version)),
  );
  const found = Math.max(0, ...applied);
  if (found > dialect.schemaVersion) {
    throw new TendrilError(
      'TENDRIL_E_STORE_SCHEMA',
      `The agent store has schema version ${found} but this Tendril knows only up to ${dialect.schemaVersion}; upgrade Tendril, or ${dialect.name === 'sqlite' ? 'point it at a new data directory' : 'point store.postgres at a new database'}.`,
      { details: { found, supported: dialect.schemaVersion } },
    );
  }
  for (const migration of [...dialect.migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    for (const statement of statementsOf(migration.sql)) await sql.raw(statement).execute(db);
    await db
      .insertInto('schema_migrations')
      .values({ version: migration.version, name: migration.name, applied_at: appliedAt })
      .execute();
  }
}

/**
 * The statements of a step's script, in order, each with its leading comments: the drivers run
 * one statement per call. Splits at `;` outside quotes and `--` comments (the steps' SQL has no
 * other construct that could hold one).
 */
export function statementsOf(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let quote: string | undefined;
  for (let i = 0; i < script.length; i += 1) {
    const char = script[i]!;
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '-' && script[i + 1] === '-') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? script.length : end;
    } else if (char === ';') {
      statements.push(script.slice(start, i + 1));
      start = i + 1;
    }
  }
  statements.push(script.slice(start));
  // A trailing piece of whitespace and comments is not a statement.
  return statements.filter((statement) => statement.replace(/--[^\n]*/g, '').trim() !== '');
}
