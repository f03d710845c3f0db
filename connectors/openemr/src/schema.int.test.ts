import { readFileSync } from 'node:fs';
import { declaredColumns, type ColumnDeclarations, type TableDefinition } from '@tendril/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenEmrDatabase, SCHEMA_FILE, type FixtureDatabase } from './fixture-database.test-support.js';
import { openEmr } from './index.js';

/**
 * Every column the connector declares, checked against OpenEMR's real `sql/database.sql` loaded
 * into MariaDB. Declarations spell types as MariaDB reports them (`COLUMN_TYPE`), except that a
 * bare integer gets MariaDB's default display width, as in the Open Dental schema test. The DDL
 * text itself is checked too, case- and space-insensitively (the file mixes `DATETIME`, `TINYTEXT`
 * and `VARCHAR( 3 )` with lower case).
 */
const DEFAULT_WIDTH: Readonly<Record<string, number>> = {
  tinyint: 4,
  smallint: 6,
  mediumint: 9,
  int: 11,
  bigint: 20,
};
function normaliseType(type: string): string {
  const lower = type
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/\s*\(\s*/g, '(')
    .replace(/\s*\)/g, ')')
    .replace(/\s*,\s*/g, ',');
  const width = DEFAULT_WIDTH[lower];
  return width === undefined ? lower : `${lower}(${width})`;
}

/** Column → declared type of every `CREATE TABLE` in database.sql, as written there (normalised). */
function ddlTypes(): Map<string, Map<string, string>> {
  const tables = new Map<string, Map<string, string>>();
  const sql = readFileSync(SCHEMA_FILE, 'utf8');
  for (const match of sql.matchAll(
    /CREATE TABLE (?:IF NOT EXISTS )?\s*`?(\w+)`?\s*\(\s*\n([\s\S]*?)\n\s*\)\s*ENGINE/g,
  )) {
    const columns = new Map<string, string>();
    for (const line of match[2]!.split('\n')) {
      // `name` TYPE[(args)] [unsigned] — the type ends at the first keyword, comma or line end.
      const column = /^\s*`(\w+)`\s+(\w+(?:\s*\([^)]*\))?(?:\s+unsigned)?)/i.exec(line);
      if (column) columns.set(column[1]!, normaliseType(column[2]!));
    }
    tables.set(match[1]!, columns);
  }
  return tables;
}

interface ReadTable {
  readonly where: string;
  readonly table: string;
  readonly columns: ColumnDeclarations;
  readonly key: readonly string[];
  readonly stamps: readonly { column: string; dataType: string }[];
}

function readTables(stream: string, definition: TableDefinition): ReadTable[] {
  const stamps: { column: string; dataType: string }[] = [];
  if (definition.cursor.mode === 'timestamp') {
    // db-utc stamps are TIMESTAMP columns; db-local ones DATETIME.
    stamps.push({
      column: definition.cursor.column,
      dataType: definition.cursor.clock === 'db-utc' ? 'timestamp' : 'datetime',
    });
  }
  if (definition.cursor.mode === 'window')
    stamps.push({ column: definition.cursor.dateColumn, dataType: 'date' });
  return [
    { where: stream, table: definition.table, columns: definition.columns, key: definition.key, stamps },
    ...(definition.joins ?? []).map((join) => ({
      where: `${stream} join ${join.alias}`,
      table: join.table,
      columns: join.columns,
      key: join.key,
      stamps: [],
    })),
  ];
}

const cases = Object.entries(openEmr.streams).flatMap(([stream, definition]) =>
  readTables(stream, definition),
);

describe('OpenEMR connector against the real 8.2.0-dev schema', () => {
  let db: FixtureDatabase;
  const live = new Map<string, Map<string, { type: string; dataType: string }>>();
  /** Per table: its PRIMARY key, else its UNIQUE single-column keys (patient_data has no PK). */
  const primaryKeys = new Map<string, string[]>();
  const uniqueColumns = new Map<string, Set<string>>();
  const ddl = ddlTypes();

  beforeAll(async () => {
    db = await createOpenEmrDatabase('schema');
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
      `SELECT s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME, s.NON_UNIQUE,
              (SELECT COUNT(*) FROM INFORMATION_SCHEMA.STATISTICS x
                WHERE x.TABLE_SCHEMA = s.TABLE_SCHEMA AND x.TABLE_NAME = s.TABLE_NAME AND x.INDEX_NAME = s.INDEX_NAME) AS width
         FROM INFORMATION_SCHEMA.STATISTICS s WHERE s.TABLE_SCHEMA = ? ORDER BY s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX`,
      [db.name],
    );
    for (const row of keys) {
      if (row['INDEX_NAME'] === 'PRIMARY')
        primaryKeys.set(row['TABLE_NAME'], [
          ...(primaryKeys.get(row['TABLE_NAME']) ?? []),
          row['COLUMN_NAME'],
        ]);
      else if (Number(row['NON_UNIQUE']) === 0 && Number(row['width']) === 1) {
        uniqueColumns.set(
          row['TABLE_NAME'],
          (uniqueColumns.get(row['TABLE_NAME']) ?? new Set()).add(row['COLUMN_NAME']),
        );
      }
    }
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('loaded the whole fixture (283 InnoDB tables)', () => {
    expect(live.size).toBe(283);
    // The file's CREATE TABLEs come in several spellings; the parser must find every one we read.
    for (const table of new Set(cases.map((c) => c.table))) expect(ddl.has(table), table).toBe(true);
  });

  it('covers every stream and join', () => {
    expect(new Set(cases.map((c) => c.table))).toEqual(
      new Set([
        'patient_data',
        'users',
        'facility',
        'openemr_postcalendar_events',
        'openemr_postcalendar_categories',
        'form_encounter',
        'lists',
        'billing',
        'insurance_data',
        'insurance_companies',
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

    it('spells every type as the schema file does', () => {
      const source = ddl.get(table)!;
      expect(Object.entries(columns).map(([column, type]) => [column, normaliseType(type)])).toEqual(
        Object.keys(columns).map((column) => [column, source.get(column) ?? '(missing)']),
      );
    });

    it('keys on the primary key, or on a unique column where the table has none', () => {
      const primary = primaryKeys.get(table);
      if (primary) expect(primary).toEqual([...key]);
      else {
        expect(key).toHaveLength(1);
        expect(uniqueColumns.get(table)?.has(key[0]!)).toBe(true);
      }
    });

    it('uses a change stamp or business date of the declared kind', () => {
      for (const stamp of stamps)
        expect([stamp.column, live.get(table)!.get(stamp.column)?.dataType]).toEqual([
          stamp.column,
          stamp.dataType,
        ]);
    });
  });

  it('declares every column the writeback writes with the live type, spelled as the schema file does', () => {
    const writeback = openEmr.writeback!;
    for (const [name, declared] of Object.entries(writeback.tables ?? {})) {
      const table = declared.stream ? openEmr.streams[declared.stream]!.table : declared.table!;
      const columns = Object.entries(declaredColumns(declared, openEmr.streams)).map(([c, type]) => [
        c,
        normaliseType(type),
      ]);
      const liveType = (c: string) => live.get(table)?.get(c)?.type;
      expect([name, columns]).toEqual([
        name,
        columns.map(([c]) => [c, liveType(c!) === undefined ? '(missing)' : normaliseType(liveType(c!)!)]),
      ]);
      expect(columns).toEqual(columns.map(([c]) => [c, ddl.get(table)?.get(c!) ?? '(missing)']));
    }
  });

  it('lists every apptstat code the mapping knows, and knows every one the schema installs', async () => {
    const [rows] = await db.connection.query<RowDataPacket[]>(
      "SELECT option_id FROM list_options WHERE list_id = 'apptstat' ORDER BY seq",
    );
    const { APPT_STATUS } = await import('./vocabularies.js');
    expect(rows.map((r) => String(r['option_id'])).sort()).toEqual(Object.keys(APPT_STATUS).sort());
  });
});
