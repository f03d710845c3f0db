import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { QueryResultRow } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from './postgres/open.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from './postgres-test-database.test-helper.js';
import { DECLARED_POSTGRES_TYPES, DEFAULT_POSTGRES_TYPES, POSTGRES_ONLY_TABLES } from './schema-mapping.js';
import { openSqliteStore } from './sqlite/open.js';

/** One backend's schema, normalised: what both must agree on. */
interface Schema {
  tables: Record<string, Table>;
}
interface Table {
  /** Column → type (PostgreSQL's name; SQLite's declared type) and nullability. */
  columns: Record<string, { type: string; nullable: boolean }>;
  primaryKey: string[];
  /** Named indexes, and unique constraints as `unique(a,b)`: columns in order, unique, partial. */
  indexes: Record<string, { columns: string[]; unique: boolean; partial: boolean }>;
}

function sqliteSchema(path: string): Schema {
  const db = new Database(path, { readonly: true });
  try {
    const tables: Schema['tables'] = {};
    const names = db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all()
      .map((r) => r.name);
    for (const table of names) {
      const info = db
        .prepare<[], { name: string; type: string; notnull: number; pk: number }>(
          `PRAGMA table_info(${table})`,
        )
        .all();
      const primaryKey = info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      const columns: Table['columns'] = {};
      // A primary key column is never null on either side (SQLite's pragma does not say so for TEXT keys).
      for (const c of info) columns[c.name] = { type: c.type, nullable: c.notnull === 0 && c.pk === 0 };
      const indexes: Table['indexes'] = {};
      for (const index of db
        .prepare<[], { name: string; unique: number; origin: string; partial: number }>(
          `PRAGMA index_list(${table})`,
        )
        .all()) {
        if (index.origin === 'pk') continue;
        const cols = db
          .prepare<[], { seqno: number; name: string }>(`PRAGMA index_info(${index.name})`)
          .all()
          .sort((a, b) => a.seqno - b.seqno)
          .map((c) => c.name);
        const name = index.origin === 'u' ? `unique(${cols.join(',')})` : index.name;
        indexes[name] = { columns: cols, unique: index.unique === 1, partial: index.partial === 1 };
      }
      tables[table] = { columns, primaryKey, indexes };
    }
    return { tables };
  } finally {
    db.close();
  }
}

async function postgresSchema(db: PostgresTestDatabase, schema: string): Promise<Schema> {
  const q = <R extends QueryResultRow>(text: string) => db.query<R>(text, [schema]);
  const tables: Schema['tables'] = {};
  for (const { table_name } of await q<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
  )) {
    tables[table_name] = { columns: {}, primaryKey: [], indexes: {} };
  }
  for (const c of await q<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
  }>(
    'SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1',
  )) {
    tables[c.table_name]!.columns[c.column_name] = { type: c.data_type, nullable: c.is_nullable === 'YES' };
  }
  const indexes = await q<{
    table_name: string;
    index_name: string;
    columns: string[];
    unique: boolean;
    primary: boolean;
    partial: boolean;
    constraint: boolean;
  }>(
    `SELECT t.relname AS table_name, i.relname AS index_name, ix.indisunique AS unique, ix.indisprimary AS primary,
            ix.indpred IS NOT NULL AS partial,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid) AS constraint,
            ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
     FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
     JOIN pg_namespace s ON s.oid = t.relnamespace WHERE s.nspname = $1`,
  );
  for (const index of indexes) {
    const table = tables[index.table_name]!;
    if (index.primary) {
      table.primaryKey = index.columns;
      continue;
    }
    const name = index.constraint && index.unique ? `unique(${index.columns.join(',')})` : index.index_name;
    table.indexes[name] = { columns: index.columns, unique: index.unique, partial: index.partial };
  }
  return { tables };
}

/** The differences between the two schemas after the declared mapping; empty when they agree. */
function compare(sqlite: Schema, postgres: Schema): string[] {
  const problems: string[] = [];
  for (const table of POSTGRES_ONLY_TABLES) {
    if (!(table in postgres.tables)) problems.push(`${table}: declared PostgreSQL-only but missing there`);
    if (table in sqlite.tables) problems.push(`${table}: declared PostgreSQL-only but SQLite has it`);
  }
  const names = new Set([...Object.keys(sqlite.tables), ...Object.keys(postgres.tables)]);
  for (const name of [...names].sort()) {
    if (POSTGRES_ONLY_TABLES.includes(name)) continue;
    const s = sqlite.tables[name];
    const p = postgres.tables[name];
    if (s === undefined || p === undefined) {
      problems.push(`${name}: table only in ${s === undefined ? 'PostgreSQL' : 'SQLite'}`);
      continue;
    }
    const columns = new Set([...Object.keys(s.columns), ...Object.keys(p.columns)]);
    for (const column of [...columns].sort()) {
      const sc = s.columns[column];
      const pc = p.columns[column];
      if (sc === undefined || pc === undefined) {
        problems.push(`${name}.${column}: column only in ${sc === undefined ? 'PostgreSQL' : 'SQLite'}`);
        continue;
      }
      const declared = DECLARED_POSTGRES_TYPES[`${name}.${column}`];
      const allowed = declared === undefined ? (DEFAULT_POSTGRES_TYPES[sc.type] ?? []) : [declared];
      if (!allowed.includes(pc.type)) {
        problems.push(
          `${name}.${column}: SQLite ${sc.type} but PostgreSQL ${pc.type} (mapping allows ${allowed.join(' or ') || 'nothing'})`,
        );
      }
      if (sc.nullable !== pc.nullable) problems.push(`${name}.${column}: nullable differs`);
    }
    if (s.primaryKey.join(',') !== p.primaryKey.join(',')) {
      problems.push(`${name}: primary key (${s.primaryKey.join(',')}) vs (${p.primaryKey.join(',')})`);
    }
    const indexes = new Set([...Object.keys(s.indexes), ...Object.keys(p.indexes)]);
    for (const index of [...indexes].sort()) {
      const si = s.indexes[index];
      const pi = p.indexes[index];
      if (si === undefined || pi === undefined) {
        problems.push(`${name}: index ${index} only in ${si === undefined ? 'PostgreSQL' : 'SQLite'}`);
      } else if (JSON.stringify(si) !== JSON.stringify(pi)) {
        problems.push(`${name}: index ${index} differs: ${JSON.stringify(si)} vs ${JSON.stringify(pi)}`);
      }
    }
  }
  return problems;
}

describe('the SQLite and PostgreSQL migrations build the same schema', () => {
  let dir: string;
  let pg: PostgresTestDatabase;
  let sqlitePath: string;
  let sqlite: Schema;
  let postgres: Schema;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-schema-'));
    sqlitePath = join(dir, 'store.db');
    const lite = openSqliteStore(sqlitePath);
    await lite.migrate();
    await lite.close();
    pg = await createPostgresTestDatabase();
    const store = openPostgresStore(pg.url, { schema: 'store' });
    await store.migrate();
    await store.close();
    sqlite = sqliteSchema(sqlitePath);
    postgres = await postgresSchema(pg, 'store');
  });
  afterAll(async () => {
    await pg?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('has the same tables, columns, nullability, primary keys and indexes after the declared type mapping', () => {
    expect(Object.keys(sqlite.tables).length).toBeGreaterThan(10);
    expect(Object.keys(sqlite.tables.deliveries!.indexes)).toContain('deliveries_due');
    expect(compare(sqlite, postgres)).toEqual([]);
  });

  it('fails when a column or an index is added to one side only, or a type leaves the mapping', async () => {
    const db = new Database(sqlitePath);
    db.exec('ALTER TABLE shadow ADD COLUMN note TEXT; CREATE INDEX shadow_note ON shadow (note)');
    db.close();
    await pg.query(
      'ALTER TABLE runs ADD COLUMN note TEXT; CREATE INDEX outbox_kind ON outbox (kind)',
      [],
      'store',
    );
    await pg.query('ALTER TABLE relay_cursor ALTER COLUMN last_sequence TYPE numeric', [], 'store');
    const problems = compare(sqliteSchema(sqlitePath), await postgresSchema(pg, 'store'));
    expect(problems).toEqual(
      expect.arrayContaining([
        'shadow.note: column only in SQLite',
        'shadow: index shadow_note only in SQLite',
        'runs.note: column only in PostgreSQL',
        'outbox: index outbox_kind only in PostgreSQL',
        'relay_cursor.last_sequence: SQLite INTEGER but PostgreSQL numeric (mapping allows bigint or integer)',
      ]),
    );
    expect(problems).toHaveLength(5);
  });
});
