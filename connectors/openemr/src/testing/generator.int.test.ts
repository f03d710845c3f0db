import { mapRow, mappingContext, type Row } from '@tendril/core';
import { openEmr } from '@tendril/connector-openemr';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteTestDatabase, createTablesFromDeclarations, type TestDatabase } from '@tendril/testing';
import { seedOpenEmr, syntheaProblems } from './generator.js';

const NOW = new Date('2025-06-15T12:00:00Z');
const ctx = mappingContext({
  connectionId: 'gen',
  connectorId: 'openemr',
  timezone: 'America/Phoenix',
  options: {},
});

/** The generator on the tables `tendril seed` creates from the connector's declarations (SQLite). */
describe('seedOpenEmr', () => {
  const databases: TestDatabase[] = [];
  afterEach(async () => {
    for (const db of databases.splice(0)) await db.drop();
  });

  async function seeded(syntheaDir: string | false) {
    const db = await createSqliteTestDatabase();
    databases.push(db);
    await createTablesFromDeclarations(db.knex, Object.values(openEmr.streams), 'sqlite');
    const summary = await seedOpenEmr(db.knex, {
      patients: 60,
      seed: 'gen',
      dialect: 'sqlite',
      now: NOW,
      syntheaDir,
    });
    return { db, summary };
  }

  /**
   * Columns the generator leaves to the database: a `timestamp` column defaults to the current
   * time, so two seeds that straddle a second boundary differ there. Every other column is the
   * generator's and is compared; these are only checked to be stamped.
   */
  const DATABASE_STAMPED: Readonly<Record<string, readonly string[]>> = { lists: ['modifydate'] };

  async function dump(db: TestDatabase): Promise<Record<string, unknown[]>> {
    const out: Record<string, unknown[]> = {};
    for (const table of [
      'patient_data',
      'openemr_postcalendar_events',
      'billing',
      'lists',
      'insurance_data',
    ]) {
      const stamped = DATABASE_STAMPED[table] ?? [];
      const rows = (await db.knex(table).select('*').orderBy(1)) as Record<string, unknown>[];
      out[table] = rows.map((row) => {
        const controlled = { ...row };
        for (const column of stamped) {
          expect(controlled[column], `${table}.${column}`).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
          delete controlled[column];
        }
        return controlled;
      });
    }
    return out;
  }

  it('writes the same rows for the same seed and day, without Synthea', async () => {
    const a = await seeded(false);
    const b = await seeded(false);
    expect(a.summary.synthea).toBe(false);
    expect(a.summary.rows.patient_data).toBe(60);
    expect(a.summary.rows).toEqual(b.summary.rows);
    expect(await dump(a.db)).toEqual(await dump(b.db));
  });

  it('gives every generated row of every stream a valid mapping', async () => {
    const { db, summary } = await seeded(false);
    for (const [stream, table] of Object.entries(openEmr.streams)) {
      const rows = (await db.knex(table.table).select('*')) as Row[];
      if (stream === 'procedures' || stream === 'charges' || stream === 'coverage') continue; // joined: checked end to end
      const mapped = rows.map((row) => mapRow(table, row, ctx, '2025-06-15T12:00:00Z'));
      expect(mapped.length, stream).toBeGreaterThan(0);
      expect(mapped.filter((m) => m.kind === 'live').length, stream).toBeGreaterThan(0);
    }
    expect(summary.rows.form_encounter).toBeGreaterThan(0);
    expect(summary.rows.billing).toBeGreaterThan(summary.rows.form_encounter);
  });

  it('mixes in Synthea SNOMED problems when the sample is present', async () => {
    const problems = syntheaProblems(undefined);
    if (problems.length === 0) return; // the shared fixtures are not beside this checkout
    expect(problems.every(([code]) => /^\d+$/.test(code))).toBe(true);
    const { db, summary } = await seeded(undefined);
    expect(summary.synthea).toBe(true);
    const snomed = await db.knex('lists').where('diagnosis', 'like', 'SNOMED-CT:%').count({ n: '*' });
    expect(Number(snomed[0]!['n'])).toBeGreaterThan(0);
  });
});
