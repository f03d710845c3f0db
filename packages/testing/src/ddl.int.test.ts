import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTablesFromDeclarations } from './ddl.js';
import { SAMPLE_TABLES } from './sample-declarations.test-support.js';
import {
  createMysqlTestDatabase,
  createPostgresTestDatabase,
  createSqliteTestDatabase,
  type TestDatabase,
} from './test-databases.js';

const EXPECTED_TABLES = ['patient', 'appointment', 'deletedobject', 'procedurelog', 'procedurecode'];

describe('createTablesFromDeclarations on MariaDB', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase('tendril_gen_');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const columns = async (table: string) => {
    const [rows] = (await db.knex.raw(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS def, EXTRA AS extra, COLUMN_KEY AS k
         FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [table],
    )) as [Record<string, string | null>[]];
    return rows;
  };

  it('creates every referenced table once, and nothing on the second call', async () => {
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'mysql')).toEqual(EXPECTED_TABLES);
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'mysql')).toEqual([]);
  });

  it('uses the declared names and vendor types, with Open Dental defaults', async () => {
    const patient = await columns('patient');
    expect(patient.map((c) => c.name)).toEqual(Object.keys(SAMPLE_TABLES[0]!.columns));
    const byName = Object.fromEntries(patient.map((c) => [c.name, c]));
    expect(byName.PatNum).toMatchObject({
      type: 'bigint(20)',
      nullable: 'NO',
      k: 'PRI',
      extra: 'auto_increment',
    });
    expect(byName.LName).toMatchObject({ type: 'varchar(100)', nullable: 'NO', def: "''" });
    // MariaDB reports a bare tinyint with its display width.
    expect(byName.Gender).toMatchObject({ type: 'tinyint(4)', nullable: 'NO', def: '0' });
    expect(byName.Birthdate).toMatchObject({ type: 'date', nullable: 'NO', def: "'0001-01-01'" });
    expect(byName.DateTimeDeceased).toMatchObject({ type: 'datetime', def: "'0001-01-01 00:00:00'" });
    expect(byName.EstBalance).toMatchObject({ type: 'double', def: '0' });
    expect(byName.AddrNote).toMatchObject({ type: 'text', nullable: 'YES' });
    expect(byName.DateTStamp).toMatchObject({
      type: 'timestamp',
      nullable: 'NO',
      def: 'current_timestamp()',
      extra: 'on update current_timestamp()',
    });

    // Columns merged from the join declaration; procedurecode's key comes from the join.
    const code = await columns('procedurecode');
    expect(code.map((c) => c.name)).toEqual(['CodeNum', 'ProcCode', 'Descript', 'DateTStamp']);
    expect(code[0]).toMatchObject({ k: 'PRI', extra: 'auto_increment' });
    const log = await columns('deletedobject');
    expect(log.map((c) => [c.name, c.type])).toEqual([
      ['DeletedObjectNum', 'bigint(20)'],
      ['ObjectNum', 'bigint(20)'],
      ['ObjectType', 'int(11)'],
      ['DateTStamp', 'timestamp'],
    ]);
  });

  it('indexes each timestamp cursor column (main, cursor.also, delete log) and uses MyISAM', async () => {
    const [indexes] = (await db.knex.raw(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM INFORMATION_SCHEMA.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY' ORDER BY TABLE_NAME, COLUMN_NAME`,
    )) as [{ t: string; c: string }[]];
    expect(indexes).toEqual([
      { t: 'appointment', c: 'DateTStamp' },
      { t: 'deletedobject', c: 'DateTStamp' },
      { t: 'patient', c: 'DateTStamp' },
      { t: 'procedurecode', c: 'DateTStamp' },
      { t: 'procedurelog', c: 'DateTStamp' },
    ]);
    const [engines] = (await db.knex.raw(
      `SELECT DISTINCT ENGINE AS e, TABLE_COLLATION AS c FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = DATABASE()`,
    )) as [{ e: string; c: string }[]];
    expect(engines).toEqual([{ e: 'MyISAM', c: 'utf8mb3_general_ci' }]);
  });

  it('behaves like Open Dental on insert and update: auto key, default stamp, ON UPDATE', async () => {
    await db.knex('patient').insert({ LName: 'Test' });
    const [row] = await db.knex('patient').select('*');
    expect(row).toMatchObject({ PatNum: 1, LName: 'Test', FName: '', Birthdate: '0001-01-01', Gender: 0 });
    expect(row.DateTStamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    await db.knex('patient').update({ DateTStamp: '2020-01-01 00:00:00' });
    await db.knex('patient').update({ FName: 'Changed' });
    const [after] = await db.knex('patient').select('DateTStamp');
    expect(after.DateTStamp).not.toBe('2020-01-01 00:00:00');
    await db.knex('patient').del();
  });

  it('leaves an existing table alone', async () => {
    await db.knex.raw('DROP TABLE procedurelog');
    await db.knex.raw('CREATE TABLE patient_extra (x int)');
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'mysql')).toEqual(['procedurelog']);
  });
});

describe('createTablesFromDeclarations on SQLite', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates the tables with declared types, an INTEGER rowid key and Open Dental defaults', async () => {
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'sqlite')).toEqual(EXPECTED_TABLES);
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'sqlite')).toEqual([]);
    const info = (await db.knex.raw(
      'SELECT name, type, "notnull" AS nn, dflt_value AS def, pk FROM pragma_table_info(?)',
      ['patient'],
    )) as Record<string, unknown>[];
    const byName = Object.fromEntries(info.map((c) => [c.name, c]));
    // INTEGER, not bigint(20): only the literal INTEGER type makes the key a rowid alias.
    expect(byName.PatNum).toMatchObject({ type: 'INTEGER', pk: 1 });
    expect(byName.HmPhone).toMatchObject({ type: 'varchar(30)', nn: 1, def: "''" });
    expect(byName.Birthdate).toMatchObject({ type: 'date', def: "'0001-01-01'" });
    expect(byName.Gender).toMatchObject({ type: 'tinyint', def: '0' });
    expect(byName.DateTStamp).toMatchObject({ type: 'timestamp', nn: 1, def: 'CURRENT_TIMESTAMP' });

    await db.knex('patient').insert({ LName: 'A' });
    await db.knex('patient').insert({ LName: 'B' });
    const rows = await db
      .knex('patient')
      .select('PatNum', 'Birthdate', 'Gender', 'EstBalance', 'DateTStamp')
      .orderBy('PatNum');
    expect(rows.map((r) => r.PatNum)).toEqual([1, 2]);
    expect(rows[0]).toMatchObject({ Gender: 0, EstBalance: 0 });
    expect(rows[0].Birthdate).toBe('0001-01-01');
    expect(rows[0].DateTStamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    const indexes = (await db.knex.raw(
      `SELECT tbl_name AS t FROM sqlite_master WHERE type = 'index' AND sql LIKE '%DateTStamp%' ORDER BY tbl_name`,
    )) as {
      t: string;
    }[];
    expect(indexes.map((i) => i.t)).toEqual([
      'appointment',
      'deletedobject',
      'patient',
      'procedurecode',
      'procedurelog',
    ]);
  });
});

describe('createTablesFromDeclarations on PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPostgresTestDatabase('tendril_gen_');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('translates MySQL types and makes the integer key an identity', async () => {
    expect(await createTablesFromDeclarations(db.knex, SAMPLE_TABLES, 'postgres')).toEqual(EXPECTED_TABLES);
    const { rows } = (await db.knex.raw(
      `SELECT column_name AS name, data_type AS type, character_maximum_length AS len, column_default AS def, is_identity AS ident
         FROM information_schema.columns WHERE table_name = 'patient' ORDER BY ordinal_position`,
    )) as { rows: Record<string, unknown>[] };
    const byName = Object.fromEntries(rows.map((c) => [c.name, c]));
    expect(byName.PatNum).toMatchObject({ type: 'bigint', ident: 'YES' });
    expect(byName.LName).toMatchObject({ type: 'character varying', len: 100 });
    expect(byName.Gender).toMatchObject({ type: 'smallint' });
    expect(byName.EstBalance).toMatchObject({ type: 'double precision' });
    expect(byName.DateTimeDeceased).toMatchObject({ type: 'timestamp without time zone' });
    expect(byName.DateTStamp).toMatchObject({
      type: 'timestamp without time zone',
      def: 'CURRENT_TIMESTAMP',
    });
    const { rows: log } = (await db.knex.raw(
      `SELECT data_type AS type FROM information_schema.columns WHERE table_name = 'deletedobject' AND column_name = 'ObjectType'`,
    )) as { rows: { type: string }[] };
    expect(log[0]?.type).toBe('integer');
    await db.knex('patient').insert({ LName: 'A' });
    const [row] = await db.knex('patient').select('PatNum', 'Birthdate');
    expect(Number(row.PatNum)).toBe(1);
  });
});
