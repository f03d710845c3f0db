import type pg from 'pg';
import {
  buildEnvelope,
  customElementEnvelope,
  TendrilError,
  uuidV7,
  type ChangeKind,
  type EventEnvelope,
  type ReferenceSourceIds,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import type { DeliveryRoute } from './delivery-types.js';
import {
  createStorePool,
  inTransaction,
  postgresStoreError,
  SCHEMA_NAME,
  toDay,
  toInstant,
  toLimit,
  type Queryable,
} from './postgres-connection.js';
import { PostgresDeliveryStore } from './postgres-delivery-store.js';
import { allocateSequences } from './postgres-sequence.js';
import { relaySequence } from './row-values.js';
import { PostgresWritebackStore } from './postgres-writeback-store.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './postgres-migrations.js';
import type {
  CustomEventsAppend,
  CustomEventsAppended,
  EventQuery,
  PageCommit,
  PendingChange,
  RunCounts,
  RunKind,
  RunQuery,
  RunRecord,
  RunStatus,
  SeenRecord,
  ShadowRecord,
  Store,
  StreamState,
} from './types.js';

export interface PostgresStoreOptions {
  /** Clock for stored timestamps, run ids and the first sequence of a connection. Tests pin it. */
  readonly now?: () => Date;
  /**
   * The enabled subscriptions' filters: `commitPage` writes one delivery row per matching
   * subscription in the page's transaction (sync-semantics.md §7 step 3). None: no delivery rows.
   */
  readonly deliveryRoutes?: readonly DeliveryRoute[];
  /**
   * Keep the store's tables in this schema (created if missing) instead of the user's default
   * search path. Lower-case letters, digits and `_`. Several agents' stores can then share one database.
   */
  readonly schema?: string;
  /** Connections in this process's pool. Default 10. */
  readonly poolSize?: number;
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:password@host:5432/database`): the same
 * {@link Store} as the embedded SQLite one, for sites that run several agent workers on several
 * hosts against one store. Nothing connects until the first call; the schema is created or
 * upgraded by {@link Store.migrate} (any other method migrates first if that has not happened yet).
 *
 * Concurrency, so that any number of workers share one store safely:
 * - each `commitPage` is one transaction (sync-semantics.md §7); its sequence range is allocated
 *   under the connection's `connection_sequence` row lock, so two processes never hand out one sequence;
 * - delivery leases take due heads with `FOR UPDATE SKIP LOCKED`, so workers never lease one delivery twice;
 * - migrations run under an advisory lock, so workers starting together migrate exactly once.
 */
export function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Store {
  return new PostgresStore(url, options);
}

const ZERO_COUNTS: RunCounts = { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 };

/** The migration lock: one per database, whichever schema (a migration is short and rare). */
const MIGRATION_LOCK = "hashtextextended('tendril:store:migrate', 0)";

interface ShadowRow {
  source_id: string;
  resource_id: string;
  stream: string;
  hash: string;
  deleted: boolean;
  last_seen_at: string;
  business_date: string | null;
}

interface OutboxRow {
  envelope_json: EventEnvelope;
  kind: ChangeKind;
  source_id: string;
  connector_id: string;
  refs_json: ReferenceSourceIds;
}

interface RunRow {
  id: string;
  connection_id: string;
  stream: string;
  kind: RunKind;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  counts_json: RunCounts;
  error_json: { code: string; message: string } | null;
}

class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;
  readonly #schema: string | undefined;
  #migrated: Promise<void> | undefined;
  #closed = false;
  readonly deliveries: PostgresDeliveryStore;
  readonly writebacks: PostgresWritebackStore;

  constructor(url: string, options: PostgresStoreOptions) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        'The PostgreSQL store schema must be a lower-case identifier (letters, digits, _).',
        { retryable: false, details: { field: 'schema' } },
      );
    }
    this.#now = options.now ?? (() => new Date());
    this.#schema = options.schema;
    this.#pool = createStorePool(url, {
      ...(options.poolSize === undefined ? {} : { max: options.poolSize }),
      ...(options.schema === undefined ? {} : { schema: options.schema }),
    });
    // An idle pooled connection dropped by the server must not crash the agent; the next query reconnects.
    this.#pool.on('error', () => undefined);
    this.deliveries = new PostgresDeliveryStore(
      this.#pool,
      (operation, fn) => this.#guard(operation, fn),
      options.deliveryRoutes ?? [],
      () => this.#now().getTime(),
    );
    this.writebacks = new PostgresWritebackStore(
      this.#pool,
      (operation, fn) => this.#guard(operation, fn),
      () => this.#now().getTime(),
      (client, events, subscriptionIds) => this.deliveries.insertLive(client, events, subscriptionIds),
    );
  }

  async migrate(): Promise<void> {
    return this.#guard('migrate', async () => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#pool.end();
    } catch (error) {
      throw postgresStoreError('close', error);
    }
  }

  async getStreamState(connectionId: string, stream: string): Promise<StreamState | undefined> {
    return this.#guard('getStreamState', async () => {
      const { rows } = await this.#pool.query<{ state_json: StreamState }>(
        'SELECT state_json FROM stream_state WHERE connection_id = $1 AND stream = $2',
        [connectionId, stream],
      );
      return rows[0]?.state_json;
    });
  }

  async saveStreamState(connectionId: string, stream: string, state: StreamState): Promise<void> {
    return this.#guard('saveStreamState', async () => {
      await this.#upsertState(this.#pool, connectionId, stream, state, this.#nowIso());
    });
  }

  async #upsertState(
    db: Queryable,
    connectionId: string,
    stream: string,
    state: StreamState,
    at: string,
  ): Promise<void> {
    await db.query(
      `INSERT INTO stream_state (connection_id, stream, state_json, updated_at) VALUES ($1, $2, $3::jsonb, $4)
       ON CONFLICT (connection_id, stream) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at`,
      [connectionId, stream, JSON.stringify(state), at],
    );
  }

  async getShadow(
    connectionId: string,
    resourceType: ResourceType,
    sourceIds: readonly string[],
  ): Promise<Map<string, ShadowRecord>> {
    return this.#guard('getShadow', async () => {
      const result = new Map<string, ShadowRecord>();
      if (sourceIds.length === 0) return result;
      const { rows } = await this.#pool.query<ShadowRow>(
        `SELECT source_id, resource_id, stream, hash, deleted, last_seen_at, business_date FROM shadow
         WHERE connection_id = $1 AND resource_type = $2 AND source_id = ANY($3::text[])`,
        [connectionId, resourceType, [...sourceIds]],
      );
      for (const row of rows) {
        result.set(row.source_id, {
          hash: row.hash,
          deleted: row.deleted,
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
    return this.#guard('staleLiveSourceIds', async () => {
      const params: (string | number)[] = [connectionId, stream, toInstant(seenBefore, 'seenBefore')];
      let sql = `SELECT resource_type, source_id FROM shadow
        WHERE connection_id = $1 AND stream = $2 AND NOT deleted AND last_seen_at < $3`;
      if (options.businessDate !== undefined) {
        params.push(toDay(options.businessDate.from, 'from'), toDay(options.businessDate.until, 'until'));
        sql += ` AND business_date >= $${params.length - 1} AND business_date < $${params.length}`;
      }
      if (options.afterSourceId !== undefined) {
        params.push(options.afterSourceId);
        sql += ` AND source_id > $${params.length}`;
      }
      params.push(toLimit(options.limit));
      sql += ` ORDER BY source_id, resource_type LIMIT $${params.length}`;
      const { rows } = await this.#pool.query<{ resource_type: ResourceType; source_id: string }>(
        sql,
        params,
      );
      return rows.map((row) => ({ resourceType: row.resource_type, sourceId: row.source_id }));
    });
  }

  async countLive(connectionId: string, stream: string): Promise<number> {
    return this.#guard('countLive', async () => {
      const { rows } = await this.#pool.query<{ n: number }>(
        'SELECT COUNT(*) AS n FROM shadow WHERE connection_id = $1 AND stream = $2 AND NOT deleted',
        [connectionId, stream],
      );
      return rows[0]?.n ?? 0;
    });
  }

  async commitPage(commit: PageCommit): Promise<StoredEvent[]> {
    return this.#guard('commitPage', async () => {
      const seenAt = toInstant(commit.seenAt, 'seenAt');
      return inTransaction(this.#pool, async (client) => {
        const createdAt = this.#nowIso();
        const events: StoredEvent[] = [];
        let newEvents: StoredEvent[] = [];
        if (commit.changes.length > 0) {
          const first = await this.#allocateSequences(client, commit.connectionId, commit.changes.length);
          await this.#upsertShadow(client, commit, seenAt);
          commit.changes.forEach((change, i) => {
            const envelope = buildEnvelope({
              connectionId: commit.connectionId,
              resourceType: change.resourceType,
              resourceId: change.resourceId,
              sourceId: change.sourceId,
              kind: change.kind,
              hash: change.hash,
              sequence: first + i,
              data: change.data,
            });
            events.push({
              envelope,
              kind: change.kind,
              sourceId: change.sourceId,
              connectorId: commit.connectorId,
              refs: change.refs,
            });
          });
          const inserted = await this.#insertEvents(
            client,
            commit.connectionId,
            commit.connectorId,
            events,
            createdAt,
          );
          // A redone page's existing event already has its delivery rows.
          newEvents = events.filter((event) => inserted.has(event.envelope.id));
        }
        await this.#touchSeen(client, commit.connectionId, commit.seen, seenAt);
        // Delivery rows: one per matching subscription, in this same transaction (sync-semantics.md §7 step 3).
        await this.deliveries.insertLive(client, newEvents);
        await this.#upsertState(client, commit.connectionId, commit.stream, commit.state, createdAt);
        return events;
      });
    });
  }

  async #allocateSequences(client: pg.PoolClient, connectionId: string, count: number): Promise<number> {
    return allocateSequences(client, connectionId, count, this.#now().getTime());
  }

  async #upsertShadow(client: pg.PoolClient, commit: PageCommit, seenAt: string): Promise<void> {
    // One statement for the page. A source id twice in one page: the last change wins, as in SQLite.
    const latest = new Map<string, PendingChange>();
    for (const change of commit.changes) latest.set(`${change.resourceType}\u0000${change.sourceId}`, change);
    const rows = [...latest.values()];
    await client.query(
      `INSERT INTO shadow (connection_id, resource_type, source_id, resource_id, stream, hash, deleted, last_seen_at, business_date)
       SELECT $1, u.rt, u.sid, u.rid, $2, u.hash, u.del, $3, u.bd
       FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::text[]) AS u(rt, sid, rid, hash, del, bd)
       ON CONFLICT (connection_id, resource_type, source_id) DO UPDATE SET
         resource_id = excluded.resource_id, stream = excluded.stream, hash = excluded.hash,
         deleted = excluded.deleted, last_seen_at = excluded.last_seen_at, business_date = excluded.business_date`,
      [
        commit.connectionId,
        commit.stream,
        seenAt,
        rows.map((c) => c.resourceType),
        rows.map((c) => c.sourceId),
        rows.map((c) => c.resourceId),
        rows.map((c) => c.hash),
        rows.map((c) => c.kind === 'deleted'),
        rows.map((c) => c.businessDate ?? null),
      ],
    );
  }

  /** Inserts the page's events (`ON CONFLICT (id) DO NOTHING`); returns the ids actually inserted. */
  async #insertEvents(
    client: pg.PoolClient,
    connectionId: string,
    connectorId: string,
    events: readonly StoredEvent[],
    createdAt: string,
  ): Promise<Set<string>> {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO outbox (id, connection_id, sequence, type, resource_type, resource_id, source_id, kind,
                           connector_id, envelope_json, refs_json, created_at)
       SELECT u.id, $1, u.seq, u.type, u.rt, u.rid, u.sid, u.kind, $2, u.env::json, u.refs::json, $3
       FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         AS u(id, seq, type, rt, rid, sid, kind, env, refs)
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [
        connectionId,
        connectorId,
        createdAt,
        events.map((e) => e.envelope.id),
        events.map((e) => e.envelope.sequence),
        events.map((e) => e.envelope.type),
        events.map((e) => e.envelope.resourceType),
        events.map((e) => e.envelope.resourceId),
        events.map((e) => e.sourceId),
        events.map((e) => e.kind),
        // Serialised here, inside the transaction: a value JSON cannot carry rolls the page back.
        events.map((e) => JSON.stringify(e.envelope)),
        events.map((e) => JSON.stringify(e.refs)),
      ],
    );
    return new Set(rows.map((row) => row.id));
  }

  async #touchSeen(
    client: pg.PoolClient,
    connectionId: string,
    seen: readonly SeenRecord[],
    seenAt: string,
  ): Promise<void> {
    if (seen.length === 0) return;
    // A row seen twice in one page: the first touch wins (the second finds lastSeenAt already moved), as in SQLite.
    const first = new Map<string, SeenRecord>();
    for (const record of seen) {
      const key = `${record.resourceType}\u0000${record.sourceId}`;
      if (!first.has(key)) first.set(key, record);
    }
    const rows = [...first.values()];
    // lastSeenAt only moves forward, so an older read finishing late cannot make a row look stale.
    await client.query(
      `UPDATE shadow AS s SET last_seen_at = $1, business_date = COALESCE(u.bd, s.business_date)
       FROM unnest($3::text[], $4::text[], $5::text[]) AS u(rt, sid, bd)
       WHERE s.connection_id = $2 AND s.resource_type = u.rt AND s.source_id = u.sid AND s.last_seen_at < $1`,
      [
        seenAt,
        connectionId,
        rows.map((r) => r.resourceType),
        rows.map((r) => r.sourceId),
        rows.map((r) => r.businessDate ?? null),
      ],
    );
  }

  async listEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.#guard('listEvents', async () => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      const add = (clause: string, value: string | number): void => {
        params.push(value);
        where.push(clause.replace('?', `$${params.length}`));
      };
      if (query.connectionId !== undefined) add('connection_id = ?', query.connectionId);
      if (query.resourceType !== undefined) add('resource_type = ?', query.resourceType);
      if (query.afterSequence !== undefined) add('sequence > ?', query.afterSequence);
      const direction = query.newestFirst === true ? 'DESC' : 'ASC';
      params.push(toLimit(query.limit));
      // Only fixed fragments are concatenated; every value is a bound parameter.
      const sql =
        'SELECT envelope_json, kind, source_id, connector_id, refs_json FROM outbox' +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ` ORDER BY sequence ${direction}, connection_id ${direction} LIMIT $${params.length}`;
      const { rows } = await this.#pool.query<OutboxRow>(sql, params);
      return rows.map((row) => ({
        envelope: row.envelope_json,
        kind: row.kind,
        sourceId: row.source_id,
        connectorId: row.connector_id,
        refs: row.refs_json,
      }));
    });
  }

  async appendCustomEvents(append: CustomEventsAppend): Promise<CustomEventsAppended> {
    return this.#guard('appendCustomEvents', async () =>
      inTransaction(this.#pool, async (client) => {
        const createdAt = this.#nowIso();
        // Lock the connection's sequence first: a concurrent append of the same drafts waits here,
        // then finds them stored.
        const last = (await this.#allocateSequences(client, append.connectionId, 0)) - 1;
        const ids = append.events.map((draft) => draft.id);
        const stored =
          ids.length === 0
            ? new Set<string>()
            : new Set(
                (
                  await client.query<{ id: string }>('SELECT id FROM outbox WHERE id = ANY($1::text[])', [
                    ids,
                  ])
                ).rows.map((row) => row.id),
              );
        const inserted: StoredEvent[] = [];
        let existing = 0;
        for (const draft of append.events) {
          // An id already stored (or twice in this batch) is the same row of the same day: skip it.
          if (stored.has(draft.id)) {
            existing += 1;
            continue;
          }
          stored.add(draft.id);
          const envelope = customElementEnvelope(draft, append.connectionId, last + inserted.length + 1);
          inserted.push({
            envelope,
            kind: 'created',
            sourceId: draft.sourceId,
            connectorId: append.connectorId,
            refs: {},
          });
        }
        if (inserted.length > 0) {
          await this.#allocateSequences(client, append.connectionId, inserted.length);
          await this.#insertEvents(client, append.connectionId, append.connectorId, inserted, createdAt);
          await this.deliveries.insertLive(client, inserted);
        }
        return { inserted, existing };
      }),
    );
  }

  async countEvents(connectionId?: string): Promise<number> {
    return this.#guard('countEvents', async () => {
      const { rows } =
        connectionId === undefined
          ? await this.#pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM outbox')
          : await this.#pool.query<{ n: number }>(
              'SELECT COUNT(*) AS n FROM outbox WHERE connection_id = $1',
              [connectionId],
            );
      return rows[0]?.n ?? 0;
    });
  }

  async startRun(input: {
    connectionId: string;
    stream: string;
    kind: RunKind;
    startedAt: string;
  }): Promise<string> {
    return this.#guard('startRun', async () => {
      const id = uuidV7(this.#now().getTime());
      await this.#pool.query(
        `INSERT INTO runs (id, connection_id, stream, kind, status, started_at, counts_json)
         VALUES ($1, $2, $3, $4, 'running', $5, $6::jsonb)`,
        [
          id,
          input.connectionId,
          input.stream,
          input.kind,
          toInstant(input.startedAt, 'startedAt'),
          JSON.stringify(ZERO_COUNTS),
        ],
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
    return this.#guard('finishRun', async () => {
      const error =
        result.error === undefined
          ? null
          : JSON.stringify({ code: result.error.code, message: result.error.message });
      const { rowCount } = await this.#pool.query(
        'UPDATE runs SET status = $1, finished_at = $2, counts_json = $3::jsonb, error_json = $4::jsonb WHERE id = $5',
        [result.status, toInstant(result.finishedAt, 'finishedAt'), JSON.stringify(result.counts), error, id],
      );
      if (rowCount === 0) {
        throw new TendrilError('TENDRIL_E_STORE', 'No run has this id; pass the id that startRun returned.', {
          retryable: false,
          details: { runId: id },
        });
      }
    });
  }

  async getRelayCursor(connectionId: string): Promise<number | undefined> {
    return this.#guard('getRelayCursor', async () => {
      const { rows } = await this.#pool.query<{ last_sequence: string }>(
        'SELECT last_sequence FROM relay_cursor WHERE connection_id = $1',
        [connectionId],
      );
      return rows[0] === undefined ? undefined : Number(rows[0].last_sequence);
    });
  }

  async saveRelayCursor(connectionId: string, sequence: number): Promise<void> {
    return this.#guard('saveRelayCursor', async () => {
      await this.#pool.query(
        `INSERT INTO relay_cursor (connection_id, last_sequence, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (connection_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence, updated_at = EXCLUDED.updated_at
         WHERE EXCLUDED.last_sequence > relay_cursor.last_sequence`,
        [connectionId, relaySequence(sequence), this.#now()],
      );
    });
  }

  async listRuns(query: RunQuery): Promise<RunRecord[]> {
    return this.#guard('listRuns', async () => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      const add = (clause: string, value: string | number): void => {
        params.push(value);
        where.push(clause.replace('?', `$${params.length}`));
      };
      if (query.connectionId !== undefined) add('connection_id = ?', query.connectionId);
      if (query.stream !== undefined) add('stream = ?', query.stream);
      if (query.kind !== undefined) add('kind = ?', query.kind);
      if (query.status !== undefined) add('status = ?', query.status);
      if (query.startedBefore !== undefined)
        add('started_at < ?', toInstant(query.startedBefore, 'startedBefore'));
      params.push(toLimit(query.limit));
      const sql =
        'SELECT id, connection_id, stream, kind, status, started_at, finished_at, counts_json, error_json FROM runs' +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ` ORDER BY started_at DESC, id DESC LIMIT $${params.length}`;
      const { rows } = await this.#pool.query<RunRow>(sql, params);
      return rows.map((row) => ({
        id: row.id,
        connectionId: row.connection_id,
        stream: row.stream,
        kind: row.kind,
        status: row.status,
        startedAt: row.started_at,
        ...(row.finished_at === null ? {} : { finishedAt: row.finished_at }),
        counts: row.counts_json,
        ...(row.error_json === null ? {} : { error: row.error_json }),
      }));
    });
  }

  #nowIso(): string {
    return this.#now().toISOString();
  }

  /** Runs `fn` on an open, migrated store and turns every failure into a TendrilError. */
  async #guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
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
      // A failed migration (server down at start) is retried by the next call, not remembered.
      this.#migrated ??= this.#migrateNow().catch((error: unknown) => {
        this.#migrated = undefined;
        throw error;
      });
      await this.#migrated;
      return await fn();
    } catch (error) {
      throw postgresStoreError(operation, error);
    }
  }

  /**
   * Applies every step not yet recorded, in version order, in one transaction under an advisory
   * lock: workers starting together wait for the first, then find its steps recorded.
   */
  async #migrateNow(): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      if (this.#schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
      );
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => row.version));
      const found = Math.max(0, ...applied);
      if (found > POSTGRES_SCHEMA_VERSION) {
        throw new TendrilError(
          'TENDRIL_E_STORE_SCHEMA',
          `The agent store has schema version ${found} but this Tendril knows only up to ${POSTGRES_SCHEMA_VERSION}; upgrade Tendril, or point store.postgres at a new database.`,
          { details: { found, supported: POSTGRES_SCHEMA_VERSION } },
        );
      }
      // Every step not yet recorded runs, even one numbered below the highest recorded (as in SQLite).
      for (const migration of [...POSTGRES_MIGRATIONS].sort((a, b) => a.version - b.version)) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          this.#nowIso(),
        ]);
      }
    });
  }
}
