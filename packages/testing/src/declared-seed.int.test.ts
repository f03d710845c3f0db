import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTable, t, TendrilError } from '@tendril/core';
import { seedFromDeclarations } from './declared-seed.js';
import { createTablesFromDeclarations } from './ddl.js';
import { SAMPLE_TABLES } from './sample-declarations.test-support.js';
import { createMysqlTestDatabase, type TestDatabase } from './test-databases.js';

/**
 * A real schema the connector's declarations only approximate (as a new EHR's is at its first
 * run): 6-character text keys the declarations call `varchar(255)`, a definitions side table keyed
 * by a constant list type, a status filter, NOT NULL columns nobody declared, no defaults.
 */
const REAL_SCHEMA = `
  CREATE TABLE provider (
    provid CHAR(6) NOT NULL PRIMARY KEY,
    lname VARCHAR(12) NOT NULL,
    created DATETIME NOT NULL,
    branch SMALLINT NOT NULL,
    stamp DATETIME NOT NULL
  ) ENGINE=InnoDB;
  CREATE TABLE patient (
    patid VARCHAR(8) NOT NULL PRIMARY KEY,
    provid CHAR(6) NOT NULL,
    lname VARCHAR(30) NOT NULL,
    status CHAR(1) NOT NULL,
    lang INT NOT NULL,
    homephone VARCHAR(14) NULL,
    chartno VARCHAR(6) NOT NULL,
    stamp DATETIME NOT NULL
  ) ENGINE=InnoDB;
  CREATE TABLE deflist (
    listtype VARCHAR(4) NOT NULL,
    defid INT NOT NULL,
    descr VARCHAR(40) NOT NULL,
    PRIMARY KEY (listtype, defid)
  ) ENGINE=InnoDB;
`;

const CURSOR = { mode: 'timestamp', column: 'stamp', clock: 'db-local', precision: 0 } as const;

const providers = defineTable({
  resourceType: 'Practitioner',
  table: 'provider',
  key: ['provid'],
  columns: { provid: 'varchar(255)', lname: 'varchar(255)', stamp: 'datetime' },
  cursor: CURSOR,
  fields: { 'name.family': t.col('lname', t.str()) },
});

const patients = defineTable({
  resourceType: 'Patient',
  table: 'patient',
  key: ['patid'],
  columns: {
    patid: 'varchar(255)',
    provid: 'varchar(255)',
    lname: 'varchar(255)',
    status: 'varchar(255)',
    lang: 'int',
    homephone: 'varchar(255)',
    chartno: 'varchar(255)',
    stamp: 'datetime',
  },
  joins: [
    {
      table: 'provider',
      alias: 'pr',
      on: { provid: 'provid' },
      key: ['provid'],
      columns: { provid: 'varchar(255)', stamp: 'datetime' },
    },
    {
      table: 'deflist',
      alias: 'lng',
      on: { defid: 'lang' },
      onValues: { listtype: 'LANG' },
      key: ['listtype', 'defid'],
      columns: { listtype: 'varchar(255)', defid: 'int', descr: 'varchar(255)' },
    },
  ],
  where: { status: { in: ['A', 'I'] } },
  cursor: CURSOR,
  fields: {
    'name.family': t.col('lname', t.str()),
    practitionerId: t.ref('Practitioner', ['provid']),
  },
});

const ROWS = 40;

describe('seedFromDeclarations on a real schema (MariaDB, strict mode)', () => {
  let db: TestDatabase;
  const rows = async (sql: string) => ((await db.knex.raw(sql)) as [Record<string, unknown>[]])[0];
  const one = async (sql: string) => Number(Object.values((await rows(sql))[0]!)[0]);

  beforeAll(async () => {
    db = await createMysqlTestDatabase('tendril_seed_real_');
    await db.knex.raw(REAL_SCHEMA);
    await seedFromDeclarations(db.knex, [providers, patients], { rows: ROWS });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps every text key distinct within the live column width (no "provid" for every row)', async () => {
    expect(await one('SELECT COUNT(DISTINCT provid) FROM provider')).toBe(ROWS);
    expect(await one('SELECT COUNT(DISTINCT patid) FROM patient')).toBe(ROWS);
    expect(await one('SELECT MAX(CHAR_LENGTH(provid)) FROM provider')).toBeLessThanOrEqual(6);
    // A non-key column narrower than `<column> <i>` keeps the number: values stay distinct.
    expect(await one('SELECT COUNT(DISTINCT chartno) FROM patient')).toBe(ROWS);
    expect(await one('SELECT COUNT(DISTINCT lname) FROM provider')).toBe(ROWS);
  });

  it('fills joined tables consistently: every patient finds its provider', async () => {
    expect(await one('SELECT COUNT(*) FROM patient p JOIN provider pr ON pr.provid = p.provid')).toBe(ROWS);
  });

  it('gives a where filter and a constant-keyed join rows to match', async () => {
    expect(await one("SELECT COUNT(*) FROM patient WHERE status IN ('A', 'I')")).toBe(ROWS);
    expect(await one('SELECT COUNT(DISTINCT status) FROM patient')).toBe(2);
    const joined = await one(
      "SELECT COUNT(*) FROM patient p JOIN deflist d ON d.defid = p.lang AND d.listtype = 'LANG'",
    );
    expect(joined).toBe(ROWS);
  });

  it('fills NOT NULL columns the declarations do not name', async () => {
    expect(await one("SELECT COUNT(*) FROM provider WHERE created = '2024-01-15 10:00:00'")).toBe(ROWS);
    expect(await one('SELECT COUNT(DISTINCT branch) FROM provider')).toBe(ROWS);
  });

  it('fails with TENDRIL_E_SEED naming the column when a key is too narrow for the row count', async () => {
    await db.knex.raw('CREATE TABLE tiny (code CHAR(1) NOT NULL PRIMARY KEY, stamp DATETIME NOT NULL)');
    const tiny = defineTable({
      resourceType: 'Location',
      table: 'tiny',
      key: ['code'],
      columns: { code: 'varchar(255)', stamp: 'datetime' },
      cursor: CURSOR,
      fields: {},
    });
    const failure = await seedFromDeclarations(db.knex, [tiny], { rows: 40 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TendrilError);
    expect((failure as TendrilError).code).toBe('TENDRIL_E_SEED');
    expect((failure as TendrilError).message).toContain('table tiny: key column code holds 1 character(s)');
    // 35 rows fit one character: 1-9, then a-z (base 36).
    await expect(seedFromDeclarations(db.knex, [tiny], { rows: 35 })).resolves.toEqual({ tiny: 35 });
  });
});

describe('seedFromDeclarations on tables created from the declarations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase('tendril_seed_decl_');
    await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'mysql');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('fills every table with the requested rows', async () => {
    const written = await seedFromDeclarations(db.knex, SAMPLE_TABLES, { rows: 12 });
    expect(Object.values(written)).toEqual(Object.keys(written).map(() => 12));
    expect(Object.keys(written).sort()).toEqual(
      ['appointment', 'deletedobject', 'patient', 'procedurecode', 'procedurelog'].sort(),
    );
  });
});
