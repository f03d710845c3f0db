import { readFileSync } from 'node:fs';
import type { ColumnDeclarations, TableDefinition } from '@tendril/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureDatabase, SCHEMA_FILE, type FixtureDatabase } from './fixture-database.test-support.js';
import { openDental } from './index.js';

/**
 * MariaDB reports integer types with their display width: a column created as `tinyint` reads back
 * as `tinyint(4)`, `bigint` as `bigint(20)`, `int` as `int(11)`. The width changes nothing about the
 * values, so both the declaration and the live type are normalised the same way: a bare integer
 * type gets MariaDB's default width. Explicit widths stay, so `tinyint(1)` still differs from
 * `tinyint(4)`. The exact spelling is checked separately against the schema file's DDL.
 */
const DEFAULT_WIDTH: Readonly<Record<string, number>> = {
  tinyint: 4,
  smallint: 6,
  mediumint: 9,
  int: 11,
  bigint: 20,
};
function normaliseType(type: string): string {
  const lower = type.trim().toLowerCase();
  const width = DEFAULT_WIDTH[lower];
  return width === undefined ? lower : `${lower}(${width})`;
}

/** Column → declared type of every `CREATE TABLE` in the fixture, as written there. */
function ddlTypes(): Map<string, Map<string, string>> {
  const tables = new Map<string, Map<string, string>>();
  const sql = readFileSync(SCHEMA_FILE, 'utf8');
  for (const match of sql.matchAll(/CREATE TABLE `(\w+)` \(\n([\s\S]*?)\n\) ENGINE/g)) {
    const columns = new Map<string, string>();
    for (const line of match[2]!.split('\n')) {
      const column = /^\s*`(\w+)` (\S+(?: unsigned)?)/.exec(line);
      if (column) columns.set(column[1]!, column[2]!);
    }
    tables.set(match[1]!, columns);
  }
  return tables;
}

/** One table the connector reads, with the columns, key and stamps it declares for it. */
interface ReadTable {
  readonly where: string;
  readonly table: string;
  readonly columns: ColumnDeclarations;
  readonly key: readonly string[];
  readonly stamps: readonly string[];
}

function readTables(stream: string, definition: TableDefinition): ReadTable[] {
  const mainStamps: string[] = [];
  const stampsOf = new Map<string, string[]>();
  if (definition.cursor.mode === 'timestamp') {
    mainStamps.push(definition.cursor.column);
    for (const also of definition.cursor.also ?? []) {
      const [alias, column] = also.split('.') as [string, string];
      stampsOf.set(alias, [...(stampsOf.get(alias) ?? []), column]);
    }
  }
  const out: ReadTable[] = [
    {
      where: `${stream}`,
      table: definition.table,
      columns: definition.columns,
      key: definition.key,
      stamps: mainStamps,
    },
  ];
  for (const join of definition.joins ?? []) {
    out.push({
      where: `${stream} join ${join.alias}`,
      table: join.table,
      columns: join.columns,
      key: join.key,
      stamps: stampsOf.get(join.alias) ?? [],
    });
  }
  if (definition.deleteLog) {
    const log = definition.deleteLog;
    out.push({
      where: `${stream} delete log`,
      table: log.table,
      columns: log.columns,
      key: log.key,
      stamps: [log.cursor.column],
    });
  }
  return out;
}

const cases = Object.entries(openDental.streams).flatMap(([stream, definition]) =>
  readTables(stream, definition),
);

describe('Open Dental connector against the real 24.3 schema', () => {
  let db: FixtureDatabase;
  const live = new Map<string, Map<string, { type: string; dataType: string }>>();
  const primaryKeys = new Map<string, string[]>();
  const ddl = ddlTypes();

  beforeAll(async () => {
    db = await createFixtureDatabase('schema');
    const [columns] = await db.connection.query<RowDataPacket[]>(
      'SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ?',
      [db.name],
    );
    for (const row of columns) {
      const table = live.get(row['TABLE_NAME']) ?? new Map();
      table.set(row['COLUMN_NAME'], { type: String(row['COLUMN_TYPE']), dataType: String(row['DATA_TYPE']) });
      live.set(row['TABLE_NAME'], table);
    }
    const [keys] = await db.connection.query<RowDataPacket[]>(
      `SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION`,
      [db.name],
    );
    for (const row of keys)
      primaryKeys.set(row['TABLE_NAME'], [...(primaryKeys.get(row['TABLE_NAME']) ?? []), row['COLUMN_NAME']]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('loaded the whole fixture', () => {
    expect(live.size).toBe(408);
    expect(ddl.size).toBe(408);
  });

  it('covers every stream, join and delete log', () => {
    expect(new Set(cases.map((c) => c.table))).toEqual(
      new Set([
        'patient',
        'provider',
        'clinic',
        'operatory',
        'appointmenttype',
        'appointment',
        'deletedobject',
        'procedurelog',
        'procedurecode',
        'patplan',
        'inssub',
        'insplan',
        'carrier',
      ]),
    );
  });

  describe.each(cases)('$where ($table)', ({ table, columns, key, stamps }) => {
    it('declares every column with the live type', () => {
      const actual = live.get(table);
      expect(actual, `table ${table} exists`).toBeDefined();
      const declared = Object.entries(columns).map(([column, type]) => [column, normaliseType(type)]);
      const found = Object.keys(columns).map((column) => {
        const type = actual!.get(column)?.type;
        return [column, type === undefined ? '(missing)' : normaliseType(type)];
      });
      expect(found).toEqual(declared);
    });

    it('spells every type exactly as the schema file does', () => {
      const source = ddl.get(table)!;
      expect(Object.entries(columns)).toEqual(
        Object.keys(columns).map((column) => [column, source.get(column) ?? '(missing)']),
      );
    });

    it('keys on the primary key', () => {
      expect(primaryKeys.get(table)).toEqual([...key]);
    });

    it('uses timestamp columns as change stamps', () => {
      for (const stamp of stamps)
        expect([stamp, live.get(table)!.get(stamp)?.dataType]).toEqual([stamp, 'timestamp']);
    });
  });
});
