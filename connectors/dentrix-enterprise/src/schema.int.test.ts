import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { declaredColumns, type TableDefinition } from '@tendril/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixtureDatabase,
  FIXTURES_DIR,
  MSSQL_SCHEMA_FILE,
  type FixtureDatabase,
} from './fixture-database.test-support.js';
import { dentrixEnterprise } from './index.js';

/**
 * The connector's declarations against the Dentrix Enterprise 11.0 tables. Column names, order,
 * nullability and keys in the fixture are exact (copied from a public replica); its types are
 * inferred (README). So each declared column is checked three ways:
 * - in `columns.tsv` (11.0): the name exists with exactly this case;
 * - in the T-SQL DDL: the declared type is spelled exactly as there;
 * - in the MariaDB form, loaded into real MariaDB: the live type is the README's translation of
 *   the declared T-SQL type.
 */

/** README "dump type → _mssql.sql → _mariadb.sql", as MariaDB's information_schema reports them. */
function mariadbTypeOf(tsql: string): string {
  const varchar = /^varchar\((\d+)\)$/.exec(tsql);
  if (varchar) return `varchar(${varchar[1]})`;
  const map: Record<string, string> = {
    int: 'int(11)',
    smallint: 'smallint(6)',
    bigint: 'bigint(20)',
    datetime: 'datetime(3)',
    date: 'date',
    time: 'time',
    bit: 'tinyint(1)',
  };
  const out = map[tsql];
  if (out === undefined) throw new Error(`no MariaDB translation for T-SQL type ${tsql}`);
  return out;
}

interface DdlTable {
  readonly columns: Map<string, { type: string; nullable: boolean }>;
  readonly key: string[];
}

/** Every `CREATE TABLE [dbo].[…]` of the T-SQL file: column types as written, and the primary key. */
function tsqlTables(): Map<string, DdlTable> {
  const tables = new Map<string, DdlTable>();
  const sql = readFileSync(MSSQL_SCHEMA_FILE, 'utf8');
  for (const match of sql.matchAll(/CREATE TABLE \[dbo\]\.\[(\w+)\] \(\n([\s\S]*?)\n\);/g)) {
    const columns = new Map<string, { type: string; nullable: boolean }>();
    let key: string[] = [];
    for (const line of match[2]!.split('\n')) {
      const column = /^\s*\[(\w+)\] (\w+(?:\(\d+\))?) (NOT NULL|NULL)/.exec(line);
      if (column) columns.set(column[1]!, { type: column[2]!, nullable: column[3] === 'NULL' });
      const pk = /PRIMARY KEY \(([^)]*)\)/.exec(line);
      if (pk) key = pk[1]!.split(',').map((c) => c.trim().replace(/^\[|\]$/g, ''));
    }
    tables.set(match[1]!, { columns, key });
  }
  return tables;
}

/** `table → column names` of the 11.0 rows of columns.tsv. */
function tsvColumns(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const lines = readFileSync(join(FIXTURES_DIR, 'dentrix-enterprise', 'columns.tsv'), 'utf8')
    .trimEnd()
    .split('\n');
  const header = lines[0]!.split('\t');
  const [version, table, column] = ['schema_version', 'table', 'column'].map((h) => header.indexOf(h));
  for (const line of lines.slice(1)) {
    const cells = line.split('\t');
    if (cells[version!] !== '11.0') continue;
    const set = out.get(cells[table!]!) ?? new Set<string>();
    set.add(cells[column!]!);
    out.set(cells[table!]!, set);
  }
  return out;
}

const cases = Object.entries(dentrixEnterprise.streams).map(([stream, table]) => ({
  stream,
  table: table as TableDefinition,
}));

describe('Dentrix Enterprise connector against the 11.0 tables (T-SQL DDL + MariaDB form on real MariaDB)', () => {
  let db: FixtureDatabase;
  const live = new Map<string, Map<string, string>>();
  const liveKeys = new Map<string, string[]>();
  const tsql = tsqlTables();
  const tsv = tsvColumns();

  beforeAll(async () => {
    db = await createFixtureDatabase('schema');
    const [columns] = await db.connection.query<RowDataPacket[]>(
      'SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ?',
      [db.name],
    );
    for (const row of columns) {
      const table = live.get(row['TABLE_NAME']) ?? new Map<string, string>();
      table.set(row['COLUMN_NAME'], String(row['COLUMN_TYPE']).toLowerCase());
      live.set(row['TABLE_NAME'], table);
    }
    const [keys] = await db.connection.query<RowDataPacket[]>(
      `SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION`,
      [db.name],
    );
    for (const row of keys)
      liveKeys.set(row['TABLE_NAME'], [...(liveKeys.get(row['TABLE_NAME']) ?? []), row['COLUMN_NAME']]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('loaded the whole fixture: 6 tables, 480 columns, in both forms', () => {
    expect(live.size).toBe(6);
    expect([...live.values()].reduce((n, t) => n + t.size, 0)).toBe(480);
    expect(tsql.size).toBe(6);
    expect([...tsql.values()].reduce((n, t) => n + t.columns.size, 0)).toBe(480);
  });

  it('reads exactly the tables the fixture allows', () => {
    expect(new Set(cases.map((c) => c.table.table))).toEqual(
      new Set(['DDB_PAT_BASE', 'DDB_RSC_BASE', 'DDB_APPT_BASE']),
    );
  });

  describe.each(cases)('$stream ($table.table)', ({ table }) => {
    it('names every column exactly as columns.tsv (11.0) does, case included', () => {
      const names = tsv.get(table.table)!;
      expect(Object.keys(table.columns).filter((c) => !names.has(c))).toEqual([]);
    });

    it('spells every type exactly as the T-SQL DDL does', () => {
      const ddl = tsql.get(table.table)!;
      expect(Object.entries(table.columns)).toEqual(
        Object.keys(table.columns).map((c) => [c, ddl.columns.get(c)?.type ?? '(missing)']),
      );
    });

    it('finds every column in MariaDB with the translated type', () => {
      const actual = live.get(table.table)!;
      expect(Object.entries(table.columns).map(([c, type]) => [c, mariadbTypeOf(type)])).toEqual(
        Object.keys(table.columns).map((c) => [c, actual.get(c) ?? '(missing)']),
      );
    });

    it('keys on the primary key, in both forms', () => {
      expect(tsql.get(table.table)!.key).toEqual([...table.key]);
      expect(liveKeys.get(table.table)).toEqual([...table.key]);
    });

    it('uses a datetime change stamp (precision 3) when it has a cursor', () => {
      if (table.cursor.mode !== 'timestamp') return;
      expect(tsql.get(table.table)!.columns.get(table.cursor.column)?.type).toBe('datetime');
      expect(live.get(table.table)!.get(table.cursor.column)).toBe('datetime(3)');
      expect(table.cursor.precision).toBe(3);
    });
  });

  it('declares every column the writeback writes with the T-SQL type, and it exists in MariaDB', () => {
    const writeback = dentrixEnterprise.writeback!;
    for (const [name, declared] of Object.entries(writeback.tables ?? {})) {
      const table = declared.stream ? dentrixEnterprise.streams[declared.stream]!.table : declared.table!;
      const columns = Object.entries(declaredColumns(declared, dentrixEnterprise.streams));
      expect([name, columns]).toEqual([
        name,
        columns.map(([c]) => [c, tsql.get(table)?.columns.get(c)?.type ?? '(missing)']),
      ]);
      expect(columns.map(([c, type]) => [c, mariadbTypeOf(type)])).toEqual(
        columns.map(([c]) => [c, live.get(table)?.get(c) ?? '(missing)']),
      );
    }
  });
});
