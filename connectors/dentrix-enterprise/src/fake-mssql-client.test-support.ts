import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ColumnType, TableDefinition } from '@tendril/core';
import { createSqlClient, type SqlClient } from '@tendril/sql';

/*
 * ============================================================================================
 *  FAKE SQL SERVER — A SIMULATION FOR TESTS. THIS IS NOT SQL SERVER AND PROVES NOTHING ABOUT IT.
 * ============================================================================================
 *
 * There is no SQL Server on our machines and none can be installed. To exercise the sync engine's
 * change-tracking and rowversion paths end to end, this file stands in for one at the `SqlClient`
 * boundary (the only way the engine reaches a database):
 *
 * 1. Every query the engine hands to `execute()` is compiled with knex's REAL mssql dialect
 *    (`.toSQL().toNative()`: the text and parameters tedious would send).
 * 2. The compiled T-SQL must be, character for character, one of the texts in the reviewed
 *    snapshot files (`packages/sql/src/__snapshots__/{mssql-strategies,discovery}.test.ts.snap`,
 *    `./__snapshots__/connector.test.ts.snap`). Anything else is refused: the engine cannot send
 *    T-SQL nobody has reviewed.
 * 3. The answer comes from a small in-memory model: tables with committed rows, a database-wide
 *    rowversion counter (`@@DBTS`) assigned at write time, transactions that can stay open (their
 *    writes invisible, their rowversions holding `MIN_ACTIVE_ROWVERSION()` down), and change
 *    tracking (a version per committed transaction, the latest change per key with its creation
 *    version, a minimum valid version that cleanup can advance).
 *
 * The model's semantics are our reading of the SQL Server documentation, not observed behaviour.
 * What it can show: that the engine sends the reviewed T-SQL, in the right order, binds what it
 * should, and turns what such a server answers into the right events. What it cannot show: that
 * SQL Server answers that way.
 */

type Value = string | number | Date | null;
/** A row as tedious would return it: int/smallint as numbers, varchar as strings, datetime as Date. */
export type FakeRow = Readonly<Record<string, Value>>;

/** One column of a fake table, with its T-SQL type (`int`, `varchar(255)`, `datetime`, `rowversion`). */
export interface FakeColumn {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
}

export interface FakeTableSpec {
  readonly name: string;
  readonly columns: readonly FakeColumn[];
  readonly primaryKey: readonly string[];
  /** `ALTER TABLE … ENABLE CHANGE_TRACKING` done by the DBA. */
  readonly changeTracking?: boolean;
}

/** What kind of query the fake recognized (its log, for order assertions). */
export type FakeQueryKind =
  | 'ct-versions'
  | 'ct-page'
  | 'rowversion-upper'
  | 'rowversion-page'
  | 'table-page'
  | 'lookup'
  | 'probe-status'
  | 'probe-columns'
  | 'probe-primary-key'
  | 'schema-columns'
  | 'schema-primary-keys'
  | 'schema-row-counts'
  | 'schema-server'
  | 'schema-change-tracking';

export interface FakeQueryLogEntry {
  readonly kind: FakeQueryKind;
  readonly sql: string;
  readonly bindings: readonly unknown[];
}

const SNAPSHOT_FILES = [
  '../../../packages/sql/src/__snapshots__/mssql-strategies.test.ts.snap',
  '../../../packages/sql/src/__snapshots__/discovery.test.ts.snap',
  './__snapshots__/connector.test.ts.snap',
].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));

/** Every `"sql"` text in the given vitest snapshot files (they are JS: `exports[name] = \`…\``). */
export function snapshotSqlTexts(files: readonly string[] = SNAPSHOT_FILES): Set<string> {
  const texts = new Set<string>();
  for (const file of files) {
    const entries: Record<string, string> = {};
    new Function('exports', readFileSync(file, 'utf8'))(entries);
    for (const printed of Object.values(entries)) {
      // pretty-format sorts keys, so `sql` closes its object: `"sql": "…",\n  }`.
      for (const match of printed.matchAll(/"sql": "([\s\S]*?)",\n\s*\}/g)) texts.add(match[1]!);
    }
  }
  return texts;
}

const keyId = (values: readonly Value[]): string =>
  JSON.stringify(values.map((v) => (v === null ? null : String(v))));

function compareValues(a: Value, b: Value): number {
  const x = a === null ? '' : String(a);
  const y = b === null ? '' : String(b);
  if (/^-?\d+$/.test(x) && /^-?\d+$/.test(y)) {
    const bx = BigInt(x);
    const by = BigInt(y);
    return bx < by ? -1 : bx > by ? 1 : 0;
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareTuples(a: readonly Value[], b: readonly Value[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareValues(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c;
  }
  return 0;
}

/** `0x` + 16 upper-case hex digits: what `CONVERT(varchar(18), rv, 1)` returns. */
export function rowversionText(value: bigint): string {
  return `0x${value.toString(16).toUpperCase().padStart(16, '0')}`;
}

function bufferToBigint(value: unknown): bigint {
  if (!Buffer.isBuffer(value) || value.length !== 8) {
    throw new Error('FAKE SQL Server: a rowversion was not bound as an 8-byte buffer (binary(8))');
  }
  return value.readBigUInt64BE(0);
}

interface StoredRow {
  values: FakeRow;
  rowversion: bigint | undefined;
}

interface ChangeRecord {
  /** Version of the insert, when it happened while CT was on. */
  creationVersion: bigint | undefined;
  lastVersion: bigint;
  deleted: boolean;
}

class FakeTable {
  readonly rows = new Map<string, StoredRow>();
  readonly changes = new Map<string, ChangeRecord>();
  changeTracking = false;
  minValidVersion: bigint | undefined;
  readonly rowversionColumn: string | undefined;

  constructor(readonly spec: FakeTableSpec) {
    this.rowversionColumn = spec.columns.find((c) => c.type === 'rowversion')?.name;
  }

  keyOf(values: FakeRow): Value[] {
    return this.spec.primaryKey.map((k) => {
      const v = values[k];
      if (v === undefined || v === null)
        throw new Error(`FAKE SQL Server: ${this.spec.name}: key column ${k} is NULL`);
      return v;
    });
  }
}

interface PendingWrite {
  readonly table: FakeTable;
  readonly id: string;
  readonly kind: 'insert' | 'update' | 'delete';
  readonly values?: FakeRow;
  readonly rowversion?: bigint;
}

/** An open transaction: its writes are invisible and its rowversions hold MIN_ACTIVE_ROWVERSION() down. */
export class FakeTransaction {
  readonly #writes: PendingWrite[] = [];
  #open = true;

  constructor(readonly server: FakeSqlServer) {}

  get rowversions(): bigint[] {
    return this.#writes.flatMap((w) => (w.rowversion === undefined ? [] : [w.rowversion]));
  }

  get open(): boolean {
    return this.#open;
  }

  #current(table: FakeTable, id: string): FakeRow | undefined {
    for (let i = this.#writes.length - 1; i >= 0; i--) {
      const w = this.#writes[i]!;
      if (w.table === table && w.id === id) return w.kind === 'delete' ? undefined : w.values;
    }
    return table.rows.get(id)?.values;
  }

  insert(tableName: string, row: FakeRow): this {
    const table = this.server.table(tableName);
    const id = keyId(table.keyOf(row));
    if (this.#current(table, id)) throw new Error(`FAKE SQL Server: duplicate key in ${tableName}`);
    const full: Record<string, Value> = {};
    for (const c of table.spec.columns) if (c.type !== 'rowversion') full[c.name] = row[c.name] ?? null;
    this.#writes.push({ table, id, kind: 'insert', values: full, ...this.#rowversion(table) });
    return this;
  }

  update(tableName: string, key: readonly Value[], patch: FakeRow): this {
    const table = this.server.table(tableName);
    const id = keyId(key);
    const current = this.#current(table, id);
    if (!current) throw new Error(`FAKE SQL Server: no row ${id} in ${tableName}`);
    this.#writes.push({
      table,
      id,
      kind: 'update',
      values: { ...current, ...patch },
      ...this.#rowversion(table),
    });
    return this;
  }

  delete(tableName: string, key: readonly Value[]): this {
    const table = this.server.table(tableName);
    const id = keyId(key);
    if (!this.#current(table, id)) throw new Error(`FAKE SQL Server: no row ${id} in ${tableName}`);
    this.#writes.push({ table, id, kind: 'delete' });
    return this;
  }

  #rowversion(table: FakeTable): { rowversion?: bigint } {
    return table.rowversionColumn ? { rowversion: this.server.nextRowversion() } : {};
  }

  commit(): void {
    if (!this.#open) throw new Error('FAKE SQL Server: transaction already ended');
    this.#open = false;
    const version = this.server.nextChangeVersion();
    for (const w of this.#writes) {
      const { table } = w;
      if (w.kind === 'delete') table.rows.delete(w.id);
      else table.rows.set(w.id, { values: w.values!, rowversion: w.rowversion });
      if (!table.changeTracking) continue;
      const previous = table.changes.get(w.id);
      const creationVersion =
        w.kind === 'insert' ? version : previous && !previous.deleted ? previous.creationVersion : undefined;
      table.changes.set(w.id, { creationVersion, lastVersion: version, deleted: w.kind === 'delete' });
    }
    this.server.endTransaction(this);
  }

  rollback(): void {
    this.#open = false;
    this.server.endTransaction(this);
  }
}

/** Options of the simulated database. */
export interface FakeSqlServerOptions {
  /** `ALTER DATABASE … SET CHANGE_TRACKING = ON`. */
  readonly changeTrackingDatabase?: boolean;
  /** `ALLOW_SNAPSHOT_ISOLATION ON`. */
  readonly snapshotIsolation?: boolean;
}

/** The simulated database. See the header of this file: a model, not SQL Server. */
export class FakeSqlServer {
  readonly #tables = new Map<string, FakeTable>();
  readonly #open = new Set<FakeTransaction>();
  readonly #catalog: Set<string>;
  readonly #hooks: { kind: FakeQueryKind; run: () => void }[] = [];
  /** Every query answered, in order. */
  readonly log: FakeQueryLogEntry[] = [];
  changeTrackingDatabase: boolean;
  snapshotIsolation: boolean;
  #changeVersion = 0n;
  #dbts = 0x7d0n;

  constructor(options: FakeSqlServerOptions = {}) {
    this.changeTrackingDatabase = options.changeTrackingDatabase ?? false;
    this.snapshotIsolation = options.snapshotIsolation ?? false;
    this.#catalog = snapshotSqlTexts();
  }

  createTable(spec: FakeTableSpec): void {
    const table = new FakeTable(spec);
    this.#tables.set(spec.name.toLowerCase(), table);
    if (spec.changeTracking) this.enableChangeTracking(spec.name);
  }

  table(name: string): FakeTable {
    const table = this.#tables.get(name.toLowerCase());
    if (!table) throw new Error(`FAKE SQL Server: no table ${name}`);
    return table;
  }

  enableChangeTracking(name: string): void {
    const table = this.table(name);
    table.changeTracking = true;
    table.minValidVersion = this.#changeVersion;
    table.changes.clear();
  }

  disableChangeTracking(name: string): void {
    const table = this.table(name);
    table.changeTracking = false;
    table.minValidVersion = undefined;
    table.changes.clear();
  }

  /** CT cleanup: the minimum valid version moves to the current version (default) and older changes go. */
  advanceMinValidVersion(name: string, to: bigint = this.#changeVersion): void {
    const table = this.table(name);
    table.minValidVersion = to;
    for (const [id, change] of table.changes) if (change.lastVersion < to) table.changes.delete(id);
  }

  get changeTrackingCurrentVersion(): bigint {
    return this.#changeVersion;
  }

  nextChangeVersion(): bigint {
    this.#changeVersion += 1n;
    return this.#changeVersion;
  }

  nextRowversion(): bigint {
    this.#dbts += 1n;
    return this.#dbts;
  }

  /** The lowest rowversion held by an open transaction, else `@@DBTS + 1`. */
  get minActiveRowversion(): bigint {
    let min = this.#dbts + 1n;
    for (const tx of this.#open) for (const rv of tx.rowversions) if (rv < min) min = rv;
    return min;
  }

  begin(): FakeTransaction {
    const tx = new FakeTransaction(this);
    this.#open.add(tx);
    return tx;
  }

  endTransaction(tx: FakeTransaction): void {
    this.#open.delete(tx);
  }

  insert(table: string, ...rows: FakeRow[]): void {
    const tx = this.begin();
    for (const row of rows) tx.insert(table, row);
    tx.commit();
  }

  update(table: string, key: readonly Value[], patch: FakeRow): void {
    this.begin().update(table, key, patch).commit();
  }

  delete(table: string, key: readonly Value[]): void {
    this.begin().delete(table, key).commit();
  }

  /** Committed row by key (what a reader sees). */
  row(table: string, key: readonly Value[]): FakeRow | undefined {
    return this.table(table).rows.get(keyId(key))?.values;
  }

  /** Runs `run` once, right after the next query of `kind` is answered (to interleave writes with a poll). */
  afterNext(kind: FakeQueryKind, run: () => void): void {
    this.#hooks.push({ kind, run });
  }

  /** Query kinds answered since `from` (an index into {@link log}). */
  kindsSince(from: number): FakeQueryKind[] {
    return this.log.slice(from).map((e) => e.kind);
  }

  /** A `SqlClient` whose queries are compiled by knex's real mssql dialect and answered by this model. */
  client(): SqlClient {
    // Never connects: knex builds queries without a connection; only `execute` would use one.
    const compiler = createSqlClient({
      url: 'mssql://fake_sql_server@127.0.0.1:1/Dentrix?trustServerCertificate=true',
    });
    return {
      knex: compiler.knex,
      dialect: 'mssql',
      execute: async (query) => {
        const { sql, bindings } = query.toSQL().toNative() as { sql: string; bindings: readonly unknown[] };
        if (!this.#catalog.has(sql)) {
          throw new Error(
            `FAKE SQL Server: this T-SQL is not in any reviewed snapshot, refusing it:\n${sql}`,
          );
        }
        const { kind, rows } = this.#answer(sql, bindings);
        this.log.push({ kind, sql, bindings });
        const hook = this.#hooks.findIndex((h) => h.kind === kind);
        if (hook >= 0) this.#hooks.splice(hook, 1)[0]!.run();
        return rows.map((r) => ({ ...r }));
      },
      close: () => compiler.close(),
    };
  }

  #answer(sql: string, b: readonly unknown[]): { kind: FakeQueryKind; rows: Record<string, unknown>[] } {
    if (sql.includes('CHANGE_TRACKING_CURRENT_VERSION()'))
      return { kind: 'ct-versions', rows: this.#ctVersions(b) };
    if (sql.includes('from CHANGETABLE(CHANGES ')) return { kind: 'ct-page', rows: this.#ctPage(sql, b) };
    if (sql.includes('MIN_ACTIVE_ROWVERSION()')) {
      return {
        kind: 'rowversion-upper',
        rows: [{ upper_rowversion: rowversionText(this.minActiveRowversion) }],
      };
    }
    if (sql.includes('[sys].[change_tracking_databases]'))
      return { kind: 'probe-status', rows: this.#probeStatus(b) };
    if (sql.includes('from [INFORMATION_SCHEMA].[COLUMNS] where [TABLE_SCHEMA] = @p0')) {
      return { kind: 'probe-columns', rows: this.#probeColumns(b) };
    }
    if (sql.includes('[tc].[TABLE_NAME] = @p2'))
      return { kind: 'probe-primary-key', rows: this.#probePrimaryKey(b) };
    if (sql.includes('as [column_type]')) return { kind: 'schema-columns', rows: this.#schemaColumns() };
    if (sql.includes('from [INFORMATION_SCHEMA].[TABLE_CONSTRAINTS]'))
      return { kind: 'schema-primary-keys', rows: this.#schemaKeys() };
    if (sql.includes('[sys].[partitions]')) {
      return {
        kind: 'schema-row-counts',
        rows: [...this.#tables.values()].map((t) => ({
          table_schema: 'dbo',
          table_name: t.spec.name,
          approximate_rows: t.rows.size,
        })),
      };
    }
    if (sql.includes('SERVERPROPERTY')) {
      return {
        kind: 'schema-server',
        rows: [
          {
            server_version: '0.0 (FAKE SQL Server simulation)',
            edition: 'FAKE (simulation, not SQL Server)',
            default_schema: 'dbo',
          },
        ],
      };
    }
    if (sql.includes('from [sys].[change_tracking_tables]')) {
      return {
        kind: 'schema-change-tracking',
        rows: [...this.#tables.values()]
          .filter((t) => t.changeTracking)
          .map((t) => ({ table_schema: 'dbo', table_name: t.spec.name })),
      };
    }
    if (sql.includes('CONVERT(varchar(18), ') && sql.includes('as [__cursor]'))
      return { kind: 'rowversion-page', rows: this.#rowversionPage(sql, b) };
    if (/^select top \(@p0\) /.test(sql)) return { kind: 'table-page', rows: this.#tablePage(sql, b) };
    if (/^select \[/.test(sql) && sql.includes(' = CAST(@p'))
      return { kind: 'lookup', rows: this.#lookup(sql, b) };
    throw new Error(`FAKE SQL Server: the model does not answer this (snapshotted) query:\n${sql}`);
  }

  #tableFromObjectName(name: unknown): FakeTable | undefined {
    const m = /^\[dbo\]\.\[(\w+)\]$/.exec(String(name));
    return m ? this.#tables.get(m[1]!.toLowerCase()) : undefined;
  }

  #ctVersions(b: readonly unknown[]): Record<string, unknown>[] {
    const table = this.#tableFromObjectName(b[0]);
    return [
      {
        current_version: this.changeTrackingDatabase ? String(this.#changeVersion) : null,
        min_valid_version:
          table?.changeTracking && table.minValidVersion !== undefined ? String(table.minValidVersion) : null,
      },
    ];
  }

  /** `[alias].[column] as [out]` items of the select list, in order. */
  #selected(sql: string): { source: string; column: string; out: string }[] {
    const list = sql.slice(0, sql.indexOf(' from '));
    return [...list.matchAll(/\[(\w+)\]\.\[(\w+)\] as \[([\w.]+)\]/g)].map((m) => ({
      source: m[1]!,
      column: m[2]!,
      out: m[3]!,
    }));
  }

  /** `[T].[column] = @pN` terms (static row filters; keys are always CAST). */
  #filters(sql: string, table: string, b: readonly unknown[]): { column: string; value: unknown }[] {
    if (/ not in \(| in \(/.test(sql)) throw new Error('FAKE SQL Server: IN filters are not modelled');
    return [...sql.matchAll(new RegExp(`\\[${table}\\]\\.\\[(\\w+)\\] = @p(\\d+)`, 'g'))].map((m) => ({
      column: m[1]!,
      value: b[Number(m[2])],
    }));
  }

  #matches(row: FakeRow, filters: readonly { column: string; value: unknown }[]): boolean {
    return filters.every(
      (f) =>
        row[f.column] !== null && row[f.column] !== undefined && String(row[f.column]) === String(f.value),
    );
  }

  #limit(sql: string, b: readonly unknown[]): number {
    const m = /^select top \(@p(\d+)\)/.exec(sql);
    if (!m) throw new Error('FAKE SQL Server: expected TOP (@p)');
    return Number(b[Number(m[1])]);
  }

  /** The values of `[alias].[column] > CAST(@pN AS type)` terms, in order (a keyset position). */
  #after(sql: string, alias: string, columns: readonly string[], b: readonly unknown[]): Value[] | undefined {
    const values: Value[] = [];
    for (const column of columns) {
      const m = new RegExp(`\\[${alias}\\]\\.\\[${column}\\] > CAST\\(@p(\\d+) AS [\\w()]+\\)`).exec(sql);
      if (!m) return undefined;
      values.push(b[Number(m[1])] as Value);
    }
    return values;
  }

  #project(
    selected: readonly { source: string; column: string; out: string }[],
    pick: (source: string, column: string) => unknown,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of selected) out[s.out] = pick(s.source, s.column);
    return out;
  }

  #ctPage(sql: string, b: readonly unknown[]): Record<string, unknown>[] {
    const m = /from CHANGETABLE\(CHANGES \[dbo\]\.\[(\w+)\], @p(\d+)\) as \[ct\]/.exec(sql);
    if (!m) throw new Error('FAKE SQL Server: unexpected CHANGETABLE form');
    const table = this.table(m[1]!);
    if (typeof b[Number(m[2])] !== 'number')
      throw new Error('FAKE SQL Server: CHANGETABLE takes a plain integer parameter');
    const since = BigInt(b[Number(m[2])] as number);
    if (!table.changeTracking || table.minValidVersion === undefined)
      throw new Error('FAKE SQL Server: change tracking is not enabled for the table (Msg 22105)');
    if (since < table.minValidVersion) {
      // SQL Server does not raise this: it returns incomplete changes. The fake refuses, so an
      // engine that forgets the minimum-valid-version check fails loudly here.
      throw new Error(
        'FAKE SQL Server: CHANGETABLE read with a version below CHANGE_TRACKING_MIN_VALID_VERSION',
      );
    }
    const cur = /\[ct\]\.\[SYS_CHANGE_VERSION\] <= CAST\(@p(\d+) AS bigint\)/.exec(sql);
    if (!cur) throw new Error('FAKE SQL Server: CT page without the <= cur filter');
    const upper = BigInt(String(b[Number(cur[1])]));
    const key = table.spec.primaryKey;
    const afterVersion = /\[ct\]\.\[SYS_CHANGE_VERSION\] > CAST\(@p(\d+) AS bigint\)/.exec(sql);
    const after = afterVersion
      ? ([String(b[Number(afterVersion[1])]), ...(this.#after(sql, 'ct', key, b) ?? [])] as Value[])
      : undefined;
    // The join condition carries the stream's row filter (`table.where`), not the WHERE clause.
    const join = sql.slice(sql.indexOf(' left join '), sql.indexOf(' where '));
    const filters = this.#filters(join, table.spec.name, b);
    const selected = this.#selected(sql);
    const found = [...table.changes.entries()]
      .filter(([, c]) => c.lastVersion > since && c.lastVersion <= upper)
      .map(([id, c]) => ({ id, c, key: JSON.parse(id) as string[] }))
      .map((e) => ({ ...e, position: [String(e.c.lastVersion), ...e.key] as Value[] }))
      .filter((e) => !after || compareTuples(e.position, after) > 0)
      .sort((x, y) => compareTuples(x.position, y.position))
      .slice(0, this.#limit(sql, b));
    return found.map(({ id, c }) => {
      const stored = table.rows.get(id)?.values;
      const joined = stored && this.#matches(stored, filters) ? stored : undefined;
      const keyValues = JSON.parse(id) as string[];
      const operation = c.deleted
        ? 'D'
        : c.creationVersion !== undefined && c.creationVersion > since
          ? 'I'
          : 'U';
      return {
        __ct_version: String(c.lastVersion),
        __ct_operation: operation,
        ...this.#project(selected, (source, column) => {
          if (source === 'ct') {
            const value = keyValues[key.indexOf(column)]!;
            const type = table.spec.columns.find((c) => c.name === column)?.type ?? '';
            return /int$/.test(type) ? Number(value) : value;
          }
          return joined ? (joined[column] ?? null) : null;
        }),
      };
    });
  }

  #rowversionPage(sql: string, b: readonly unknown[]): Record<string, unknown>[] {
    const m = / from \[(\w+)\]/.exec(sql);
    const table = this.table(m![1]!);
    const rv = table.rowversionColumn;
    if (!rv) throw new Error('FAKE SQL Server: the table has no rowversion column');
    const bound = (op: string) => {
      const found = new RegExp(
        `\\[${table.spec.name}\\]\\.\\[${rv}\\] ${op} CAST\\(@p(\\d+) AS binary\\(8\\)\\)`,
      ).exec(sql);
      return found ? bufferToBigint(b[Number(found[1])]) : undefined;
    };
    const lower = bound('>=');
    const upper = bound('<');
    if (lower === undefined || upper === undefined)
      throw new Error('FAKE SQL Server: rowversion page without its [lower, upper) window');
    const afterRv = bound('>');
    const afterKey = this.#after(sql, table.spec.name, table.spec.primaryKey, b);
    const filters = this.#filters(sql, table.spec.name, b);
    const selected = this.#selected(sql);
    return [...table.rows.values()]
      .filter(
        (r) =>
          r.rowversion !== undefined &&
          r.rowversion >= lower &&
          r.rowversion < upper &&
          this.#matches(r.values, filters),
      )
      .map((r) => ({ r, position: [r.rowversion!.toString(), ...table.keyOf(r.values)] as Value[] }))
      .filter(
        (e) =>
          afterRv === undefined || compareTuples(e.position, [afterRv.toString(), ...(afterKey ?? [])]) > 0,
      )
      .sort((x, y) => compareTuples(x.position, y.position))
      .slice(0, this.#limit(sql, b))
      .map(({ r }) => ({
        ...this.#project(selected, (_source, column) => r.values[column] ?? null),
        __cursor: rowversionText(r.rowversion!),
      }));
  }

  #tablePage(sql: string, b: readonly unknown[]): Record<string, unknown>[] {
    const m = / from \[(\w+)\]/.exec(sql);
    const table = this.table(m![1]!);
    const filters = this.#filters(sql, table.spec.name, b);
    const after = this.#after(sql, table.spec.name, table.spec.primaryKey, b);
    const selected = this.#selected(sql);
    return [...table.rows.values()]
      .filter((r) => this.#matches(r.values, filters))
      .map((r) => ({ r, key: table.keyOf(r.values) }))
      .filter((e) => !after || compareTuples(e.key, after) > 0)
      .sort((x, y) => compareTuples(x.key, y.key))
      .slice(0, this.#limit(sql, b))
      .map(({ r }) => this.#project(selected, (_source, column) => r.values[column] ?? null));
  }

  #lookup(sql: string, b: readonly unknown[]): Record<string, unknown>[] {
    const m = / from \[(\w+)\]/.exec(sql);
    const table = this.table(m![1]!);
    const key = table.spec.primaryKey;
    const filters = this.#filters(sql, table.spec.name, b);
    const terms = [
      ...sql.matchAll(
        new RegExp(`\\[${table.spec.name}\\]\\.\\[(\\w+)\\] = CAST\\(@p(\\d+) AS [\\w()]+\\)`, 'g'),
      ),
    ];
    const wanted = new Set<string>();
    for (let i = 0; i < terms.length; i += key.length) {
      const tuple = terms.slice(i, i + key.length);
      if (tuple.some((t, j) => t[1] !== key[j]))
        throw new Error('FAKE SQL Server: unexpected point-lookup shape');
      wanted.add(keyId(tuple.map((t) => b[Number(t[2])] as Value)));
    }
    const selected = this.#selected(sql);
    return [...table.rows.entries()]
      .filter(([id, r]) => wanted.has(id) && this.#matches(r.values, filters))
      .map(([, r]) => this.#project(selected, (_source, column) => r.values[column] ?? null));
  }

  #probeStatus(b: readonly unknown[]): Record<string, unknown>[] {
    const table = this.#tableFromObjectName(b[0]);
    return [
      {
        object_id: table ? 581577110 : null,
        ct_database: this.changeTrackingDatabase ? 1 : 0,
        ct_table: table?.changeTracking ? 1 : 0,
        ct_permission: table ? 1 : null,
        snapshot_isolation: this.snapshotIsolation ? 1 : 0,
      },
    ];
  }

  #probeColumns(b: readonly unknown[]): Record<string, unknown>[] {
    const table = this.#tables.get(String(b[1]).toLowerCase());
    return (table?.spec.columns ?? []).map((c) => {
      const m = /^(\w+)(?:\((\d+|max)\))?$/.exec(c.type)!;
      const base = m[1]!;
      const length = /char/.test(base) ? (m[2] === 'max' ? -1 : Number(m[2])) : null;
      return {
        COLUMN_NAME: c.name,
        // INFORMATION_SCHEMA names rowversion by its old synonym.
        DATA_TYPE: base === 'rowversion' ? 'timestamp' : base,
        DATETIME_PRECISION: base === 'datetime' ? 3 : base === 'datetime2' ? Number(m[2] ?? 7) : null,
        CHARACTER_MAXIMUM_LENGTH: length,
        IS_NULLABLE: c.nullable ? 'YES' : 'NO',
      };
    });
  }

  #probePrimaryKey(b: readonly unknown[]): Record<string, unknown>[] {
    const table = this.#tables.get(String(b[2]).toLowerCase());
    return (table?.spec.primaryKey ?? []).map((c) => ({ COLUMN_NAME: c }));
  }

  #schemaColumns(): Record<string, unknown>[] {
    return [...this.#tables.values()].flatMap((t) =>
      t.spec.columns.map((c) => ({
        table_schema: 'dbo',
        table_name: t.spec.name,
        column_name: c.name,
        // The discovery query's CASE: rowversion shows as `timestamp`.
        column_type: c.type === 'rowversion' ? 'timestamp' : c.type,
        is_nullable: c.nullable ? 'YES' : 'NO',
      })),
    );
  }

  #schemaKeys(): Record<string, unknown>[] {
    return [...this.#tables.values()].flatMap((t) =>
      t.spec.primaryKey.map((c) => ({ table_schema: 'dbo', table_name: t.spec.name, column_name: c })),
    );
  }
}

/**
 * A fake table shaped like a connector's declaration: its declared columns with their declared
 * T-SQL types, the stream key as primary key, plus any extra columns (a `RowVer rowversion`).
 */
export function fakeTableFor(
  table: TableDefinition,
  options: { readonly changeTracking?: boolean; readonly extraColumns?: readonly FakeColumn[] } = {},
): FakeTableSpec {
  const columns: FakeColumn[] = Object.entries(table.columns as Record<string, ColumnType>).map(
    ([name, type]) => ({
      name,
      type: String(type),
      nullable: !table.key.includes(name),
    }),
  );
  return {
    name: table.table,
    columns: [...columns, ...(options.extraColumns ?? [])],
    primaryKey: table.key,
    ...(options.changeTracking ? { changeTracking: true } : {}),
  };
}
