import type { Knex } from 'knex';
import { TendrilError, type TableDefinition } from '@tendril/core';
import { planTables } from './ddl.js';

export interface SeedDeclaredOptions {
  /** Rows per table. Default 25. */
  readonly rows?: number;
  /** Written into every date-time column (cursor stamps included): a fixed past instant keeps runs reproducible. */
  readonly stamp?: string;
}

function valueFor(column: string, type: string, i: number, stamp: string): string | number {
  const base = type
    .trim()
    .toLowerCase()
    .replace(/\s*\(.*$/, '');
  const length = Number(/\((\d+)/.exec(type)?.[1] ?? 255);
  if (/int$|^bit$|^integer$/.test(base)) return /^(tiny|bit)/.test(base) ? 0 : i;
  if (/^(decimal|numeric|float|double|real)$/.test(base)) return i * 10;
  if (base === 'date') return `19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10}`;
  if (/^(datetime|datetime2|timestamp|smalldatetime)$/.test(base)) return stamp;
  if (base === 'time') return '09:30:00';
  let text: string;
  if (/phone/i.test(column)) text = `(303) 555-${String(1000 + i).slice(-4)}`;
  else if (/mail/i.test(column)) text = `person${i}@example.com`;
  else text = `${column} ${i}`;
  return text.slice(0, Math.max(1, length));
}

/**
 * Fills every table a set of declarations reads with `rows` deterministic rows (keys 1..rows;
 * integer columns i, dates and stamps fixed, text `<Column> <i>`). For connectors with no vendor
 * data generator (the provisional Dolphin and Orthotrac maps): enough to exercise every stream,
 * not realistic data. Create the tables first with `createTablesFromDeclarations`.
 */
export async function seedFromDeclarations(
  knex: Knex,
  tables: readonly TableDefinition[],
  options: SeedDeclaredOptions = {},
): Promise<Record<string, number>> {
  const rows = options.rows ?? 25;
  if (!Number.isInteger(rows) || rows < 1)
    throw new TendrilError('TENDRIL_E_SEED', 'rows must be a whole number ≥ 1', { details: { rows } });
  const stamp = options.stamp ?? '2024-01-15 10:00:00';
  const written: Record<string, number> = {};
  for (const plan of planTables(tables)) {
    const batch: Record<string, string | number>[] = [];
    for (let i = 1; i <= rows; i++) {
      const row: Record<string, string | number> = {};
      for (const [column, type] of plan.columns) row[column] = valueFor(column, type, i, stamp);
      batch.push(row);
    }
    await knex.batchInsert(plan.name, batch, 100);
    written[plan.name] = rows;
  }
  return written;
}
