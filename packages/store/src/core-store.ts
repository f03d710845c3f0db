import { sql, type Kysely } from 'kysely';
import {
  buildEnvelope,
  customElementEnvelope,
  TendrilError,
  uuidV7,
  type EventEnvelope,
  type ReferenceSourceIds,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import { DeliveryStoreImpl } from './delivery-store.js';
import type { DeliveryRoute } from './delivery-types.js';
import { insertEvents } from './outbox.js';
import { Batch, Prepared, type QueryParts } from './prepared.js';
import type { StoreRuntime } from './runtime.js';
import { allocateSequences } from './sequences.js';
import type { StoreTables } from './tables.js';
import { pruneStore } from './retention.js';
import type {
  PayloadKeyReport,
  PruneOptions,
  PruneReport,
  RetentionPolicy,
  CustomEventsAppend,
  CustomEventsAppended,
  EventQuery,
  PageCommit,
  PendingChange,
  QuarantinedRow,
  QuarantineQuery,
  QuarantineRecord,
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
import { bit, flag, parsed, relaySequence, toDay, toInstant, toLimit } from './values.js';
import { WritebackStoreImpl } from './writeback-store.js';

const ZERO_COUNTS: RunCounts = { read: 0, created: 0, updated: 0, deleted: 0, unchanged: 0 };

const GET_STATE = new Prepared<{ connectionId: string; stream: string }, { state_json: unknown }>((db, q) =>
  db
    .selectFrom('stream_state')
    .select('state_json')
    .where('connection_id', '=', q.param('connectionId'))
    .where('stream', '=', q.param('stream')),
);

const UPSERT_STATE = new Prepared<{ connectionId: string; stream: string; state: string; at: string }, never>(
  (db, q) =>
    db
      .insertInto('stream_state')
      .values({
        connection_id: q.param('connectionId'),
        stream: q.param('stream'),
        state_json: q.param('state'),
        updated_at: q.param('at'),
      })
      .onConflict((oc) =>
        oc.columns(['connection_id', 'stream']).doUpdateSet((eb) => ({
          state_json: eb.ref('excluded.state_json'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      ),
);

const GET_SHADOW = new Prepared<
  { connectionId: string; resourceType: string; sourceIds: readonly string[] },
  {
    source_id: string;
    resource_id: string;
    stream: string;
    hash: string;
    deleted: number | boolean;
    last_seen_at: string;
    business_date: string | null;
  }
>((db, q) =>
  db
    .selectFrom('shadow')
    .select(['source_id', 'resource_id', 'stream', 'hash', 'deleted', 'last_seen_at', 'business_date'])
    .where('connection_id', '=', q.param('connectionId'))
    .where('resource_type', '=', q.param('resourceType'))
    .where(q.inList('source_id', 'sourceIds', 'text')),
);

const COUNT_LIVE = new Prepared<{ connectionId: string; stream: string }, { n: number }>((db, q) =>
  db
    .selectFrom('shadow')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('connection_id', '=', q.param('connectionId'))
    .where('stream', '=', q.param('stream'))
    .where('deleted', '=', q.no),
);

/** The page's shadow rows (one per source id, the last change wins). */
const UPSERT_SHADOW = new Batch(
  { rt: 'text', sid: 'text', rid: 'text', hash: 'text', del: 'flag', bd: 'text' },
  (_db, rows, q: QueryParts<{ connectionId: string; stream: string; seenAt: string }>) =>
    rows
      .insert('shadow', {
        connection_id: q.param('connectionId'),
        resource_type: rows.col.rt,
        source_id: rows.col.sid,
        resource_id: rows.col.rid,
        stream: q.param('stream'),
        hash: rows.col.hash,
        deleted: rows.col.del,
        last_seen_at: q.param('seenAt'),
        business_date: rows.col.bd,
      })
      .onConflict((oc) =>
        oc.columns(['connection_id', 'resource_type', 'source_id']).doUpdateSet((eb) => ({
          resource_id: eb.ref('excluded.resource_id'),
          stream: eb.ref('excluded.stream'),
          hash: eb.ref('excluded.hash'),
          deleted: eb.ref('excluded.deleted'),
          last_seen_at: eb.ref('excluded.last_seen_at'),
          business_date: eb.ref('excluded.business_date'),
        })),
      ),
);

/** Rows re-read unchanged: `lastSeenAt` moves forward only, so an older read finishing late cannot make a row look stale. */
const TOUCH_SEEN = new Batch(
  { rt: 'text', sid: 'text', bd: 'text' },
  (db, rows, q: QueryParts<{ connectionId: string; seenAt: string }>) =>
    db
      .updateTable('shadow')
      .from(rows.table)
      .set((eb) => ({
        last_seen_at: q.param('seenAt'),
        business_date: sql<string | null>`COALESCE(${eb.ref('u.bd')}, ${eb.ref('shadow.business_date')})`,
      }))
      .whereRef('shadow.resource_type', '=', 'u.rt')
      .whereRef('shadow.source_id', '=', 'u.sid')
      .where('shadow.connection_id', '=', q.param('connectionId'))
      .where('shadow.last_seen_at', '<', q.param('seenAt')),
);

/**
 * A row into quarantine, or a known one seen failing again: the latest failure's code, field and
 * reason replace the old ones, `count` goes up (docs/quarantine.md).
 */
const UPSERT_QUARANTINE = new Batch(
  { rt: 'text', sid: 'text', code: 'text', field: 'text', reason: 'text' },
  (_db, rows, q: QueryParts<{ connectionId: string; stream: string; seenAt: string }>) =>
    rows
      .insert('quarantine', {
        connection_id: q.param('connectionId'),
        resource_type: rows.col.rt,
        source_id: rows.col.sid,
        stream: q.param('stream'),
        error_code: rows.col.code,
        field: rows.col.field,
        reason: rows.col.reason,
        first_seen_at: q.param('seenAt'),
        last_seen_at: q.param('seenAt'),
        count: sql.lit(1),
      })
      .onConflict((oc) =>
        oc.columns(['connection_id', 'resource_type', 'source_id']).doUpdateSet((eb) => ({
          stream: eb.ref('excluded.stream'),
          error_code: eb.ref('excluded.error_code'),
          field: eb.ref('excluded.field'),
          reason: eb.ref('excluded.reason'),
          last_seen_at: eb.ref('excluded.last_seen_at'),
          count: sql<number>`${eb.ref('quarantine.count')} + 1`,
        })),
      ),
);

/** Rows that mapped (or are gone) leave quarantine. */
const RELEASE_QUARANTINE = new Prepared<
  { connectionId: string; resourceType: string; sourceIds: readonly string[] },
  never
>((db, q) =>
  db
    .deleteFrom('quarantine')
    .where('connection_id', '=', q.param('connectionId'))
    .where('resource_type', '=', q.param('resourceType'))
    .where(q.inList('source_id', 'sourceIds', 'text')),
);

const EXISTING_EVENTS = new Prepared<{ ids: readonly string[] }, { id: string }>((db, q) =>
  db
    .selectFrom('outbox')
    .select('id')
    .where(q.inList('id', 'ids', 'text')),
);

const INSERT_RUN = new Prepared<
  { id: string; connectionId: string; stream: string; kind: string; startedAt: string; counts: string },
  never
>((db, q) =>
  db.insertInto('runs').values({
    id: q.param('id'),
    connection_id: q.param('connectionId'),
    stream: q.param('stream'),
    kind: q.param('kind'),
    status: sql.lit('running'),
    started_at: q.param('startedAt'),
    counts_json: q.param('counts'),
  }),
);

const FINISH_RUN = new Prepared<
  { id: string; status: string; finishedAt: string; counts: string; error: string | null },
  never
>((db, q) =>
  db
    .updateTable('runs')
    .set({
      status: q.param('status'),
      finished_at: q.param('finishedAt'),
      counts_json: q.param('counts'),
      error_json: q.param('error'),
    })
    .where('id', '=', q.param('id')),
);

const GET_RELAY_CURSOR = new Prepared<{ connectionId: string }, { last_sequence: number }>((db, q) =>
  db.selectFrom('relay_cursor').select('last_sequence').where('connection_id', '=', q.param('connectionId')),
);

const SAVE_RELAY_CURSOR = new Prepared<{ connectionId: string; sequence: number; at: string }, never>(
  (db, q) =>
    db
      .insertInto('relay_cursor')
      .values({
        connection_id: q.param('connectionId'),
        last_sequence: q.param('sequence'),
        updated_at: q.param('at'),
      })
      .onConflict((oc) =>
        oc
          .column('connection_id')
          .doUpdateSet((eb) => ({
            last_sequence: eb.ref('excluded.last_sequence'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          .where('excluded.last_sequence', '>', (eb) => eb.ref('relay_cursor.last_sequence')),
      ),
);

/**
 * The agent's store (types.ts), written once for both backends: stream state, shadow, outbox,
 * sequences, runs and relay cursors here; deliveries and writebacks in their own halves. Opened by
 * `openSqliteStore` (sqlite/open.ts) or `openPostgresStore` (postgres/open.ts).
 */
export class CoreStore implements Store {
  readonly #rt: StoreRuntime;
  readonly deliveries: DeliveryStoreImpl;
  readonly writebacks: WritebackStoreImpl;

  constructor(runtime: StoreRuntime, routes: readonly DeliveryRoute[]) {
    this.#rt = runtime;
    this.deliveries = new DeliveryStoreImpl(runtime, routes);
    this.writebacks = new WritebackStoreImpl(runtime, this.deliveries);
  }

  get #d() {
    return this.#rt.dialect;
  }

  async migrate(): Promise<void> {
    // The guard migrates on first use; once done, this process's schema is current.
    return this.#rt.guard('migrate', async () => undefined);
  }

  payloadProtection(): Promise<PayloadKeyReport> {
    return this.#rt.payloadProtection();
  }

  prune(policy: RetentionPolicy, options?: PruneOptions): Promise<PruneReport> {
    return pruneStore(this.#rt, policy, options);
  }

  sizeBytes(): Promise<number> {
    return this.#rt.guard('sizeBytes', (db) => this.#d.sizeBytes(db));
  }

  async close(): Promise<void> {
    return this.#rt.close();
  }

  async getStreamState(connectionId: string, stream: string): Promise<StreamState | undefined> {
    return this.#rt.guard('getStreamState', async (db) => {
      const { rows } = await GET_STATE.run(db, this.#d, { connectionId, stream });
      return rows[0] === undefined ? undefined : parsed<StreamState>(rows[0].state_json);
    });
  }

  async saveStreamState(connectionId: string, stream: string, state: StreamState): Promise<void> {
    return this.#rt.guard('saveStreamState', async (db) => {
      await this.#saveState(db, connectionId, stream, state);
    });
  }

  async #saveState(db: Kysely<StoreTables>, connectionId: string, stream: string, state: StreamState) {
    await UPSERT_STATE.run(db, this.#d, {
      connectionId,
      stream,
      state: JSON.stringify(state),
      at: this.#rt.nowIso(),
    });
  }

  async getShadow(
    connectionId: string,
    resourceType: ResourceType,
    sourceIds: readonly string[],
  ): Promise<Map<string, ShadowRecord>> {
    return this.#rt.guard('getShadow', async (db) => {
      const result = new Map<string, ShadowRecord>();
      if (sourceIds.length === 0) return result;
      const { rows } = await GET_SHADOW.run(db, this.#d, { connectionId, resourceType, sourceIds });
      for (const row of rows) {
        result.set(row.source_id, {
          hash: row.hash,
          deleted: flag(row.deleted),
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
    return this.#rt.guard('staleLiveSourceIds', async (db) => {
      const dated = options.businessDate;
      let query = db
        .selectFrom('shadow')
        .select(['resource_type', 'source_id'])
        .where('connection_id', '=', connectionId)
        .where('stream', '=', stream)
        .where('deleted', '=', this.#d.flagLiteral(false))
        .where('last_seen_at', '<', toInstant(seenBefore, 'seenBefore'));
      if (dated !== undefined) {
        query = query
          .where('business_date', '>=', toDay(dated.from, 'from'))
          .where('business_date', '<', toDay(dated.until, 'until'));
      }
      if (options.afterSourceId !== undefined) query = query.where('source_id', '>', options.afterSourceId);
      const rows = await query
        .orderBy('source_id')
        .orderBy('resource_type')
        .limit(toLimit(options.limit))
        .execute();
      return rows.map((row) => ({
        resourceType: row.resource_type as ResourceType,
        sourceId: row.source_id,
      }));
    });
  }

  async countLive(connectionId: string, stream: string): Promise<number> {
    return this.#rt.guard('countLive', async (db) => {
      const { rows } = await COUNT_LIVE.run(db, this.#d, { connectionId, stream });
      return Number(rows[0]?.n ?? 0);
    });
  }

  async commitPage(commit: PageCommit): Promise<StoredEvent[]> {
    return this.#rt.guard('commitPage', async () => {
      const seenAt = toInstant(commit.seenAt, 'seenAt');
      return this.#rt.transaction(async (db) => {
        const createdAt = this.#rt.nowIso();
        const events: StoredEvent[] = [];
        let newEvents: StoredEvent[] = [];
        if (commit.changes.length > 0) {
          const first = await allocateSequences(
            db,
            this.#d,
            commit.connectionId,
            commit.changes.length,
            this.#rt.nowMs(),
          );
          await this.#upsertShadow(db, commit, seenAt);
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
          // A redone page's existing events already have their delivery rows.
          const existing = this.deliveries.routed
            ? new Set(
                (await EXISTING_EVENTS.run(db, this.#d, { ids: events.map((e) => e.envelope.id) })).rows.map(
                  (row) => row.id,
                ),
              )
            : new Set<string>();
          await insertEvents(
            db,
            this.#d,
            this.#rt.payloads,
            commit.connectionId,
            commit.connectorId,
            events,
            createdAt,
          );
          newEvents = events.filter((event) => !existing.has(event.envelope.id));
        }
        await this.#touchSeen(db, commit.connectionId, commit.seen, seenAt);
        // Quarantine moves with the page: a row skipped now, or mapped now, with the cursor that passed it.
        if (commit.released && commit.released.sourceIds.length > 0) {
          await RELEASE_QUARANTINE.run(db, this.#d, {
            connectionId: commit.connectionId,
            resourceType: commit.released.resourceType,
            sourceIds: commit.released.sourceIds,
          });
        }
        await this.#upsertQuarantine(
          db,
          commit.connectionId,
          commit.stream,
          commit.quarantined ?? [],
          seenAt,
        );
        // Delivery rows: one per matching subscription, in this same transaction (docs/sync-semantics.md, "The commit rule" step 3).
        await this.deliveries.insertLive(db, newEvents);
        await this.#saveState(db, commit.connectionId, commit.stream, commit.state);
        return events;
      });
    });
  }

  async #upsertQuarantine(
    db: Kysely<StoreTables>,
    connectionId: string,
    stream: string,
    rows: readonly QuarantinedRow[],
    seenAt: string,
  ): Promise<void> {
    // A source id twice in one page counts once: the last failure wins.
    const latest = new Map<string, QuarantinedRow>();
    for (const row of rows) latest.set(`${row.resourceType}\u0000${row.sourceId}`, row);
    await UPSERT_QUARANTINE.run(
      db,
      this.#d,
      [...latest.values()].map((r) => ({
        rt: r.resourceType,
        sid: r.sourceId,
        code: r.errorCode,
        field: r.field ?? null,
        reason: r.reason,
      })),
      { connectionId, stream, seenAt },
    );
  }

  async recordQuarantine(
    connectionId: string,
    stream: string,
    rows: readonly QuarantinedRow[],
    seenAt: string,
  ): Promise<void> {
    return this.#rt.guard('recordQuarantine', async () => {
      const at = toInstant(seenAt, 'seenAt');
      if (rows.length === 0) return;
      await this.#rt.transaction(async (db) => this.#upsertQuarantine(db, connectionId, stream, rows, at));
    });
  }

  async listQuarantine(query: QuarantineQuery): Promise<QuarantineRecord[]> {
    return this.#rt.guard('listQuarantine', async (db) => {
      let select = db
        .selectFrom('quarantine')
        .select([
          'connection_id',
          'resource_type',
          'source_id',
          'stream',
          'error_code',
          'field',
          'reason',
          'first_seen_at',
          'last_seen_at',
          'count',
        ]);
      if (query.connectionId !== undefined) select = select.where('connection_id', '=', query.connectionId);
      if (query.stream !== undefined) select = select.where('stream', '=', query.stream);
      if (query.sourceId !== undefined) select = select.where('source_id', '=', query.sourceId);
      const rows = await select
        .orderBy('connection_id')
        .orderBy('stream')
        .orderBy('source_id')
        .limit(toLimit(query.limit))
        .execute();
      return rows.map((row) => ({
        connectionId: row.connection_id,
        stream: row.stream,
        resourceType: row.resource_type as ResourceType,
        sourceId: row.source_id,
        errorCode: row.error_code,
        ...(row.field === null ? {} : { field: row.field }),
        reason: row.reason,
        firstSeenAt: toInstant(row.first_seen_at, 'first_seen_at'),
        lastSeenAt: toInstant(row.last_seen_at, 'last_seen_at'),
        count: Number(row.count),
      }));
    });
  }

  async countQuarantine(connectionId: string, stream?: string): Promise<number> {
    return this.#rt.guard('countQuarantine', async (db) => {
      let query = db
        .selectFrom('quarantine')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('connection_id', '=', connectionId);
      if (stream !== undefined) query = query.where('stream', '=', stream);
      return Number((await query.executeTakeFirst())?.n ?? 0);
    });
  }

  async #upsertShadow(db: Kysely<StoreTables>, commit: PageCommit, seenAt: string): Promise<void> {
    // A source id twice in one page: the last change wins.
    const latest = new Map<string, PendingChange>();
    for (const change of commit.changes) latest.set(`${change.resourceType}\u0000${change.sourceId}`, change);
    await UPSERT_SHADOW.run(
      db,
      this.#d,
      [...latest.values()].map((c) => ({
        rt: c.resourceType,
        sid: c.sourceId,
        rid: c.resourceId,
        hash: c.hash,
        del: bit(c.kind === 'deleted'),
        bd: c.businessDate ?? null,
      })),
      { connectionId: commit.connectionId, stream: commit.stream, seenAt },
    );
  }

  async #touchSeen(
    db: Kysely<StoreTables>,
    connectionId: string,
    seen: readonly SeenRecord[],
    seenAt: string,
  ): Promise<void> {
    // A row seen twice in one page: the first touch wins.
    const first = new Map<string, SeenRecord>();
    for (const record of seen) {
      const key = `${record.resourceType}\u0000${record.sourceId}`;
      if (!first.has(key)) first.set(key, record);
    }
    await TOUCH_SEEN.run(
      db,
      this.#d,
      [...first.values()].map((r) => ({ rt: r.resourceType, sid: r.sourceId, bd: r.businessDate ?? null })),
      { connectionId, seenAt },
    );
  }

  async listEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.#rt.guard('listEvents', async (db) => {
      const direction = query.newestFirst === true ? 'desc' : 'asc';
      let select = db
        .selectFrom('outbox')
        .select(['envelope_json', 'kind', 'source_id', 'connector_id', 'refs_json']);
      if (query.connectionId !== undefined) select = select.where('connection_id', '=', query.connectionId);
      if (query.resourceType !== undefined) select = select.where('resource_type', '=', query.resourceType);
      if (query.afterSequence !== undefined) select = select.where('sequence', '>', query.afterSequence);
      const rows = await select
        .orderBy('sequence', direction)
        .orderBy('connection_id', direction)
        .limit(toLimit(query.limit))
        .execute();
      return rows.map((row) => ({
        envelope: this.#rt.payloads.read<EventEnvelope>('outbox.envelope_json', row.envelope_json),
        kind: row.kind as StoredEvent['kind'],
        sourceId: row.source_id,
        connectorId: row.connector_id,
        refs: parsed<ReferenceSourceIds>(row.refs_json),
      }));
    });
  }

  async appendCustomEvents(append: CustomEventsAppend): Promise<CustomEventsAppended> {
    return this.#rt.guard('appendCustomEvents', async () =>
      this.#rt.transaction(async (db) => {
        const createdAt = this.#rt.nowIso();
        const nowMs = this.#rt.nowMs();
        // Hold the connection's counter first: a concurrent append of the same drafts waits here,
        // then finds them stored.
        const last = (await allocateSequences(db, this.#d, append.connectionId, 0, nowMs)) - 1;
        const ids = append.events.map((draft) => draft.id);
        const stored = new Set(
          ids.length === 0 ? [] : (await EXISTING_EVENTS.run(db, this.#d, { ids })).rows.map((row) => row.id),
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
          await allocateSequences(db, this.#d, append.connectionId, inserted.length, nowMs);
          await insertEvents(
            db,
            this.#d,
            this.#rt.payloads,
            append.connectionId,
            append.connectorId,
            inserted,
            createdAt,
          );
          await this.deliveries.insertLive(db, inserted);
        }
        return { inserted, existing };
      }),
    );
  }

  async countEvents(connectionId?: string): Promise<number> {
    return this.#rt.guard('countEvents', async (db) => {
      let query = db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n'));
      if (connectionId !== undefined) query = query.where('connection_id', '=', connectionId);
      return Number((await query.executeTakeFirst())?.n ?? 0);
    });
  }

  async startRun(input: {
    connectionId: string;
    stream: string;
    kind: RunKind;
    startedAt: string;
  }): Promise<string> {
    return this.#rt.guard('startRun', async (db) => {
      const id = uuidV7(this.#rt.nowMs());
      await INSERT_RUN.run(db, this.#d, {
        id,
        connectionId: input.connectionId,
        stream: input.stream,
        kind: input.kind,
        startedAt: toInstant(input.startedAt, 'startedAt'),
        counts: JSON.stringify(ZERO_COUNTS),
      });
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
    return this.#rt.guard('finishRun', async (db) => {
      const { numAffectedRows } = await FINISH_RUN.run(db, this.#d, {
        id,
        status: result.status,
        finishedAt: toInstant(result.finishedAt, 'finishedAt'),
        counts: JSON.stringify(result.counts),
        error:
          result.error === undefined
            ? null
            : JSON.stringify({ code: result.error.code, message: result.error.message }),
      });
      if (!numAffectedRows) {
        throw new TendrilError('TENDRIL_E_STORE', 'No run has this id; pass the id that startRun returned.', {
          retryable: false,
          details: { runId: id },
        });
      }
    });
  }

  async listRuns(query: RunQuery): Promise<RunRecord[]> {
    return this.#rt.guard('listRuns', async (db) => {
      let select = db
        .selectFrom('runs')
        .select([
          'id',
          'connection_id',
          'stream',
          'kind',
          'status',
          'started_at',
          'finished_at',
          'counts_json',
          'error_json',
        ]);
      if (query.connectionId !== undefined) select = select.where('connection_id', '=', query.connectionId);
      if (query.stream !== undefined) select = select.where('stream', '=', query.stream);
      if (query.kind !== undefined) select = select.where('kind', '=', query.kind);
      if (query.status !== undefined) select = select.where('status', '=', query.status);
      if (query.startedBefore !== undefined)
        select = select.where('started_at', '<', toInstant(query.startedBefore, 'startedBefore'));
      const rows = await select
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(toLimit(query.limit))
        .execute();
      return rows.map((row) => ({
        id: row.id,
        connectionId: row.connection_id,
        stream: row.stream,
        kind: row.kind as RunKind,
        status: row.status as RunStatus,
        startedAt: row.started_at,
        ...(row.finished_at === null ? {} : { finishedAt: row.finished_at }),
        counts: parsed<RunCounts>(row.counts_json),
        ...(row.error_json === null
          ? {}
          : { error: parsed<{ code: string; message: string }>(row.error_json) }),
      }));
    });
  }

  async getRelayCursor(connectionId: string): Promise<number | undefined> {
    return this.#rt.guard('getRelayCursor', async (db) => {
      const { rows } = await GET_RELAY_CURSOR.run(db, this.#d, { connectionId });
      return rows[0] === undefined ? undefined : Number(rows[0].last_sequence);
    });
  }

  async saveRelayCursor(connectionId: string, sequence: number): Promise<void> {
    return this.#rt.guard('saveRelayCursor', async (db) => {
      await SAVE_RELAY_CURSOR.run(db, this.#d, {
        connectionId,
        sequence: relaySequence(sequence),
        at: this.#rt.nowIso(),
      });
    });
  }
}
