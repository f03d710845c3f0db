import type { Knex } from 'knex';
import { cellText, TendrilError } from '@tendril/core';
import {
  type GeneratorDialect,
  generatorDialectOf,
  InsertSession,
  Random,
  type Seed,
  type SqlValue,
  STREET_NAMES,
  STREET_SUFFIXES,
} from '@tendril/testing';

export interface EditPatientsOptions {
  /** How many distinct patients to change. */
  readonly count: number;
  /** Which patients and which new values; default `'edit'`. */
  readonly seed?: Seed;
  /** Default: read from the knex client. */
  readonly dialect?: GeneratorDialect;
}

/** Columns an edit may change, most realistic first; the first one the table has is used. */
const EDITABLE = ['HmPhone', 'Address', 'WirelessPhone', 'Email', 'FName', 'LName'] as const;
type Editable = (typeof EDITABLE)[number];

function seedError(message: string, details: Record<string, unknown>): TendrilError {
  return new TendrilError('TENDRIL_E_SEED', message, { details });
}

function newValue(rng: Random, column: Editable): string {
  switch (column) {
    case 'HmPhone':
    case 'WirelessPhone':
      return `(555)555-01${String(rng.int(0, 99)).padStart(2, '0')}`;
    case 'Address':
      return `${rng.int(100, 19999)} ${rng.pick(STREET_NAMES)} ${rng.pick(STREET_SUFFIXES)}`;
    case 'Email':
      return `moved${rng.int(1, 99999)}@example.com`;
    case 'FName':
    case 'LName':
      return `Edited${rng.int(1, 99999)}`;
    default:
      return column satisfies never;
  }
}

/**
 * Changes `count` existing patients the way a front desk would (a new home phone, else a new
 * address…), each to a value different from its current one, and returns their PatNums.
 *
 * The change stamp moves the way it does in the field: on MySQL/MariaDB by the column's
 * `ON UPDATE CURRENT_TIMESTAMP` (the value really changes, so MySQL does bump it); on SQLite, which
 * has no such clause, DateTStamp is set explicitly to the current UTC time as
 * `YYYY-MM-DD HH:MM:SS`. Used by "edit N patients → exactly N updated" acceptance tests.
 * Deterministic: the same seed on the same data picks the same patients and values.
 */
export async function editPatients(knex: Knex, options: EditPatientsOptions): Promise<string[]> {
  const { count } = options;
  if (!Number.isInteger(count) || count < 0)
    throw seedError('count must be a non-negative integer', { option: 'count' });
  const dialect = options.dialect ?? generatorDialectOf(knex);
  const rng = new Random(options.seed ?? 'edit');

  const session = await InsertSession.start(knex, dialect);
  let success = false;
  try {
    const columns = (await session.columnsOf('patient')) ?? [];
    const byLower = new Map(columns.map((c) => [c.toLowerCase(), c]));
    const key = byLower.get('patnum');
    const editable = EDITABLE.find((c) => byLower.has(c.toLowerCase()));
    if (key === undefined || editable === undefined) {
      throw seedError(`the patient table needs PatNum and one of ${EDITABLE.join(', ')} to be edited`, {
        table: 'patient',
      });
    }
    const target = byLower.get(editable.toLowerCase()) as string;
    const stamp = dialect === 'sqlite' ? byLower.get('datetstamp') : undefined;

    const q = (name: string) => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
    const rows = await session.query(
      `SELECT ${q(key)} AS k, ${q(target)} AS v FROM patient ORDER BY ${q(key)}`,
    );
    if (count > rows.length) {
      throw seedError(
        `asked to edit ${count} patients but the table holds ${rows.length}; seed more patients`,
        { count, patients: rows.length },
      );
    }
    // Partial Fisher–Yates: the first `count` slots become a uniform sample without repeats.
    const order = rows.map((_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = rng.int(i, order.length - 1);
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const chosen = order.slice(0, count).map((i) => rows[i] as Record<string, unknown>);

    const edited: string[] = [];
    for (const row of chosen) {
      const current = row.v === null || row.v === undefined ? null : cellText(row.v);
      let value = newValue(rng, editable);
      while (value === current) value = newValue(rng, editable);
      const sets = [`${q(target)} = ?`];
      const bindings: SqlValue[] = [value];
      if (stamp !== undefined) {
        sets.push(`${q(stamp)} = ?`);
        bindings.push(new Date().toISOString().slice(0, 19).replace('T', ' '));
      }
      bindings.push(row.k as SqlValue);
      await session.run(`UPDATE patient SET ${sets.join(', ')} WHERE ${q(key)} = ?`, bindings);
      edited.push(String(row.k));
    }
    success = true;
    return edited;
  } finally {
    await session.end(success);
  }
}
