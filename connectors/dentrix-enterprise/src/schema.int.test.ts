import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { declaredColumns, type TableDefinition } from '@tendril/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixtureDatabase,
  FIXTURES_DIR,
  MSSQL_SCHEMA_FILE,
  PUBLIC_QUERY_TABLES_FILE,
  PUBLIC_SQL_COLUMNS_FILE,
  type FixtureDatabase,
} from './fixture-database.test-support.js';
import { dentrixEnterprise } from './index.js';

/**
 * The connector's declarations against the Dentrix Enterprise 11.0 tables, at two evidence levels.
 * Replica tables: column names, order, nullability and keys are exact (copied from a public
 * replica), types inferred (README). Each declared column is checked three ways:
 * - in `columns.tsv` (11.0): the name exists with exactly this case;
 * - in the T-SQL DDL: the declared type is spelled exactly as there;
 * - in the MariaDB form, loaded into real MariaDB: the live type is the README's translation of
 *   the declared T-SQL type.
 * Public-query tables: only names are evidenced (`public-sql-columns.md`); each declared column
 * must be named there, and this repository's `fixtures/public-query-tables.mariadb.sql` (types
 * inferred, marked) must hold it with the translated type, so the streams run on a real database.
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

/** `table → column names` public queries name (`public-sql-columns.md`), views folded into their `_BASE` table. */
function publicQueryColumns(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of readFileSync(PUBLIC_SQL_COLUMNS_FILE, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const tables = [...cells[1]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
    const columns = [...cells[2]!.matchAll(/`([^`]+)`/g)].flatMap((m) => m[1]!.split(/,\s*/));
    for (const table of tables) out.set(table, new Set([...(out.get(table) ?? []), ...columns]));
  }
  return out;
}

/** Every table the streams read (main tables and joins), with the union of their declared columns. */
function tablesRead(): Map<
  string,
  { columns: Map<string, string>; key: readonly string[]; streams: Set<string> }
> {
  const out = new Map<
    string,
    { columns: Map<string, string>; key: readonly string[]; streams: Set<string> }
  >();
  const add = (name: string, columns: Record<string, string>, key: readonly string[], stream: string) => {
    const entry = out.get(name) ?? { columns: new Map<string, string>(), key, streams: new Set<string>() };
    for (const [column, type] of Object.entries(columns)) {
      const seen = entry.columns.get(column);
      // One table read by several streams must be declared alike everywhere.
      if (seen !== undefined && seen !== type) throw new Error(`${name}.${column}: ${seen} vs ${type}`);
      entry.columns.set(column, type);
    }
    entry.streams.add(stream);
    out.set(name, entry);
  };
  for (const [stream, table] of Object.entries(dentrixEnterprise.streams) as [string, TableDefinition][]) {
    add(table.table, table.columns, table.key, stream);
    for (const join of table.joins ?? []) add(join.table, join.columns, join.key, stream);
  }
  return out;
}

/** The six tables of the replica; everything else the connector reads is known from public queries. */
const REPLICA_TABLES = new Set([
  'DDB_APPT_BASE',
  'DDB_APPT_PROCCODE_BASE',
  'DDB_APPT_SCHEDULE_BASE',
  'DDB_PAT_BASE',
  'DDB_PROC_CODE_BASE',
  'DDB_RSC_BASE',
]);

const read = tablesRead();
const replicaCases = [...read.entries()]
  .filter(([name]) => REPLICA_TABLES.has(name))
  .map(([name, entry]) => ({ name, ...entry }));
const publicCases = [...read.entries()]
  .filter(([name]) => !REPLICA_TABLES.has(name))
  .map(([name, entry]) => ({ name, ...entry }));

describe('Dentrix Enterprise connector against the 11.0 tables (replica DDL + public-query tables on real MariaDB)', () => {
  let db: FixtureDatabase;
  const live = new Map<string, Map<string, string>>();
  const liveKeys = new Map<string, string[]>();
  const tsql = tsqlTables();
  const tsv = tsvColumns();
  const publicColumns = publicQueryColumns();

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

  it('loaded the replica (6 tables, 480 columns) and then the 4 public-query tables', () => {
    expect([...live.keys()].filter((t) => REPLICA_TABLES.has(t))).toHaveLength(6);
    expect(
      [...live.entries()].filter(([t]) => REPLICA_TABLES.has(t)).reduce((n, [, c]) => n + c.size, 0),
    ).toBe(480);
    expect(tsql.size).toBe(6);
    expect([...tsql.values()].reduce((n, t) => n + t.columns.size, 0)).toBe(480);
    expect([...live.keys()].filter((t) => !REPLICA_TABLES.has(t)).sort()).toEqual([
      'DDB_DEF_TEXT',
      'DDB_INSURANCE_BASE',
      'DDB_INSURED_BASE',
      'DDB_PROC_LOG_BASE',
    ]);
  });

  it('reads the replica tables it maps and only public-query tables named in public-sql-columns.md', () => {
    expect(replicaCases.map((c) => c.name).sort()).toEqual([
      'DDB_APPT_BASE',
      'DDB_APPT_PROCCODE_BASE',
      'DDB_PAT_BASE',
      'DDB_PROC_CODE_BASE',
      'DDB_RSC_BASE',
    ]);
    for (const { name } of publicCases) expect(publicColumns.has(name), name).toBe(true);
  });

  it('declares in the public-query DDL file only columns public queries name, each type marked inferred', () => {
    const ddl = readFileSync(PUBLIC_QUERY_TABLES_FILE, 'utf8');
    for (const match of ddl.matchAll(/CREATE TABLE `(\w+)` \(\n([\s\S]*?)\n\) ENGINE/g)) {
      const seen = publicColumns.get(match[1]!)!;
      for (const line of match[2]!.split('\n').filter((l) => l.trim().startsWith('`'))) {
        const column = /^\s*`(\w+)`/.exec(line)![1]!;
        expect(seen.has(column), `${match[1]}.${column}`).toBe(true);
        expect(line, `${match[1]}.${column}`).toMatch(/-- type inferred/);
      }
    }
  });

  it('states per stream what it rests on: replica tables only, or public queries to confirm with discover', () => {
    for (const [stream, table] of Object.entries(dentrixEnterprise.streams) as [string, TableDefinition][]) {
      const tables = [table.table, ...(table.joins ?? []).map((j) => j.table)];
      const usesPublic = tables.some((t) => !REPLICA_TABLES.has(t));
      expect(table.evidence, stream).toMatch(
        usesPublic ? /public queries.*confirm with discover$/ : /^replica DDL/,
      );
      if (!usesPublic) expect(table.evidence, stream).not.toMatch(/public queries/);
    }
  });

  describe.each(replicaCases)('replica table $name', ({ name, columns, key }) => {
    it('names every column exactly as columns.tsv (11.0) does, case included', () => {
      const names = tsv.get(name)!;
      expect([...columns.keys()].filter((c) => !names.has(c))).toEqual([]);
    });

    it('spells every type exactly as the T-SQL DDL does', () => {
      const ddl = tsql.get(name)!;
      expect([...columns.entries()]).toEqual(
        [...columns.keys()].map((c) => [c, ddl.columns.get(c)?.type ?? '(missing)']),
      );
    });

    it('finds every column in MariaDB with the translated type', () => {
      const actual = live.get(name)!;
      expect([...columns.entries()].map(([c, type]) => [c, mariadbTypeOf(type)])).toEqual(
        [...columns.keys()].map((c) => [c, actual.get(c) ?? '(missing)']),
      );
    });

    it('keys on the primary key, in both forms', () => {
      expect(tsql.get(name)!.key).toEqual([...key]);
      expect(liveKeys.get(name)).toEqual([...key]);
    });
  });

  describe.each(publicCases)('public-query table $name', ({ name, columns, key }) => {
    it('names every column exactly as public queries do, case included', () => {
      const seen = publicColumns.get(name)!;
      expect([...columns.keys()].filter((c) => !seen.has(c))).toEqual([]);
    });

    it('finds every column in the MariaDB form with the translated (inferred) type, keyed as declared', () => {
      const actual = live.get(name)!;
      expect([...columns.entries()].map(([c, type]) => [c, mariadbTypeOf(type)])).toEqual(
        [...columns.keys()].map((c) => [c, actual.get(c) ?? '(missing)']),
      );
      expect(liveKeys.get(name)).toEqual([...key]);
    });
  });

  it.each(Object.entries(dentrixEnterprise.streams) as [string, TableDefinition][])(
    '%s uses a datetime change stamp (precision 3) when it has a cursor',
    (_stream, table) => {
      if (table.cursor.mode !== 'timestamp') return;
      for (const column of [table.cursor.column, table.cursor.fallback].filter((c) => c !== undefined)) {
        expect(table.columns[column]).toBe('datetime');
        expect(live.get(table.table)!.get(column)).toBe('datetime(3)');
      }
      expect(table.cursor.precision).toBe(3);
    },
  );

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
