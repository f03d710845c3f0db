import type { Knex } from 'knex';
import { cellText, TendrilError } from '@tendril/core';

/** Databases the data generator writes to. */
export const GENERATOR_DIALECTS = ['mysql', 'sqlite'] as const;
export type GeneratorDialect = (typeof GENERATOR_DIALECTS)[number];

export type SqlValue = string | number | null;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32 (better-sqlite3 ships a newer SQLite). */
const SQLITE_MAX_PARAMETERS = 32_766;
/** Keeps one statement well under MariaDB's default 16 MB max_allowed_packet. */
const MYSQL_MAX_PARAMETERS = 65_535;

function seedError(message: string, details: Record<string, unknown>, cause?: unknown): TendrilError {
  return new TendrilError('TENDRIL_E_SEED', message, { details, cause });
}

function quote(dialect: GeneratorDialect, name: string): string {
  if (!IDENTIFIER.test(name)) throw seedError(`"${name}" is not a plain SQL identifier`, { name });
  switch (dialect) {
    case 'mysql':
      return `\`${name}\``;
    case 'sqlite':
      return `"${name}"`;
    default:
      return dialect satisfies never;
  }
}

/** The parts of knex's (untyped) client this file uses: its config and its connection pool. */
interface KnexClient {
  readonly config?: { readonly client?: unknown };
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}
const clientOf = (knex: Knex): KnexClient => knex.client as KnexClient;

/** Which dialect a knex instance speaks, from its client name. */
export function generatorDialectOf(knex: Knex): GeneratorDialect {
  const client: unknown = clientOf(knex).config?.client;
  const name = typeof client === 'string' ? client : typeof client === 'function' ? String(client.name) : '';
  if (/mysql|maria/i.test(name)) return 'mysql';
  if (/sqlite/i.test(name)) return 'sqlite';
  throw new TendrilError(
    'TENDRIL_E_DB_DIALECT',
    'the data generator writes to MySQL/MariaDB or SQLite only; connect knex to one of them',
    {
      details: { client: name },
    },
  );
}

function rowsOf(dialect: GeneratorDialect, result: unknown): Record<string, unknown>[] {
  // mysql2 through knex.raw answers [rows, fields]; better-sqlite3 answers rows.
  const rows = dialect === 'mysql' ? (result as unknown[])[0] : result;
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
}

/**
 * One pinned database connection for a whole generation run, so session state and (SQLite) the
 * surrounding transaction hold for every batch.
 */
export class InsertSession {
  private open = true;
  /** The one statement allowed in flight while the next batch is generated. */
  private inflight: Promise<void> | undefined;

  private constructor(
    readonly knex: Knex,
    readonly dialect: GeneratorDialect,
    private readonly connection: unknown,
  ) {}

  /** Pins a connection; on SQLite also opens the transaction every batch runs in. */
  static async start(knex: Knex, dialect: GeneratorDialect): Promise<InsertSession> {
    const connection: unknown = await clientOf(knex).acquireConnection();
    const session = new InsertSession(knex, dialect, connection);
    if (dialect === 'sqlite') await session.run('BEGIN');
    return session;
  }

  run(sql: string, bindings: readonly SqlValue[] = []): Promise<unknown> {
    return this.knex.raw(sql, bindings as SqlValue[]).connection(this.connection);
  }

  /**
   * Starts a statement without waiting for it, after the previous one has finished. The database
   * works on one batch while JavaScript generates the next; {@link settle} collects the outcome.
   */
  async submit(
    sql: string,
    bindings: readonly SqlValue[],
    onError: (error: unknown) => Error,
    onDone: () => void,
  ): Promise<void> {
    await this.settle();
    const running = this.run(sql, bindings).then(onDone, (error: unknown) => {
      throw onError(error);
    });
    // Handled by the next settle(); stops Node reporting it as unhandled meanwhile.
    running.catch(() => undefined);
    this.inflight = running;
  }

  /** Waits for the statement in flight, rethrowing its error. */
  async settle(): Promise<void> {
    const running = this.inflight;
    this.inflight = undefined;
    if (running) await running;
  }

  /** Runs a statement that returns rows, after any insert in flight (so it sees that insert). */
  async query(sql: string, bindings: readonly SqlValue[] = []): Promise<Record<string, unknown>[]> {
    await this.settle();
    return rowsOf(this.dialect, await this.run(sql, bindings));
  }

  /** The table's column names as the database spells them, or undefined when it has no such table. */
  async columnsOf(table: string): Promise<string[] | undefined> {
    const rows =
      this.dialect === 'mysql'
        ? await this.query(
            'SELECT COLUMN_NAME AS name FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
            [table],
          )
        : await this.query('SELECT name FROM pragma_table_info(?)', [table]);
    const names = rows.map((r) => cellText(r.name ?? r.NAME));
    return names.length === 0 ? undefined : names;
  }

  /**
   * MyISAM only: stops maintaining non-unique indexes during the load. `ENABLE KEYS` then rebuilds
   * them by sorting, which is far faster than updating 20 indexes row by row (Open Dental's
   * procedurelog has 21). Tables where that is not possible (InnoDB, no ALTER right) are skipped.
   * Returns the tables to hand to {@link enableKeys}.
   */
  async disableKeys(tables: readonly string[]): Promise<string[]> {
    if (this.dialect !== 'mysql' || tables.length === 0) return [];
    const rows = await this.query(
      `SELECT TABLE_NAME AS name FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = DATABASE() AND ENGINE = 'MyISAM' AND TABLE_NAME IN (${tables.map(() => '?').join(',')})`,
      tables,
    );
    const disabled: string[] = [];
    for (const name of rows.map((r) => String(r.name))) {
      try {
        await this.run(`ALTER TABLE ${quote(this.dialect, name)} DISABLE KEYS`);
        disabled.push(name);
      } catch {
        // Without the right to ALTER, the load is only slower.
      }
    }
    return disabled;
  }

  /** Rebuilds the indexes {@link disableKeys} switched off. */
  async enableKeys(tables: readonly string[]): Promise<void> {
    await this.settle();
    for (const name of tables) await this.run(`ALTER TABLE ${quote(this.dialect, name)} ENABLE KEYS`);
  }

  async isEmpty(table: string): Promise<boolean> {
    const rows = await this.query(`SELECT 1 AS one FROM ${quote(this.dialect, table)} LIMIT 1`);
    return rows.length === 0;
  }

  /** Commits (SQLite) and gives the connection back. Safe to call twice. */
  async end(success: boolean): Promise<void> {
    if (!this.open) return;
    this.open = false;
    try {
      if (success) await this.settle();
      else await this.settle().catch(() => undefined);
      if (this.dialect === 'sqlite') await this.run(success ? 'COMMIT' : 'ROLLBACK');
    } finally {
      await clientOf(this.knex).releaseConnection(this.connection);
    }
  }
}

/**
 * Buffers generated rows of one table and writes them as multi-row, parameterised INSERTs of a
 * fixed size. Only columns the target table really has are written: the same generator fills
 * Open Dental's full schema and a schema built from a connector's declared columns alone.
 */
export class BatchWriter<R extends Readonly<Record<string, SqlValue>>> {
  /** Rows written so far. */
  written = 0;
  private buffer: SqlValue[] = [];
  private buffered = 0;
  private readonly pending: SqlValue[][] = [];
  private readonly columns: readonly (keyof R & string)[];
  private readonly insertPrefix: string;
  private readonly rowPlaceholder: string;
  private readonly fullBatchSql: string;
  readonly rowsPerStatement: number;

  /**
   * @param generated the columns the generator produces, in row-object key order
   * @param present the target table's columns (from {@link InsertSession.columnsOf}); undefined
   *   when the table does not exist, which disables the writer
   */
  constructor(
    private readonly session: InsertSession,
    readonly table: string,
    generated: readonly (keyof R & string)[],
    present: readonly string[] | undefined,
    batchSize: number,
  ) {
    const byLower = new Map((present ?? []).map((c) => [c.toLowerCase(), c]));
    this.columns = generated.filter((c) => byLower.has(c.toLowerCase()));
    const dialect = session.dialect;
    const names = this.columns.map((c) => quote(dialect, byLower.get(c.toLowerCase()) as string));
    this.insertPrefix = `INSERT INTO ${quote(dialect, table)} (${names.join(', ')}) VALUES `;
    this.rowPlaceholder = `(${this.columns.map(() => '?').join(',')})`;
    const limit = dialect === 'sqlite' ? SQLITE_MAX_PARAMETERS : MYSQL_MAX_PARAMETERS;
    this.rowsPerStatement = Math.max(
      1,
      Math.min(batchSize, Math.floor(limit / Math.max(1, this.columns.length))),
    );
    this.fullBatchSql = this.sqlFor(this.rowsPerStatement);
  }

  /** False when the target table is missing or shares no column with the generator. */
  get enabled(): boolean {
    return this.columns.length > 0;
  }

  private sqlFor(rows: number): string {
    return this.insertPrefix + new Array<string>(rows).fill(this.rowPlaceholder).join(',');
  }

  /** Queues one row. Never touches the database: call {@link drain} to write full batches. */
  add(row: R): void {
    if (!this.enabled) return;
    for (const column of this.columns) this.buffer.push(row[column] as SqlValue);
    this.buffered++;
    if (this.buffered === this.rowsPerStatement) {
      this.pending.push(this.buffer);
      this.buffer = [];
      this.buffered = 0;
    }
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Submits every full batch queued so far (the last one may still be running on return). */
  async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const values = this.pending.shift() as SqlValue[];
      await this.write(this.fullBatchSql, values, this.rowsPerStatement);
    }
  }

  /** Queues everything, including a last partial batch; `session.settle()` waits for the last write. */
  async flush(): Promise<void> {
    await this.drain();
    if (this.buffered > 0) {
      const values = this.buffer;
      const rows = this.buffered;
      this.buffer = [];
      this.buffered = 0;
      await this.write(this.sqlFor(rows), values, rows);
    }
  }

  private write(sql: string, values: SqlValue[], rows: number): Promise<void> {
    return this.session.submit(
      sql,
      values,
      // The driver's message can quote a value; keep it only as the cause, never in our message.
      (error) =>
        seedError(
          `inserting generated rows into ${this.table} failed; check that the table matches the Open Dental schema`,
          { table: this.table, rows },
          error,
        ),
      () => {
        this.written += rows;
      },
    );
  }
}
