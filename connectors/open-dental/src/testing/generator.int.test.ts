import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import {
  createMysqlTestDatabase,
  createSqliteTestDatabase,
  createTablesFromDeclarations,
  type TestDatabase,
} from '@tendril/testing';
import { editPatients } from './edit-patients.js';
import { openDentalSchemaSql } from './schema-sql.test-support.js';
import {
  OPEN_DENTAL_SEED_TABLES,
  seedOpenDental,
  type OpenDentalSeedTable,
  type SeedSummary,
} from './generator.js';
import { SAMPLE_PATIENT, SAMPLE_TABLES } from '@tendril/testing/test-support/sample-declarations';

const NOW = new Date('2025-06-15T15:30:00Z');
const PATIENTS = 500;
const STAMPS = new Set(['DateTStamp', 'SecDateTEdit']);
const KEYS: Record<OpenDentalSeedTable, string> = {
  definition: 'DefNum',
  clinic: 'ClinicNum',
  provider: 'ProvNum',
  operatory: 'OperatoryNum',
  appointmenttype: 'AppointmentTypeNum',
  procedurecode: 'CodeNum',
  carrier: 'CarrierNum',
  insplan: 'PlanNum',
  patient: 'PatNum',
  inssub: 'InsSubNum',
  patplan: 'PatPlanNum',
  appointment: 'AptNum',
  procedurelog: 'ProcNum',
  deletedobject: 'DeletedObjectNum',
};
const SAMPLE_TABLE_NAMES = ['patient', 'appointment', 'deletedobject', 'procedurelog', 'procedurecode'];

async function rowsOf(
  knex: Knex,
  sql: string,
  bindings: readonly (string | number)[] = [],
): Promise<Record<string, unknown>[]> {
  const result: unknown = await knex.raw(sql, bindings as (string | number)[]);
  const client = String(knex.client.config.client);
  return (client.includes('mysql') ? (result as unknown[])[0] : result) as Record<string, unknown>[];
}

/** Every row of a table except the DB-stamped columns, in key order, optionally only some columns. */
async function tableRows(
  knex: Knex,
  table: string,
  only?: readonly string[],
): Promise<Record<string, unknown>[]> {
  const rows = await knex(table)
    .select('*')
    .orderBy(KEYS[table as OpenDentalSeedTable]);
  return rows.map((row: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(row)
        .filter(([c]) => !STAMPS.has(c) && (only === undefined || only.includes(c)))
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    ),
  );
}

async function checksum(
  knex: Knex,
  tables: readonly string[],
  only?: Record<string, readonly string[]>,
): Promise<string> {
  const hash = createHash('sha256');
  for (const table of tables)
    hash.update(`${table}\n${JSON.stringify(await tableRows(knex, table, only?.[table]))}\n`);
  return hash.digest('hex');
}

async function countsMatch(knex: Knex, summary: SeedSummary): Promise<void> {
  for (const table of OPEN_DENTAL_SEED_TABLES) {
    if (summary.missingTables.includes(table)) {
      expect(summary.rows[table], table).toBe(0);
      continue;
    }
    const [row] = await rowsOf(knex, `SELECT COUNT(*) AS n FROM ${table}`);
    expect(Number(row?.n), table).toBe(summary.rows[table]);
  }
}

async function declaredDatabase(kind: 'mysql' | 'sqlite'): Promise<TestDatabase> {
  const db =
    kind === 'mysql' ? await createMysqlTestDatabase('tendril_gen_') : await createSqliteTestDatabase();
  await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, kind);
  return db;
}

describe('seedOpenDental into tables built from declarations', () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });
  const fresh = async (kind: 'mysql' | 'sqlite') => {
    const db = await declaredDatabase(kind);
    dbs.push(db);
    return db;
  };

  for (const kind of ['mysql', 'sqlite'] as const) {
    it(`${kind}: reports true counts, fills only the declared tables, and is deterministic per seed`, async () => {
      const first = await fresh(kind);
      const progress: number[] = [];
      const summary = await seedOpenDental(first.knex, {
        patients: PATIENTS,
        seed: 'alpha',
        dialect: kind,
        now: NOW,
        batchSize: 100,
        onProgress: (done, total) => {
          expect(total).toBe(PATIENTS);
          progress.push(done);
        },
      });
      expect(summary.patients).toBe(PATIENTS);
      expect(summary.rows.patient).toBe(PATIENTS);
      expect(summary.rows.appointment).toBeGreaterThan(PATIENTS / 2);
      expect(summary.rows.procedurelog).toBeGreaterThan(summary.rows.appointment);
      expect(summary.rows.procedurecode).toBe(26);
      expect([...summary.missingTables].sort()).toEqual(
        OPEN_DENTAL_SEED_TABLES.filter((t) => !SAMPLE_TABLE_NAMES.includes(t)).sort(),
      );
      await countsMatch(first.knex, summary);
      // Progress climbs batch by batch and ends at the total.
      expect(progress.length).toBeGreaterThan(2);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress.at(-1)).toBe(PATIENTS);

      // The database stamped the change columns itself.
      const [stamped] = await rowsOf(
        first.knex,
        `SELECT COUNT(*) AS n FROM patient WHERE DateTStamp > '2020-01-01'`,
      );
      expect(Number(stamped?.n)).toBe(PATIENTS);

      const again = await fresh(kind);
      const summaryAgain = await seedOpenDental(again.knex, {
        patients: PATIENTS,
        seed: 'alpha',
        dialect: kind,
        now: NOW,
      });
      expect(summaryAgain.rows).toEqual(summary.rows);
      const sum = await checksum(first.knex, SAMPLE_TABLE_NAMES);
      expect(await checksum(again.knex, SAMPLE_TABLE_NAMES)).toBe(sum);

      const other = await fresh(kind);
      await seedOpenDental(other.knex, { patients: PATIENTS, seed: 'beta', dialect: kind, now: NOW });
      expect(await checksum(other.knex, ['patient'])).not.toBe(await checksum(first.knex, ['patient']));
    });
  }

  it('writes the same values on MariaDB and SQLite for the same seed', async () => {
    const [mysql, sqlite] = await Promise.all([fresh('mysql'), fresh('sqlite')]);
    await seedOpenDental(mysql.knex, { patients: 200, seed: 7, dialect: 'mysql', now: NOW });
    await seedOpenDental(sqlite.knex, { patients: 200, seed: 7, dialect: 'sqlite', now: NOW });
    for (const table of SAMPLE_TABLE_NAMES) {
      expect(await tableRows(sqlite.knex, table), table).toEqual(await tableRows(mysql.knex, table));
    }
  });

  it('gives every patient the same family and deleted status whatever the day it runs', async () => {
    // The README's tour prints how many seeded patients are deleted; that count must not move with the date.
    const identity = ['PatNum', 'LName', 'Guarantor', 'PatStatus'];
    const [today, later] = await Promise.all([fresh('sqlite'), fresh('sqlite')]);
    await seedOpenDental(today.knex, { patients: 300, seed: 'days', dialect: 'sqlite', now: NOW });
    await seedOpenDental(later.knex, {
      patients: 300,
      seed: 'days',
      dialect: 'sqlite',
      now: new Date('2027-02-01T08:00:00Z'),
    });
    // Deceased (5) is decided by age, which does move with the date; deleted (4) and the rest do not.
    const alive = (rows: Record<string, unknown>[]) =>
      rows.map((r) => ({ ...r, PatStatus: Number(r['PatStatus']) === 5 ? 0 : Number(r['PatStatus']) }));
    const first = alive(await tableRows(today.knex, 'patient', identity));
    expect(first.filter((r) => r['PatStatus'] === 4).length).toBeGreaterThan(0);
    expect(alive(await tableRows(later.knex, 'patient', identity))).toEqual(first);
  });

  it('writes an explicit stamp when asked to', async () => {
    const db = await fresh('sqlite');
    await seedOpenDental(db.knex, {
      patients: 20,
      dialect: 'sqlite',
      now: NOW,
      stamp: new Date('2024-03-04T05:06:07Z'),
    });
    const stamps = await rowsOf(
      db.knex,
      'SELECT DISTINCT DateTStamp AS s FROM appointment UNION SELECT DISTINCT DateTStamp FROM patient',
    );
    expect(stamps).toEqual([{ s: '2024-03-04 05:06:07' }]);
  });

  it('refuses to seed over existing rows, and without a patient table', async () => {
    const db = await fresh('sqlite');
    await seedOpenDental(db.knex, { patients: 5, dialect: 'sqlite', now: NOW });
    const error = await seedOpenDental(db.knex, { patients: 5, dialect: 'sqlite', now: NOW }).catch(
      (e: unknown) => e,
    );
    expect(isTendrilError(error, 'TENDRIL_E_SEED')).toBe(true);
    expect((error as Error).message).toMatch(/already has rows/);

    const empty = await createSqliteTestDatabase();
    dbs.push(empty);
    const missing = await seedOpenDental(empty.knex, { patients: 5, dialect: 'sqlite', now: NOW }).catch(
      (e: unknown) => e,
    );
    expect(isTendrilError(missing, 'TENDRIL_E_SEED')).toBe(true);
    expect((missing as Error).message).toMatch(/no patient table/);
  });

  for (const kind of ['mysql', 'sqlite'] as const) {
    it(`${kind}: editPatients changes exactly N patients and moves exactly their DateTStamp`, async () => {
      const db = await fresh(kind);
      await seedOpenDental(db.knex, { patients: 300, seed: 'edit-test', dialect: kind, now: NOW });
      const before = await tableRows(db.knex, 'patient');
      // Park every stamp in the past; the edit must bring exactly the edited ones to now.
      await db.knex('patient').update({ DateTStamp: '2020-01-01 00:00:00' });

      const edited = await editPatients(db.knex, { count: 10, seed: 'e1' });
      expect(edited).toHaveLength(10);
      expect(new Set(edited).size).toBe(10);

      const moved = await rowsOf(
        db.knex,
        `SELECT PatNum FROM patient WHERE DateTStamp > '2020-01-01 00:00:00' ORDER BY PatNum`,
      );
      expect(moved.map((r) => String(r.PatNum))).toEqual([...edited].sort((a, b) => Number(a) - Number(b)));

      const after = await tableRows(db.knex, 'patient');
      const changed = after
        .filter((row, i) => JSON.stringify(row) !== JSON.stringify(before[i]))
        .map((r) => String(r.PatNum));
      expect(changed.sort()).toEqual([...edited].sort());
      for (const row of after.filter((r) => edited.includes(String(r.PatNum)))) {
        expect(row.HmPhone).toMatch(/^\(555\)555-01\d\d$/);
      }
    });
  }

  it('editPatients is deterministic for a seed and refuses more patients than exist', async () => {
    const [a, b] = await Promise.all([fresh('sqlite'), fresh('sqlite')]);
    for (const db of [a, b])
      await seedOpenDental(db.knex, { patients: 50, seed: 1, dialect: 'sqlite', now: NOW });
    expect(await editPatients(b.knex, { count: 5, seed: 'x' })).toEqual(
      await editPatients(a.knex, { count: 5, seed: 'x' }),
    );
    expect(await checksum(b.knex, ['patient'])).toBe(await checksum(a.knex, ['patient']));
    const error = await editPatients(a.knex, { count: 51, seed: 'x' }).catch((e: unknown) => e);
    expect(isTendrilError(error, 'TENDRIL_E_SEED')).toBe(true);
  });
});

describe('seedOpenDental into the real Open Dental 24.3 schema (MariaDB)', () => {
  let real: TestDatabase;
  let declared: TestDatabase;
  let summary: SeedSummary;
  beforeAll(async () => {
    real = await createMysqlTestDatabase('tendril_gen_');
    await real.knex.raw(openDentalSchemaSql());
    summary = await seedOpenDental(real.knex, {
      patients: PATIENTS,
      seed: 'alpha',
      dialect: 'mysql',
      now: NOW,
    });
    declared = await declaredDatabase('mysql');
    await seedOpenDental(declared.knex, { patients: PATIENTS, seed: 'alpha', dialect: 'mysql', now: NOW });
  });
  afterAll(async () => {
    await real?.drop();
    await declared?.drop();
  });

  it('fills every table it knows, with the counts it reports, indexes back on', async () => {
    expect(summary.missingTables).toEqual([]);
    for (const table of OPEN_DENTAL_SEED_TABLES) expect(summary.rows[table], table).toBeGreaterThan(0);
    await countsMatch(real.knex, summary);
    expect(summary.rows.clinic).toBe(2);
    expect(summary.rows.provider).toBe(4);
    // DISABLE KEYS was undone: no index is left disabled.
    const disabled = await rowsOf(
      real.knex,
      `SELECT TABLE_NAME FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND COMMENT = 'disabled'`,
    );
    expect(disabled).toEqual([]);
  });

  it('is deterministic over every table and column of the real schema', async () => {
    const twin = await createMysqlTestDatabase('tendril_gen_');
    try {
      await twin.knex.raw(openDentalSchemaSql());
      await seedOpenDental(twin.knex, {
        patients: PATIENTS,
        seed: 'alpha',
        dialect: 'mysql',
        now: NOW,
        batchSize: 77,
      });
      expect(await checksum(twin.knex, OPEN_DENTAL_SEED_TABLES)).toBe(
        await checksum(real.knex, OPEN_DENTAL_SEED_TABLES),
      );
    } finally {
      await twin.drop();
    }
  });

  it('writes the same values as into the declared-columns schema (the generator only projects)', async () => {
    const only = Object.fromEntries(
      SAMPLE_TABLES.flatMap((t) => [
        [t.table, Object.keys(t.columns)],
        ...(t.joins ?? []).map((j) => [j.table, Object.keys(j.columns)]),
        ...(t.deleteLog ? [[t.deleteLog.table, Object.keys(t.deleteLog.columns)]] : []),
      ]),
    ) as Record<string, string[]>;
    expect(await checksum(real.knex, SAMPLE_TABLE_NAMES, only)).toBe(
      await checksum(declared.knex, SAMPLE_TABLE_NAMES),
    );
  });

  it('produces realistic patients and families', async () => {
    const patients = await tableRows(real.knex, 'patient');
    const byNum = new Map(patients.map((p) => [p.PatNum, p]));
    for (const p of patients) {
      expect(
        String(p.Birthdate) >= '1935-01-01' && String(p.Birthdate) <= '2022-12-31',
        String(p.Birthdate),
      ).toBe(true);
      for (const phone of [p.HmPhone, p.WkPhone, p.WirelessPhone])
        expect(phone).toMatch(/^(\(555\)555-01\d\d)?$/);
      if (p.Email !== '') expect(p.Email).toMatch(/^[a-z]+\.[a-z]+\d+@example\.(com|net|org)$/);
      const guarantor = byNum.get(p.Guarantor);
      expect(guarantor?.Guarantor).toBe(p.Guarantor);
      expect(guarantor?.LName).toBe(p.LName);
      expect(guarantor?.Address).toBe(p.Address);
      expect([0, 1, 2]).toContain(p.Gender);
      expect(p.DateTimeDeceased === '0001-01-01 00:00:00').toBe(p.PatStatus !== 5);
    }
    const statuses = patients.map((p) => p.PatStatus as number);
    const active = statuses.filter((s) => s === 0).length;
    expect(active / patients.length).toBeGreaterThan(0.85);
    expect(statuses.some((s) => s === 2)).toBe(true);
    // Families: fewer guarantors than patients, and some shared.
    const guarantors = new Set(patients.map((p) => p.Guarantor));
    expect(guarantors.size).toBeLessThan(patients.length * 0.8);
    expect(guarantors.size).toBeGreaterThan(patients.length * 0.3);
    const insured = await rowsOf(real.knex, 'SELECT COUNT(DISTINCT PatNum) AS n FROM patplan');
    expect(Number(insured[0]?.n) / PATIENTS).toBeGreaterThan(0.45);
    expect(Number(insured[0]?.n) / PATIENTS).toBeLessThan(0.75);
    const hygienists = await rowsOf(real.knex, 'SELECT COUNT(*) AS n FROM provider WHERE IsSecondary = 1');
    expect(Number(hygienists[0]?.n)).toBeGreaterThanOrEqual(2);
  });

  it('produces a year of appointments on a 5-minute grid, with procedures tied to them', async () => {
    const apts = await tableRows(real.knex, 'appointment');
    const statuses = new Set(apts.map((a) => a.AptStatus));
    for (const s of [1, 2, 3, 5, 6]) expect(statuses.has(s), `AptStatus ${s}`).toBe(true);
    for (const a of apts) {
      expect(a.Pattern).toMatch(/^[X/]+$/);
      if (a.AptStatus === 6) {
        expect(a.AptDateTime).toBe('0001-01-01 00:00:00');
        continue;
      }
      const when = String(a.AptDateTime);
      expect(when >= '2024-09-14' && when < '2025-09-16', when).toBe(true);
      expect(Number(when.slice(14, 16)) % 5).toBe(0);
      const day = new Date(`${when.slice(0, 10)}T00:00:00Z`).getUTCDay();
      expect([0, 6]).not.toContain(day);
      if (a.AptStatus === 2) expect(when.slice(0, 10) < '2025-06-15').toBe(true);
      expect(a.DateTimeArrived === '0001-01-01 00:00:00').toBe(a.AptStatus !== 2);
    }
    const [orphans] = await rowsOf(
      real.knex,
      `SELECT COUNT(*) AS n FROM procedurelog p LEFT JOIN appointment a ON a.AptNum = p.AptNum
        WHERE p.ProcStatus = 2 AND (a.AptNum IS NULL OR a.AptStatus <> 2 OR a.PatNum <> p.PatNum OR DATE(a.AptDateTime) <> p.ProcDate)`,
    );
    expect(Number(orphans?.n)).toBe(0);
    const [unknownCodes] = await rowsOf(
      real.knex,
      'SELECT COUNT(*) AS n FROM procedurelog p LEFT JOIN procedurecode c ON c.CodeNum = p.CodeNum WHERE c.CodeNum IS NULL',
    );
    expect(Number(unknownCodes?.n)).toBe(0);
    const byStatus = await rowsOf(
      real.knex,
      'SELECT ProcStatus AS s, COUNT(*) AS n FROM procedurelog GROUP BY ProcStatus ORDER BY ProcStatus',
    );
    expect(byStatus.map((r) => r.s)).toEqual([1, 2]);
    const [fees] = await rowsOf(real.knex, 'SELECT MIN(ProcFee) AS lo, MAX(ProcFee) AS hi FROM procedurelog');
    expect(Number(fees?.lo)).toBeGreaterThan(0);
    const [deleted] = await rowsOf(
      real.knex,
      'SELECT COUNT(*) AS n FROM deletedobject d JOIN appointment a ON a.AptNum = d.ObjectNum',
    );
    expect(Number(deleted?.n)).toBe(0);
    const codes = await rowsOf(
      real.knex,
      `SELECT ProcCode AS code, Descript AS d FROM procedurecode WHERE ProcCode IN ('D0120', 'D1110', 'D0274')`,
    );
    expect(codes).toEqual([
      { code: 'D0120', d: 'periodic oral evaluation - established patient' },
      { code: 'D0274', d: 'bitewings - four radiographic images' },
      { code: 'D1110', d: 'prophylaxis - adult' },
    ]);
  });

  it('editPatients on the real schema moves DateTStamp through ON UPDATE', async () => {
    await real.knex('patient').update({ DateTStamp: '2020-01-01 00:00:00' });
    const edited = await editPatients(real.knex, { count: 10, seed: 'real' });
    const moved = await rowsOf(
      real.knex,
      `SELECT PatNum FROM patient WHERE DateTStamp > '2020-01-01 00:00:00' ORDER BY PatNum`,
    );
    expect(moved.map((r) => String(r.PatNum))).toEqual([...edited].sort((a, b) => Number(a) - Number(b)));
  });

  it('with clinics disabled, writes no clinic and ClinicNum 0 everywhere', async () => {
    const db = await createMysqlTestDatabase('tendril_gen_');
    try {
      await db.knex.raw(openDentalSchemaSql());
      const result = await seedOpenDental(db.knex, {
        patients: 60,
        seed: 'solo',
        dialect: 'mysql',
        now: NOW,
        clinics: 0,
      });
      expect(result.rows.clinic).toBe(0);
      expect(result.rows.provider).toBe(3);
      for (const table of ['patient', 'appointment', 'operatory', 'procedurelog']) {
        const [row] = await rowsOf(
          db.knex,
          `SELECT COUNT(*) AS n, SUM(ClinicNum <> 0) AS other FROM ${table}`,
        );
        expect(Number(row?.n), table).toBeGreaterThan(0);
        expect(Number(row?.other), table).toBe(0);
      }
    } finally {
      await db.drop();
    }
  });

  it('keeps the sample patient declaration honest: every declared column exists in the real schema', async () => {
    const columns = await rowsOf(
      real.knex,
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'patient'`,
    );
    const real_ = new Map(columns.map((c) => [c.c, String(c.t).replace(/^tinyint\(4\)$/, 'tinyint')]));
    for (const [name, type] of Object.entries(SAMPLE_PATIENT.columns))
      expect(real_.get(name), name).toBe(type);
  });
});
