import { resolve } from 'node:path';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/**
 * The part of a better-sqlite3 `Database` the store uses. `better-sqlite3-multiple-ciphers` (SQLCipher)
 * has the same API, so an already-opened database of either package can be handed to the store.
 */
export interface SqliteDatabase {
  /** The file as opened (`:memory:` for a private database). */
  readonly name: string;
  readonly memory: boolean;
  prepare(sql: string): SqliteStatement;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
}

export interface SqliteStatement {
  readonly reader: boolean;
  all(...parameters: unknown[]): unknown[];
  /** Rows as arrays of their columns (a select only). */
  raw(toggle?: boolean): this;
  run(...parameters: unknown[]): { changes: number; lastInsertRowid: number | bigint };
}

/** Prepared statements by SQL text: the store runs a few dozen texts over and over. */
export class SqliteStatements {
  readonly #database: SqliteDatabase;
  readonly #cache = new Map<string, SqliteStatement>();
  /** The same texts prepared to give rows as arrays (a statement's mode is its own, so a second one). */
  readonly #arrays = new Map<string, SqliteStatement>();
  /** Dynamic filters make a handful of texts each; this bound only guards against a leak. */
  static readonly LIMIT = 500;

  constructor(database: SqliteDatabase) {
    this.#database = database;
  }

  get(sql: string): SqliteStatement {
    let statement = this.#cache.get(sql);
    if (statement === undefined) {
      statement = this.#database.prepare(sql);
      if (this.#cache.size >= SqliteStatements.LIMIT) this.#cache.clear();
      this.#cache.set(sql, statement);
    }
    return statement;
  }

  /** Runs one statement synchronously (batches inside a transaction call this in a loop). */
  execute(sql: string, parameters: readonly unknown[]): QueryResult<unknown> {
    const statement = this.get(sql);
    if (statement.reader) return { rows: statement.all(...parameters) };
    const { changes, lastInsertRowid } = statement.run(...parameters);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }

  /** Runs one select synchronously, each row an array of its columns in select order. */
  executeArrays(sql: string, parameters: readonly unknown[]): unknown[][] {
    let statement = this.#arrays.get(sql);
    if (statement === undefined) {
      statement = this.#database.prepare(sql).raw(true);
      if (this.#arrays.size >= SqliteStatements.LIMIT) this.#arrays.clear();
      this.#arrays.set(sql, statement);
    }
    return statement.all(...parameters) as unknown[][];
  }

  clear(): void {
    this.#cache.clear();
    this.#arrays.clear();
  }
}

/**
 * Turns for the connections to one database file in this process, handed out in request order.
 * better-sqlite3 is synchronous: a statement that meets another connection's write lock waits for
 * it inside the call (the busy timeout), blocking the event loop — and with it the other
 * connection's transaction, which can then never finish. So every store on the same file in this
 * process takes its turn here first; other processes are kept apart by SQLite's own lock.
 */
class FileTurns {
  static readonly #byFile = new Map<string, FileTurns>();
  readonly #waiting: (() => void)[] = [];
  #busy = false;
  #users = 0;

  /** The turns of this database's file (a private one for an in-memory database). */
  static of(database: SqliteDatabase): { turns: FileTurns; leave: () => void } {
    if (database.memory) return { turns: new FileTurns(), leave: () => undefined };
    const file = database.name.startsWith('file:') ? database.name : resolve(database.name);
    let turns = FileTurns.#byFile.get(file);
    if (turns === undefined) {
      turns = new FileTurns();
      FileTurns.#byFile.set(file, turns);
    }
    turns.#users += 1;
    const own = turns;
    return {
      turns: own,
      leave: () => {
        own.#users -= 1;
        if (own.#users === 0 && FileTurns.#byFile.get(file) === own) FileTurns.#byFile.delete(file);
      },
    };
  }

  async take(): Promise<void> {
    if (this.#busy) await new Promise<void>((resolveTurn) => this.#waiting.push(resolveTurn));
    this.#busy = true;
  }

  give(): void {
    const next = this.#waiting.shift();
    // Handed straight to the next waiter: the file never looks free in between.
    if (next === undefined) this.#busy = false;
    else next();
  }
}

/**
 * A kysely dialect on one SQLite connection: every query waits for its turn on the file (one at a
 * time, as SQLite has one writer anyway), statements are prepared once per SQL text, and every
 * transaction is `BEGIN IMMEDIATE`, so it takes the write lock at its start: two processes sharing
 * the file serialise their transactions instead of failing on a lock upgrade.
 */
export class SqliteStoreDialect implements Dialect {
  readonly statements: SqliteStatements;
  readonly #database: SqliteDatabase;
  readonly #turns: FileTurns;
  /** Gives up this store's place on the file (the store closed). */
  readonly leave: () => void;

  constructor(database: SqliteDatabase) {
    this.#database = database;
    this.statements = new SqliteStatements(database);
    const { turns, leave } = FileTurns.of(database);
    this.#turns = turns;
    this.leave = leave;
  }

  createDriver(): Driver {
    return new SqliteStoreDriver(this.#database, this.statements, this.#turns);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

class SqliteStoreDriver implements Driver {
  readonly #database: SqliteDatabase;
  readonly #connection: DatabaseConnection;
  readonly #turns: FileTurns;

  constructor(database: SqliteDatabase, statements: SqliteStatements, turns: FileTurns) {
    this.#database = database;
    this.#turns = turns;
    this.#connection = {
      executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> =>
        statements.execute(query.sql, query.parameters) as QueryResult<R>,
      streamQuery: () => {
        throw new Error('The store does not stream SQLite queries.');
      },
    };
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#turns.take();
    return this.#connection;
  }

  async releaseConnection(): Promise<void> {
    this.#turns.give();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('BEGIN IMMEDIATE'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // A failed COMMIT or a constraint error may already have ended the transaction.
    if (this.#database.inTransaction) await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  async destroy(): Promise<void> {}
}
