import { TendrilError } from './errors.js';
import type { ResourceType } from './model/index.js';
import type { MappingContext } from './mapping-context.js';

/** A column's SQL type exactly as the vendor schema declares it (`bigint(20)`, `varchar(100)`, `timestamp`). */
export type ColumnType = string;
export type ColumnDeclarations = Readonly<Record<string, ColumnType>>;

/** Where a change-stamp column gets its clock (docs/sync-semantics.md, "Timestamp cursors"). */
export const CLOCK_DOMAINS = ['db-utc', 'db-local', 'client'] as const;
export type ClockDomain = (typeof CLOCK_DOMAINS)[number];

export type CursorSpec =
  | {
      readonly mode: 'timestamp';
      /** Change-stamp column of the main table. */
      readonly column: string;
      readonly clock: ClockDomain;
      /** Fractional-second digits the column stores (Open Dental `timestamp`: 0). */
      readonly precision?: number;
      /**
       * Column read when `column` is NULL (`COALESCE(column, fallback)`): a creation stamp for rows
       * the vendor never stamped on change. Same declared type as `column`. Windows, order and
       * keyset all use the coalesced value; an index on `column` alone no longer serves the poll.
       */
      readonly fallback?: string;
      /**
       * Stamps of joined tables whose change also changes this resource (`alias.column`). With
       * these the poll reads rows where any stamp falls in the window, paged by key only.
       */
      readonly also?: readonly string[];
    }
  | {
      /**
       * No usable change stamp, but a business date (OpenEMR `pc_eventDate`): each poll reads every
       * row whose date is in [today − pastDays, today + futureDays] plus rows with a key above the
       * largest key seen, and sees hard deletes inside that window (docs/sync-semantics.md, "Change-detection modes", ladder 4).
       */
      readonly mode: 'window';
      /** The business date column (`date` or `datetime`) of the main table. */
      readonly dateColumn: string;
      /** Days before today (in the connection's zone) the window reaches. Default 30. */
      readonly pastDays?: number;
      /** Days after today the window reaches. Default 90. */
      readonly futureDays?: number;
    }
  | { readonly mode: 'snapshot' };

/** Window defaults of docs/sync-semantics.md, "Change-detection modes" (ladder 4). */
export const WINDOW_DEFAULTS = { pastDays: 30, futureDays: 90 } as const;

export type CursorMode = CursorSpec['mode'];

/** A static row filter, written as data: `{ ObjectType: 0 }` or `{ AptStatus: { notIn: [6, 7, 8] } }`. */
export type RowCondition = Readonly<
  Record<
    string,
    | string
    | number
    | { readonly in: readonly (string | number)[] }
    | { readonly notIn: readonly (string | number)[] }
  >
>;

export interface JoinSpec {
  readonly table: string;
  readonly alias: string;
  /** Joined column → column of the main table (or `otherAlias.column`). */
  readonly on: Readonly<Record<string, string>>;
  /**
   * Joined column → a constant it must equal, added to the join condition as a parameter: how a
   * key/value side table or a definitions table is read (`{ TYPE: 100 }` picks the race rows of
   * Dentrix `DDB_DEF_TEXT`). Together with `on` it must select at most one row per main row.
   */
  readonly onValues?: Readonly<Record<string, string | number>>;
  readonly columns: ColumnDeclarations;
  readonly key: readonly string[];
}

/** A vendor table that records deletions of another (Open Dental `deletedobject`). */
export interface DeleteLogSpec {
  readonly table: string;
  readonly key: readonly string[];
  readonly columns: ColumnDeclarations;
  readonly cursor: { readonly column: string; readonly clock: ClockDomain; readonly precision?: number };
  /** Column holding the deleted row's key (single-column keys only). */
  readonly deletedKeyColumn: string;
  readonly where?: RowCondition;
}

/**
 * What a field's columns mean, kept beside the mapping function for the fields built by the
 * structured helpers (`t.col`, `t.humanName`, `t.contactPoints`, `t.address`), so writeback derives
 * the vendor columns of a model value from the read declaration instead of declaring them again.
 */
export type FieldShape =
  | { readonly kind: 'column'; readonly column: string }
  | {
      readonly kind: 'humanName';
      readonly family?: string;
      readonly given?: readonly string[];
      readonly prefix?: string;
      readonly suffix?: string;
    }
  | {
      readonly kind: 'contactPoints';
      readonly columns: readonly {
        readonly column: string;
        readonly system: 'phone' | 'email' | 'sms' | 'fax';
        readonly use?: 'home' | 'work' | 'mobile';
      }[];
    }
  | {
      readonly kind: 'address';
      readonly line: readonly string[];
      readonly city?: string;
      readonly state?: string;
      readonly postalCode?: string;
      readonly country?: string;
    };

/** One model field produced from one or more columns. */
export interface FieldSpec {
  readonly kind: 'field';
  readonly columns: readonly string[];
  readonly apply: (values: readonly unknown[], ctx: MappingContext) => unknown;
  /** The columns' meaning, for the structured helpers (absent for `t.compute`). */
  readonly shape?: FieldShape;
}

/** A reference (`<role>Id` / `<role>Ids`) to another resource by its vendor key. */
export interface RefSpec {
  readonly kind: 'ref';
  readonly resourceType: ResourceType;
  /** One column per key component; with `many`, each column is one single-column reference. */
  readonly columns: readonly string[];
  readonly many: boolean;
  /** Fixed key prefix for a reference to a resource whose key has a constant component. */
  readonly prefix?: string;
  /**
   * The key a `0` stands for when the vendor gives `0` a meaning instead of "none" (Open Dental
   * `ClinicNum` 0 = the default office, key `"0"`). Without it, `0` means no reference.
   */
  readonly zeroMeans?: string;
}

export type FieldMapping = FieldSpec | RefSpec;

export interface TableDefinition<R extends ResourceType = ResourceType> {
  readonly resourceType: R;
  readonly table: string;
  /** Key columns in the order they form `sourceId`. */
  readonly key: readonly string[];
  /** Every column read, with its vendor type: drives queries, discovery, grants and test DDL. */
  readonly columns: ColumnDeclarations;
  readonly cursor: CursorSpec;
  readonly joins?: readonly JoinSpec[];
  readonly where?: RowCondition;
  /** Rows that are deleted in the vendor's terms (soft delete): emitted as `deleted`. */
  readonly deletedWhen?: RowCondition;
  /** Rows that are not this resource at all (Open Dental planned appointments). Treated as absent. */
  readonly excludeWhen?: RowCondition;
  readonly deleteLog?: DeleteLogSpec;
  /** Model field path (dots for nesting) → mapping. */
  readonly fields: Readonly<Record<string, FieldMapping>>;
  /** Fixed values for every resource of this table (`kind: 'operatory'`). */
  readonly constants?: Readonly<Record<string, unknown>>;
  /** Key prefix that makes `sourceId`s unique when two tables feed one resource type. */
  readonly sourceIdPrefix?: string;
  /**
   * Rows that exist in the vendor's logic but not in its table (Open Dental's default office,
   * `ClinicNum` 0, when clinics are off). Appended to every snapshot scan, so never deleted.
   */
  readonly staticRows?: readonly Readonly<Record<string, unknown>>[];
  /**
   * What this stream's tables and columns were checked against, when it is less (or more) than the
   * connector's `verification` says: `tendril connectors` prints it per stream ("replica DDL",
   * "public queries — confirm with discover"). Absent: the connector's `verification.against`.
   */
  readonly evidence?: string;
  /**
   * Per-site physical names of main-table columns (declared name → column at this site), set by
   * `applyTableOverrides` from `connections[].tableMap`. Queries select `physical AS declared`, so
   * mappings keep reading declared names. Absent (or a column not listed): the declared name.
   */
  readonly columnNames?: Readonly<Record<string, string>>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function problem(message: string, details: Record<string, unknown>): TendrilError {
  return new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', message, { details });
}

function checkIdentifier(name: string, where: string): void {
  if (!IDENTIFIER.test(name)) throw problem(`${where}: "${name}" is not a plain SQL identifier`, { where });
}

/** The declared type of a main-table column or a joined `alias.column`. */
function columnType(definition: TableDefinition, name: string): string | undefined {
  const dot = name.indexOf('.');
  if (dot < 0) return definition.columns[name];
  const alias = name.slice(0, dot);
  return definition.joins?.find((j) => j.alias === alias)?.columns[name.slice(dot + 1)];
}

function conditionColumns(condition: RowCondition | undefined): string[] {
  return condition ? Object.keys(condition) : [];
}

/**
 * Declares one vendor table. Checks at definition time that every column the mapping, key, cursor
 * and filters use is declared, so a typo fails when the plugin loads, not at 2 a.m. on site.
 */
export function defineTable<R extends ResourceType>(definition: TableDefinition<R>): TableDefinition<R> {
  const where = `table ${definition.table}`;
  checkIdentifier(definition.table, where);
  const declared = new Set(Object.keys(definition.columns));
  for (const join of definition.joins ?? []) {
    checkIdentifier(join.table, where);
    checkIdentifier(join.alias, where);
    for (const column of Object.keys(join.columns)) declared.add(`${join.alias}.${column}`);
  }
  for (const column of declared) for (const part of column.split('.')) checkIdentifier(part, where);
  const require = (column: string, role: string) => {
    if (!declared.has(column)) {
      throw problem(`${where}: ${role} uses column "${column}", which is not declared in columns`, {
        table: definition.table,
        column,
        role,
      });
    }
  };
  if (definition.key.length === 0)
    throw problem(`${where}: key must name at least one column`, { table: definition.table });
  definition.key.forEach((c) => require(c, 'key'));
  if (definition.cursor.mode === 'timestamp') {
    const { column, fallback } = definition.cursor;
    require(column, 'cursor');
    definition.cursor.also?.forEach((c) => require(c, 'cursor.also'));
    if (fallback !== undefined) {
      require(fallback, 'cursor.fallback');
      if (fallback === column || columnType(definition, fallback) !== columnType(definition, column)) {
        // COALESCE of two types would convert one of them, and cursor texts would stop round-tripping.
        throw problem(
          `${where}: cursor.fallback "${fallback}" must be another column of the same declared type as "${column}"`,
          { table: definition.table, column, fallback },
        );
      }
    }
  }
  if (definition.cursor.mode === 'window') {
    require(definition.cursor.dateColumn, 'cursor.dateColumn');
    for (const days of [definition.cursor.pastDays, definition.cursor.futureDays]) {
      if (days !== undefined && (!Number.isInteger(days) || days < 0)) {
        throw problem(`${where}: window pastDays/futureDays must be non-negative integers`, {
          table: definition.table,
        });
      }
    }
  }
  for (const condition of [definition.where, definition.deletedWhen, definition.excludeWhen]) {
    conditionColumns(condition).forEach((c) => require(c, 'row condition'));
  }
  for (const join of definition.joins ?? []) {
    for (const [joined, owner] of Object.entries(join.on)) {
      require(`${join.alias}.${joined}`, `join ${join.alias}`);
      require(owner, `join ${join.alias}`);
    }
    for (const [joined, value] of Object.entries(join.onValues ?? {})) {
      require(`${join.alias}.${joined}`, `join ${join.alias} onValues`);
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
        throw problem(`${where}: join ${join.alias} onValues.${joined} must be a string or a finite number`, {
          table: definition.table,
          column: joined,
        });
      }
    }
  }
  for (const [path, mapping] of Object.entries(definition.fields)) {
    mapping.columns.forEach((c) => require(c, `field ${path}`));
  }
  for (const row of definition.staticRows ?? []) {
    // Static rows stand in for table rows: same columns, a full key, and only read by snapshot scans.
    if (definition.cursor.mode !== 'snapshot') {
      throw problem(`${where}: staticRows need cursor mode "snapshot"`, { table: definition.table });
    }
    Object.keys(row).forEach((c) => require(c, 'static row'));
    for (const column of definition.key) {
      if (row[column] === undefined || row[column] === null) {
        throw problem(`${where}: a static row lacks key column "${column}"`, {
          table: definition.table,
          column,
        });
      }
    }
  }
  if (definition.deleteLog) {
    const log = definition.deleteLog;
    checkIdentifier(log.table, where);
    const logColumns = new Set(Object.keys(log.columns));
    for (const column of [
      ...log.key,
      log.cursor.column,
      log.deletedKeyColumn,
      ...conditionColumns(log.where),
    ]) {
      if (!logColumns.has(column)) {
        throw problem(`${where}: delete log ${log.table} uses undeclared column "${column}"`, { column });
      }
    }
    if (definition.key.length !== 1) throw problem(`${where}: a delete log needs a single-column key`, {});
  }
  return Object.freeze(definition);
}

/** The tables a stream reads, for grants and discovery. */
export function tablesRead(table: TableDefinition): string[] {
  const names = [table.table, ...(table.joins ?? []).map((j) => j.table)];
  if (table.deleteLog) names.push(table.deleteLog.table);
  return [...new Set(names)];
}
