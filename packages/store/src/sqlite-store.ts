import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  buildEnvelope,
  customElementEnvelope,
  isTendrilError,
  TendrilError,
  uuidV7,
  type ChangeKind,
  type ReferenceSourceIds,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './sqlite-migrations.js';
import { relaySequence } from './row-values.js';
import type { DeliveryRoute } from './delivery-types.js';
import { SqliteDeliveryStore } from './sqlite-delivery-store.js';
import { SqliteWritebackStore } from './sqlite-writeback-store.js';
import type {
  CustomEventsAppend,
  CustomEventsAppended,
  EventQuery,
  PageCommit,
  RunCounts,
  RunKind,
  RunQuery,
  RunRecord,
  RunStatus,
  ShadowRecord,
  Store,
  StreamState,
} from './types.js';

export interface SqliteStoreOptions {
  /** Clock for stored timestamps, run ids and the first sequence of a connection. Tests pin it. */
  readonly now?: () => Date;
  /** How long a writer waits for another process holding the write lock (ms). Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * The enabled subscriptions' filters: `commitPage` writes one delivery row per matching
   * subscription in the page's transaction (sync-semantics.md §7 step 3). None: no delivery rows.
   */
  readonly deliveryRoutes?: readonly DeliveryRoute[];
}

/**
 * Opens (creating if needed) the embedded SQLite store at `path` (`:memory:` for a throwaway
 * store). WAL journal, `synchronous = NORMAL`, a busy timeout so that several agent processes can
 * share one file, and foreign keys on.
 *
 * The schema is created or upgraded by {@link Store.migrate}; any other method migrates first if
 * that has not happened yet, so a forgotten `migrate()` cannot write into a missing table.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  return new SqliteStore(path, options);
}

const ZERO_COUNTS: RunCounts = { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 };

interface ShadowRow {
  source_id: string;
  resource_id: string;
  stream: string;
  hash: string;
  deleted: number;
  last_seen_at: string;
  business_date: string | null;
}

interface OutboxRow {
  envelope_json: string;
  kind: ChangeKind;
  source_id: string;
  connector_id: string;
  refs_json: string;
}

interface RunRow {
  id: string;
  connection_id: string;
  stream: string;
  kind: RunKind;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  counts_json: string;
  error_json: string | null;
}

/** Every statement the store runs, prepared once after the schema exists. */
function prepareStatements(db: Database.Database) {
  const stale = `SELECT resource_type, source_id FROM shadow
     WHERE connection_id = ? AND stream = ? AND deleted = 0 AND last_seen_at < ?`;
  return {
    getState: db.prepare<[string, string], { state_json: string }>(
      'SELECT state_json FROM stream_state WHERE connection_id = ? AND stream = ?',
    ),
    upsertState: db.prepare<[string, string, string, string]>(
      `INSERT INTO stream_state (connection_id, stream, state_json, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (connection_id, stream) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at`,
    ),
    // json_each turns one JSON array parameter into rows: one statement for any number of ids.
    getShadow: db.prepare<[string, string, string], ShadowRow>(
      `SELECT source_id, resource_id, stream, hash, deleted, last_seen_at, business_date FROM shadow
       WHERE connection_id = ? AND resource_type = ? AND source_id IN (SELECT value FROM json_each(?))`,
    ),
    upsertShadow: db.prepare<[string, string, string, string, string, string, number, string, string | null]>(
      `INSERT INTO shadow (connection_id, resource_type, source_id, resource_id, stream, hash, deleted, last_seen_at, business_date)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, resource_type, source_id) DO UPDATE SET
         resource_id = excluded.resource_id, stream = excluded.stream, hash = excluded.hash,
         deleted = excluded.deleted, last_seen_at = excluded.last_seen_at, business_date = excluded.business_date`,
    ),
    // lastSeenAt only moves forward, so an older read finishing late cannot make a row look stale.
    touchShadow: db.prepare<[string, string | null, string, string, string, string]>(
      `UPDATE shadow SET last_seen_at = ?, business_date = COALESCE(?, business_date)
       WHERE connection_id = ? AND resource_type = ? AND source_id = ? AND last_seen_at < ?`,
    ),
    staleFirst: db.prepare<
      [string, string, string, number],
      { resource_type: ResourceType; source_id: string }
    >(`${stale} ORDER BY source_id, resource_type LIMIT ?`),
    staleAfter: db.prepare<
      [string, string, string, string, number],
      { resource_type: ResourceType; source_id: string }
    >(`${stale} AND source_id > ? ORDER BY source_id, resource_type LIMIT ?`),
    // Window streams: only rows whose business date is in [from, until).
    staleDatedFirst: db.prepare<
      [string, string, string, string, string, number],
      { resource_type: ResourceType; source_id: string }
    >(`${stale} AND business_date >= ? AND business_date < ? ORDER BY source_id, resource_type LIMIT ?`),
    staleDatedAfter: db.prepare<
      [string, string, string, string, string, string, number],
      { resource_type: ResourceType; source_id: string }
    >(
      `${stale} AND business_date >= ? AND business_date < ? AND source_id > ? ORDER BY source_id, resource_type LIMIT ?`,
    ),
    countLive: db.prepare<[string, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM shadow WHERE connection_id = ? AND stream = ? AND deleted = 0',
    ),
    getSequence: db.prepare<[string], { last_sequence: number }>(
      'SELECT last_sequence FROM connection_sequence WHERE connection_id = ?',
    ),
    setSequence: db.prepare<[string, number]>(
      `INSERT INTO connection_sequence (connection_id, last_sequence) VALUES (?, ?)
       ON CONFLICT (connection_id) DO UPDATE SET last_sequence = excluded.last_sequence`,
    ),
    insertEvent: db.prepare<
      [string, string, number, string, string, string, string, string, string, string, string, string]
    >(
      `INSERT INTO outbox (id, connection_id, sequence, type, resource_type, resource_id, source_id, kind,
                           connector_id, envelope_json, refs_json, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    ),
    eventExists: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM outbox WHERE id = ?'),
    countEventsAll: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM outbox'),
    countEventsOf: db.prepare<[string], { n: number }>(
      'SELECT COUNT(*) AS n FROM outbox WHERE connection_id = ?',
    ),
    insertRun: db.prepare<[string, string, string, string, string, string]>(
      `INSERT INTO runs (id, connection_id, stream, kind, status, started_at, counts_json)
       VALUES (?, ?, ?, ?, 'running', ?, ?)`,
    ),
    finishRun: db.prepare<[string, string, string, string | null, string]>(
      'UPDATE runs SET status = ?, finished_at = ?, counts_json = ?, error_json = ? WHERE id = ?',
    ),
    getRelayCursor: db.prepare<[string], { last_sequence: number }>(
      'SELECT last_sequence FROM relay_cursor WHERE connection_id = ?',
    ),
    saveRelayCursor: db.prepare<[string, number, string]>(
      `INSERT INTO relay_cursor (connection_id, last_sequence, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (connection_id) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = excluded.updated_at
       WHERE excluded.last_sequence > relay_cursor.last_sequence`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #now: () => Date;
  #statements: Statements | undefined;
  #closed = false;
  readonly #dynamic = new Map<string, Database.Statement<(string | number)[], unknown>>();
  readonly deliveries: SqliteDeliveryStore;
  readonly writebacks: SqliteWritebackStore;

  constructor(path: string, options: SqliteStoreOptions) {
    this.#now = options.now ?? (() => new Date());
    this.deliveries = new SqliteDeliveryStore(
      // A getter: #db is opened just below, and the guard only runs once the constructor has finished.
      () => this.#db,
      (operation, fn) => this.#guard(operation, () => fn()),
      options.deliveryRoutes ?? [],
      () => this.#now().getTime(),
    );
    this.writebacks = new SqliteWritebackStore(
      () => this.#db,
      (operation, fn) => this.#guard(operation, () => fn()),
      () => this.#now().getTime(),
      (events, subscriptionIds) => this.deliveries.insertLive(events, subscriptionIds),
    );
    try {
      if (path !== ':memory:' && !path.startsWith('file:'))
        mkdirSync(dirname(resolve(path)), { recursive: true });
      this.#db = new Database(path);
    } catch (error) {
      throw storeError(
        'open',
        error,
        'Check that the data directory exists, is writable and has free space.',
      );
    }
    try {
      // busy_timeout first: switching to WAL itself needs a lock another process may hold.
      this.#db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('foreign_keys = ON');
    } catch (error) {
      this.#db.close();
      throw storeError(
        'open',
        error,
        'Check that the data directory exists, is writable and has free space.',
      );
    }
  }

  async migrate(): Promise<void> {
    // #guard migrates on first use; once done, this process's schema is current.
    return this.#guard('migrate', () => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements = undefined;
    this.deliveries.reset();
    this.writebacks.reset();
    this.#dynamic.clear();
    try {
      this.#db.close();
    } catch (error) {
      throw storeError('close', error);
    }
  }

  async getStreamState(connectionId: string, stream: string): Promise<StreamState | undefined> {
    return this.#guard('getStreamState', (s) => {
      const row = s.getState.get(connectionId, stream);
      return row === undefined ? undefined : (JSON.parse(row.state_json) as StreamState);
    });
  }

  async saveStreamState(connectionId: string, stream: string, state: StreamState): Promise<void> {
    return this.#guard('saveStreamState', (s) => {
      s.upsertState.run(connectionId, stream, JSON.stringify(state), this.#nowIso());
    });
  }

  async getShadow(
    connectionId: string,
    resourceType: ResourceType,
    sourceIds: readonly string[],
  ): Promise<Map<string, ShadowRecord>> {
    return this.#guard('getShadow', (s) => {
      const result = new Map<string, ShadowRecord>();
      if (sourceIds.length === 0) return result;
      for (const row of s.getShadow.all(connectionId, resourceType, JSON.stringify(sourceIds))) {
        result.set(row.source_id, {
          hash: row.hash,
          deleted: row.deleted === 1,
          resourceId: row.resource_id,
          stream: row.stream,
          lastSeenAt: row.last_seen_at,
          ...(row.business_date === null ? {} : { businessDate: row.business_date }),
        });
      }
      return result;
    });
  }

  async staleLiveSourceIds(
    connectionId: string,
    stream: string,
    seenBefore: string,
    options: { afterSourceId?: string; limit: number; businessDate?: { from: string; until: string } },
  ): Promise<{ resourceType: ResourceType; sourceId: string }[]> {
    return this.#guard('staleLiveSourceIds', (s) => {
      const before = toInstant(seenBefore, 'seenBefore');
      const limit = toLimit(options.limit);
      const dated = options.businessDate;
      const rows = dated
        ? options.afterSourceId === undefined
          ? s.staleDatedFirst.all(
              connectionId,
              stream,
              before,
              toDay(dated.from, 'from'),
              toDay(dated.until, 'until'),
              limit,
            )
          : s.staleDatedAfter.all(
              connectionId,
              stream,
              before,
              toDay(dated.from, 'from'),
              toDay(dated.until, 'until'),
              options.afterSourceId,
              limit,
            )
        : options.afterSourceId === undefined
          ? s.staleFirst.all(connectionId, stream, before, limit)
          : s.staleAfter.all(connectionId, stream, before, options.afterSourceId, limit);
      return rows.map((row) => ({ resourceType: row.resource_type, sourceId: row.source_id }));
    });
  }

  async countLive(connectionId: string, stream: string): Promise<number> {
    return this.#guard('countLive', (s) => s.countLive.get(connectionId, stream)?.n ?? 0);
  }

  async commitPage(commit: PageCommit): Promise<StoredEvent[]> {
    return this.#guard('commitPage', (s) => {
      const seenAt = toInstant(commit.seenAt, 'seenAt');
      const transaction = this.#db.transaction((): StoredEvent[] => {
        const createdAt = this.#nowIso();
        const events: StoredEvent[] = [];
        const newEvents: StoredEvent[] = [];
        if (commit.changes.length > 0) {
          // Read inside the write lock (BEGIN IMMEDIATE), so two processes never hand out one sequence.
          let sequence =
            s.getSequence.get(commit.connectionId)?.last_sequence ?? this.#now().getTime() * 1000 - 1;
          for (const change of commit.changes) {
            s.upsertShadow.run(
              commit.connectionId,
              change.resourceType,
              change.sourceId,
              change.resourceId,
              commit.stream,
              change.hash,
              change.kind === 'deleted' ? 1 : 0,
              seenAt,
              change.businessDate ?? null,
            );
            sequence += 1;
            if (!Number.isSafeInteger(sequence)) {
              throw new TendrilError(
                'TENDRIL_E_STORE',
                'The event sequence left the safe integer range; the store is corrupt, rebuild it.',
                {
                  retryable: false,
                  details: { connectionId: commit.connectionId },
                },
              );
            }
            const envelope = buildEnvelope({
              connectionId: commit.connectionId,
              resourceType: change.resourceType,
              resourceId: change.resourceId,
              sourceId: change.sourceId,
              kind: change.kind,
              hash: change.hash,
              sequence,
              data: change.data,
            });
            const inserted = s.insertEvent.run(
              envelope.id,
              commit.connectionId,
              sequence,
              envelope.type,
              change.resourceType,
              change.resourceId,
              change.sourceId,
              change.kind,
              commit.connectorId,
              JSON.stringify(envelope),
              JSON.stringify(change.refs),
              createdAt,
            );
            const event: StoredEvent = {
              envelope,
              kind: change.kind,
              sourceId: change.sourceId,
              connectorId: commit.connectorId,
              refs: change.refs,
            };
            events.push(event);
            // A redone page's existing event already has its delivery rows.
            if (inserted.changes > 0) newEvents.push(event);
          }
          s.setSequence.run(commit.connectionId, sequence);
        }
        for (const seen of commit.seen) {
          s.touchShadow.run(
            seenAt,
            seen.businessDate ?? null,
            commit.connectionId,
            seen.resourceType,
            seen.sourceId,
            seenAt,
          );
        }
        // Delivery rows: one per matching subscription, in this same transaction (sync-semantics.md §7 step 3).
        this.deliveries.insertLive(newEvents);
        s.upsertState.run(commit.connectionId, commit.stream, JSON.stringify(commit.state), createdAt);
        return events;
      });
      return transaction.immediate();
    });
  }

  async listEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.#guard('listEvents', () => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.connectionId !== undefined) {
        where.push('connection_id = ?');
        params.push(query.connectionId);
      }
      if (query.resourceType !== undefined) {
        where.push('resource_type = ?');
        params.push(query.resourceType);
      }
      if (query.afterSequence !== undefined) {
        where.push('sequence > ?');
        params.push(query.afterSequence);
      }
      const direction = query.newestFirst === true ? 'DESC' : 'ASC';
      params.push(toLimit(query.limit));
      // Only fixed fragments are concatenated; every value is a bound parameter.
      const sql =
        'SELECT envelope_json, kind, source_id, connector_id, refs_json FROM outbox' +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ` ORDER BY sequence ${direction}, connection_id ${direction} LIMIT ?`;
      return this.#query<OutboxRow>(sql)
        .all(...params)
        .map((row) => ({
          envelope: JSON.parse(row.envelope_json) as StoredEvent['envelope'],
          kind: row.kind,
          sourceId: row.source_id,
          connectorId: row.connector_id,
          refs: JSON.parse(row.refs_json) as ReferenceSourceIds,
        }));
    });
  }

  async appendCustomEvents(append: CustomEventsAppend): Promise<CustomEventsAppended> {
    return this.#guard('appendCustomEvents', (s) => {
      const transaction = this.#db.transaction((): CustomEventsAppended => {
        const createdAt = this.#nowIso();
        const inserted: StoredEvent[] = [];
        let existing = 0;
        // Read inside the write lock (BEGIN IMMEDIATE), as commitPage does.
        let sequence =
          s.getSequence.get(append.connectionId)?.last_sequence ?? this.#now().getTime() * 1000 - 1;
        const seen = new Set<string>();
        for (const draft of append.events) {
          // An id already stored (or twice in this batch) is the same row of the same day: skip it.
          if (seen.has(draft.id) || s.eventExists.get(draft.id) !== undefined) {
            existing += 1;
            continue;
          }
          seen.add(draft.id);
          sequence += 1;
          const envelope = customElementEnvelope(draft, append.connectionId, sequence);
          s.insertEvent.run(
            envelope.id,
            append.connectionId,
            sequence,
            envelope.type,
            envelope.resourceType,
            envelope.resourceId,
            draft.sourceId,
            'created',
            append.connectorId,
            JSON.stringify(envelope),
            '{}',
            createdAt,
          );
          inserted.push({
            envelope,
            kind: 'created',
            sourceId: draft.sourceId,
            connectorId: append.connectorId,
            refs: {},
          });
        }
        if (inserted.length > 0) {
          if (!Number.isSafeInteger(sequence)) {
            throw new TendrilError(
              'TENDRIL_E_STORE',
              'The event sequence left the safe integer range; the store is corrupt, rebuild it.',
              {
                retryable: false,
                details: { connectionId: append.connectionId },
              },
            );
          }
          s.setSequence.run(append.connectionId, sequence);
          this.deliveries.insertLive(inserted);
        }
        return { inserted, existing };
      });
      return transaction.immediate();
    });
  }

  async countEvents(connectionId?: string): Promise<number> {
    return this.#guard('countEvents', (s) =>
      connectionId === undefined
        ? (s.countEventsAll.get()?.n ?? 0)
        : (s.countEventsOf.get(connectionId)?.n ?? 0),
    );
  }

  async startRun(input: {
    connectionId: string;
    stream: string;
    kind: RunKind;
    startedAt: string;
  }): Promise<string> {
    return this.#guard('startRun', (s) => {
      const id = uuidV7(this.#now().getTime());
      s.insertRun.run(
        id,
        input.connectionId,
        input.stream,
        input.kind,
        toInstant(input.startedAt, 'startedAt'),
        JSON.stringify(ZERO_COUNTS),
      );
      return id;
    });
  }

  async finishRun(
    id: string,
    result: {
      status: Exclude<RunStatus, 'running'>;
      finishedAt: string;
      counts: RunCounts;
      error?: { code: string; message: string };
    },
  ): Promise<void> {
    return this.#guard('finishRun', (s) => {
      const error =
        result.error === undefined
          ? null
          : JSON.stringify({ code: result.error.code, message: result.error.message });
      const changed = s.finishRun.run(
        result.status,
        toInstant(result.finishedAt, 'finishedAt'),
        JSON.stringify(result.counts),
        error,
        id,
      ).changes;
      if (changed === 0) {
        throw new TendrilError('TENDRIL_E_STORE', 'No run has this id; pass the id that startRun returned.', {
          retryable: false,
          details: { runId: id },
        });
      }
    });
  }

  async getRelayCursor(connectionId: string): Promise<number | undefined> {
    return this.#guard('getRelayCursor', (s) => s.getRelayCursor.get(connectionId)?.last_sequence);
  }

  async saveRelayCursor(connectionId: string, sequence: number): Promise<void> {
    return this.#guard('saveRelayCursor', (s) => {
      s.saveRelayCursor.run(connectionId, relaySequence(sequence), this.#nowIso());
    });
  }

  async listRuns(query: RunQuery): Promise<RunRecord[]> {
    return this.#guard('listRuns', () => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.connectionId !== undefined) {
        where.push('connection_id = ?');
        params.push(query.connectionId);
      }
      if (query.stream !== undefined) {
        where.push('stream = ?');
        params.push(query.stream);
      }
      if (query.kind !== undefined) {
        where.push('kind = ?');
        params.push(query.kind);
      }
      if (query.status !== undefined) {
        where.push('status = ?');
        params.push(query.status);
      }
      if (query.startedBefore !== undefined) {
        where.push('started_at < ?');
        params.push(toInstant(query.startedBefore, 'startedBefore'));
      }
      params.push(toLimit(query.limit));
      const sql =
        'SELECT id, connection_id, stream, kind, status, started_at, finished_at, counts_json, error_json FROM runs' +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ' ORDER BY started_at DESC, id DESC LIMIT ?';
      return this.#query<RunRow>(sql)
        .all(...params)
        .map((row) => ({
          id: row.id,
          connectionId: row.connection_id,
          stream: row.stream,
          kind: row.kind,
          status: row.status,
          startedAt: row.started_at,
          ...(row.finished_at === null ? {} : { finishedAt: row.finished_at }),
          counts: JSON.parse(row.counts_json) as RunCounts,
          ...(row.error_json === null
            ? {}
            : { error: JSON.parse(row.error_json) as { code: string; message: string } }),
        }));
    });
  }

  /** The few filter combinations of listEvents/listRuns, each prepared once. */
  #query<Row>(sql: string): Database.Statement<(string | number)[], Row> {
    let statement = this.#dynamic.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<(string | number)[], unknown>(sql);
      this.#dynamic.set(sql, statement);
    }
    return statement as Database.Statement<(string | number)[], Row>;
  }

  #nowIso(): string {
    return this.#now().toISOString();
  }

  /** Runs `fn` on an open, migrated store and turns every failure into a TendrilError. */
  async #guard<T>(operation: string, fn: (statements: Statements) => T): Promise<T> {
    if (this.#closed) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        `The agent store is closed; open it again before ${operation}.`,
        {
          retryable: false,
          details: { operation },
        },
      );
    }
    try {
      return fn(this.#ready());
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  #ready(): Statements {
    if (this.#statements === undefined) this.#migrateNow();
    return this.#statements!;
  }

  #migrateNow(): void {
    const migrate = this.#db.transaction(() => {
      this.#db.exec(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
      );
      const current =
        this.#db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').get()
          ?.v ?? 0;
      if (current > SQLITE_SCHEMA_VERSION) {
        throw new TendrilError(
          'TENDRIL_E_STORE_SCHEMA',
          `The agent store has schema version ${current} but this Tendril knows only up to ${SQLITE_SCHEMA_VERSION}; upgrade Tendril, or point it at a new data directory.`,
          { details: { found: current, supported: SQLITE_SCHEMA_VERSION } },
        );
      }
      const record = this.#db.prepare<[number, string, string]>(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
      );
      // Every step not yet recorded runs, in version order, even one numbered below the highest
      // recorded: steps written in parallel (delivery tables, shadow business date) land in any order.
      const applied = new Set(
        this.#db
          .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
          .all()
          .map((r) => r.version),
      );
      for (const migration of [...SQLITE_MIGRATIONS].sort((a, b) => a.version - b.version)) {
        if (applied.has(migration.version)) continue;
        this.#db.exec(migration.sql);
        record.run(migration.version, migration.name, this.#nowIso());
      }
    });
    migrate.immediate();
    this.#statements = prepareStatements(this.#db);
  }
}

/** Wraps a failure; SQLite's own errors (busy, full disk, I/O) are worth a retry, bad input is not. */
function storeError(
  operation: string,
  error: unknown,
  fix = 'Check the data directory (free space, permissions), then retry.',
): TendrilError {
  if (isTendrilError(error)) return error;
  const sqlite = error instanceof Database.SqliteError;
  return new TendrilError('TENDRIL_E_STORE', `The agent store failed during ${operation}. ${fix}`, {
    cause: error,
    retryable: sqlite,
    details: { operation, ...(sqlite ? { sqliteCode: error.code } : {}) },
  });
}

/** Instants are stored in `toISOString()` form so that text order is time order. */
function toInstant(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new TendrilError(
      'TENDRIL_E_STORE',
      `${field} is not an ISO instant; pass a value such as new Date().toISOString().`,
      {
        retryable: false,
        details: { field },
      },
    );
  }
  return new Date(ms).toISOString();
}

/** A business date bound: `YYYY-MM-DD`, compared as text (which is date order). */
function toDay(value: string, field: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new TendrilError('TENDRIL_E_STORE', `businessDate.${field} must be a day of the form YYYY-MM-DD.`, {
      retryable: false,
      details: { field },
    });
  }
  return value;
}

function toLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new TendrilError('TENDRIL_E_STORE', 'limit must be a non-negative integer.', {
      retryable: false,
      details: { limit },
    });
  }
  return limit;
}
