import type {
  AliasedRawBuilder,
  CompiledQuery,
  Kysely,
  QueryResult,
  RawBuilder,
  Selectable,
  SelectQueryBuilder,
} from 'kysely';
import type { TendrilError } from '@tendril/core';
import type { ThrottleTake } from './delivery-types.js';
import type { RowColumns, RowValue, Slot } from './slots.js';
import type { DeliveriesTable, StoreTables } from './tables.js';

/**
 * One schema step: applied in `version` order, recorded in `schema_migrations`, and never edited
 * once released (sqlite/migrations.ts, postgres/migrations.ts; schema.test.ts proves the two sets
 * build the same tables).
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Where SQLite and PostgreSQL really differ, and nothing else: the stores (core-store.ts,
 * delivery-store.ts, writeback-store.ts) are written once against this. Implementations:
 * sqlite/dialect.ts and postgres/dialect.ts.
 */
export interface StoreDialect {
  readonly name: 'sqlite' | 'postgres';

  // Representation
  /** A flag constant as the partial indexes spell it: SQLite `1`, PostgreSQL `TRUE`. */
  flagLiteral(value: boolean): RawBuilder<number>;
  /** `ref IN (values)` with the list as one parameter: a JSON array (SQLite `json_each`) or an array (`= ANY`). */
  inList(
    ref: string,
    values: readonly (string | number)[] | Slot,
    type: 'text' | 'bigint',
  ): RawBuilder<boolean>;
  /** A list value as `inList` binds it. */
  encodeList(values: readonly (string | number)[]): unknown;
  /** A text field of a JSON column, comparable in byte order (ISO instants). */
  jsonText(ref: string, key: string): RawBuilder<string>;

  /**
   * Runs one compiled query on `db` (the store's database or a transaction). SQLite runs it
   * synchronously on the connection a transaction already holds, without the query builder's
   * per-call hops; otherwise through kysely.
   */
  execute(db: Kysely<StoreTables>, query: CompiledQuery): Promise<QueryResult<unknown>>;
  /**
   * The same for a select, each row an array of its columns in select order: better-sqlite3 builds
   * a row object key by key, which for a wide row (the lease's 27 columns) costs more than reading
   * the row. PostgreSQL: the driver's objects, as arrays.
   */
  executeArrays(db: Kysely<StoreTables>, query: CompiledQuery): Promise<unknown[][]>;

  // Batches (prepared.ts)
  /** True: a batch inserts with `VALUES` and runs once per row (SQLite); false: once, over arrays (PostgreSQL). */
  readonly batchRowsInline: boolean;
  /** The table `u` a batch reads its rows from. */
  rowSource(columns: RowColumns): AliasedRawBuilder<Record<string, RowValue>, 'u'>;
  /** Runs a batch: once with one array per column (PostgreSQL), or once per row (SQLite). */
  executeBatch(
    db: Kysely<StoreTables>,
    query: CompiledQuery,
    parameters: readonly unknown[],
    rows: readonly Readonly<Record<string, RowValue>>[],
  ): Promise<QueryResult<unknown>>;

  // Locking
  /**
   * Locks the rows a select returns until the transaction ends: PostgreSQL `FOR UPDATE OF <table>`
   * (`skip`: passing over rows another worker holds, `SKIP LOCKED`). SQLite: nothing, its
   * `BEGIN IMMEDIATE` transaction already holds the whole file.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any select, whatever its tables
  lockRows<QB extends SelectQueryBuilder<any, any, any>>(query: QB, table: string, mode: 'wait' | 'skip'): QB;
  /**
   * Transaction-scoped locks on names (PostgreSQL advisory locks, taken in one sorted order so that
   * two transactions never wait on each other in a cycle). SQLite: nothing to do, see `lockRows`.
   */
  lockNames(db: Kysely<StoreTables>, names: Iterable<string>): Promise<void>;
  /** False when `lockRows` and `lockNames` do nothing (SQLite), so callers can skip reading what to lock. */
  readonly explicitLocks: boolean;
  /**
   * The deliveries table as the lease scans it (`d`): SQLite is told to walk the due-heads index
   * (its planner would otherwise sort a subscription's pending rows on each lease).
   */
  dueHeads(): AliasedRawBuilder<Selectable<DeliveriesTable>, 'd'>;

  // Transactions, errors, schema
  /** True when a failed transaction can simply run again (deadlock, serialization failure). */
  retryTransaction(error: unknown): boolean;
  /** Wraps a failure in a TendrilError with a fix and whether to retry; never quotes row values. */
  storeError(operation: string, error: unknown): TendrilError;
  /** The schema steps this backend applies, and the highest version it knows. */
  readonly migrations: readonly Migration[];
  readonly schemaVersion: number;
  /** Inside the migration transaction, before steps are read: take the migration lock, create the bookkeeping table. */
  beginMigration(db: Kysely<StoreTables>): Promise<void>;

  /** The store's size on disk in bytes: SQLite's pages; PostgreSQL's tables with their indexes and TOAST. */
  sizeBytes(db: Kysely<StoreTables>): Promise<number>;
  /**
   * After a prune, outside any transaction: gives space back when it is worth it. SQLite: `VACUUM`
   * when free pages are over a quarter of the file (docs/store.md, "Retention and pruning"), then a WAL
   * truncate; PostgreSQL: nothing, autovacuum reclaims dead rows.
   */
  reclaim(db: Kysely<StoreTables>): Promise<'vacuum' | 'none' | 'autovacuum'>;
  /**
   * After a plain store was sealed in place, outside any transaction: leaves no plain value behind in
   * free pages or the WAL. SQLite: `VACUUM` (the file is rebuilt from live rows) and a WAL truncate;
   * PostgreSQL: nothing (old row versions go with vacuum; docs/security.md, "PHI at rest").
   */
  scrub(db: Kysely<StoreTables>): Promise<void>;

  /** A token bucket in the store shared by every worker (PostgreSQL, docs/delivery.md, "Throttling"); absent on SQLite. */
  takeThrottleToken?(
    db: Kysely<StoreTables>,
    input: { subscriptionId: string; ratePerSecond: number; nowMs: number },
  ): Promise<ThrottleTake>;
}
