import { sql, type Kysely } from 'kysely';
import type { StoredEvent } from '@tendril/core';
import {
  ATTEMPT_COLUMNS,
  DELIVERY_COLUMNS,
  EVENT_COLUMNS,
  LEASE_COLUMNS,
  leaseRow,
  STATE_COLUMNS,
  toAttempt,
  toEvent,
  toLeasedEvent,
  toRecord,
  toState,
  type AttemptRow,
  type DeliveryRow,
  type EventRow,
  type StateRow,
} from './delivery-rows.js';
import {
  routeMatches,
  type AttemptResolution,
  type BackloadFilter,
  type BackloadPage,
  type DeliveryAttempt,
  type DeliveryAttemptInput,
  type DeliveryOrigin,
  type DeliveryQuery,
  type DeliveryRecord,
  type DeliveryRoute,
  type DeliveryStore,
  type LeasedDelivery,
  type LoggedEventInput,
  type SubscriptionRunState,
  type SubscriptionStateRecord,
  type ThrottleTake,
} from './delivery-types.js';
import { insertLoggedEvents } from './outbox.js';
import { Batch, Prepared, type BatchRows, type QueryParts } from './prepared.js';
import type { StoreRuntime } from './runtime.js';
import type { StoreTables } from './tables.js';
import { badInput, bit, toCount, toMs } from './values.js';

/** One delivery key: the unit of per-resource order (docs/delivery.md, "Ordering"). */
interface Key {
  readonly sub: string;
  readonly rt: string;
  readonly rid: string;
}

/** The name of a key's transaction lock (PostgreSQL advisory lock; the same text as ever, so mixed versions agree). */
function keyLock(key: Key): string {
  return `delivery-key:${key.sub}\u0001${key.rt}\u0001${key.rid}`;
}

function uniqueKeys(keys: Iterable<Key>): Key[] {
  return [...new Map([...keys].map((k) => [keyLock(k), k])).values()];
}

const KEY_COLUMNS = { sub: 'text', rid: 'text', rt: 'text' } as const;

const DELIVERY_ROW = {
  sub: 'text',
  eid: 'text',
  etype: 'text',
  cid: 'text',
  rt: 'text',
  rid: 'text',
  seq: 'bigint',
  pos: 'bigint',
  origin: 'text',
  replay: 'bigint',
  /** 1 for the first row of its key in the batch (see insertDeliveries). */
  lead: 'integer',
} as const;

/**
 * New pending rows. A row leads its key (`head`) when no other pending row exists for the key: on
 * PostgreSQL the batch's statement does not see its own rows, so only the first row of each key in
 * the batch may lead (`lead`), as when the rows are inserted one by one.
 */
function insertDeliveries(
  db: Kysely<StoreTables>,
  rows: BatchRows<typeof DELIVERY_ROW>,
  q: QueryParts<{ now: number }>,
) {
  const pending = db
    .selectFrom('deliveries')
    .select(sql.lit(1).as('one'))
    .where('status', '=', sql.lit('pending'))
    .where('subscription_id', '=', rows.col.sub as never)
    .where('resource_type', '=', rows.col.rt as never)
    .where('resource_id', '=', rows.col.rid as never);
  return rows.insert('deliveries', {
    subscription_id: rows.col.sub,
    event_id: rows.col.eid,
    event_type: rows.col.etype,
    connection_id: rows.col.cid,
    resource_type: rows.col.rt,
    resource_id: rows.col.rid,
    sequence: rows.col.seq,
    queue_pos: rows.col.pos,
    status: sql.lit('pending'),
    origin: rows.col.origin,
    head: sql`CASE WHEN ${rows.col.lead} = 1 AND NOT EXISTS ${pending} THEN ${q.yes} ELSE ${q.no} END`,
    due_at_ms: q.param('now'),
    created_at_ms: q.param('now'),
    replay_of: rows.col.replay,
  });
}
const INSERT_DELIVERIES = new Batch(DELIVERY_ROW, (db, rows, q: QueryParts<{ now: number }>) =>
  insertDeliveries(db, rows, q),
);
/** The same, returning the new ids in row order (enqueue answers with them). */
const INSERT_DELIVERIES_RETURNING = new Batch(DELIVERY_ROW, (db, rows, q: QueryParts<{ now: number }>) =>
  insertDeliveries(db, rows, q).returning('id'),
);

/** Marks whether each row is the first of its key in the batch. */
function withLeads<R extends Key>(rows: readonly R[]): (R & { lead: number })[] {
  const seen = new Set<string>();
  return rows.map((row) => {
    const key = keyLock(row);
    const lead = seen.has(key) ? 0 : 1;
    seen.add(key);
    return { ...row, lead };
  });
}

/** The key's next pending row becomes its head (the head was just delivered or dead-lettered). */
const PROMOTE_NEXT = new Prepared<{ sub: string; rt: string; rid: string }, never>((db, q) =>
  db
    .updateTable('deliveries')
    .set({ head: q.yes })
    .where('id', '=', (eb) =>
      eb
        .selectFrom('deliveries as p')
        .select('p.id')
        .where('p.status', '=', sql.lit('pending'))
        .where('p.subscription_id', '=', q.param('sub'))
        .where('p.resource_type', '=', q.param('rt'))
        .where('p.resource_id', '=', q.param('rid'))
        .orderBy('p.queue_pos')
        .orderBy('p.id')
        .limit(1),
    ),
);

/** Re-elects the head of each key: a row under a live lease keeps it, else the lowest queue position. */
const REFRESH_HEADS = new Batch(KEY_COLUMNS, (db, rows, q: QueryParts<{ now: number }>) =>
  db
    .updateTable('deliveries')
    .from(rows.table)
    .set((eb) => ({
      head: sql<number>`(${eb.ref('deliveries.id')} = (${eb
        .selectFrom('deliveries as p')
        .select('p.id')
        .where('p.status', '=', sql.lit('pending'))
        .whereRef('p.subscription_id', '=', 'u.sub')
        .whereRef('p.resource_type', '=', 'u.rt')
        .whereRef('p.resource_id', '=', 'u.rid')
        .orderBy(sql`(COALESCE(p.lease_expires_ms, 0) > ${q.param('now')})`, 'desc')
        .orderBy('p.queue_pos')
        .orderBy('p.id')
        .limit(1)}))`,
    }))
    .where('deliveries.status', '=', sql.lit('pending'))
    .whereRef('deliveries.subscription_id', '=', 'u.sub')
    .whereRef('deliveries.resource_type', '=', 'u.rt')
    .whereRef('deliveries.resource_id', '=', 'u.rid'),
);

const LEASE_CANDIDATES = new Prepared<
  { now: number; subscriptionIds: readonly string[]; limit: number },
  DeliveryRow & EventRow
>((db, q) =>
  q.dialect.lockRows(
    db
      .selectFrom(q.dialect.dueHeads())
      .innerJoin('outbox as o', 'o.id', 'd.event_id')
      .select(LEASE_COLUMNS)
      .where('d.status', '=', sql.lit('pending'))
      .where('d.head', '=', q.yes)
      .where('d.due_at_ms', '<=', q.param('now'))
      .where((eb) =>
        eb.or([eb('d.lease_expires_ms', 'is', null), eb('d.lease_expires_ms', '<=', q.param('now'))]),
      )
      .where(q.inList('d.subscription_id', 'subscriptionIds', 'text'))
      .orderBy('d.due_at_ms')
      .orderBy('d.id')
      .limit(q.param('limit')),
    'd',
    'skip',
  ),
);

const TAKE_LEASES = new Prepared<
  { owner: string; expires: number; now: number; ids: readonly number[] },
  never
>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      lease_owner: q.param('owner'),
      lease_expires_ms: q.param('expires'),
      eligible_at_ms: eb.fn.coalesce('eligible_at_ms', q.param('now')),
    }))
    .where(q.inList('id', 'ids', 'bigint')),
);

const KEYS_OF = new Prepared<
  { ids: readonly number[] },
  { subscription_id: string; resource_type: string; resource_id: string }
>((db, q) =>
  db
    .selectFrom('deliveries')
    .select(['subscription_id', 'resource_type', 'resource_id'])
    .where(q.inList('id', 'ids', 'bigint')),
);

/** One delivery, locked until the transaction ends (PostgreSQL; SQLite holds the file). */
const LOCK_DELIVERY = new Prepared<{ id: number }, DeliveryRow>((db, q) =>
  q.dialect.lockRows(
    db.selectFrom('deliveries as d').select(DELIVERY_COLUMNS).where('d.id', '=', q.param('id')),
    'd',
    'wait',
  ),
);

const DELIVERY_BY_ID = new Prepared<{ id: number }, DeliveryRow>((db, q) =>
  db.selectFrom('deliveries as d').select(DELIVERY_COLUMNS).where('d.id', '=', q.param('id')),
);

const ATTEMPTS_OF = new Prepared<{ id: number }, AttemptRow>((db, q) =>
  db
    .selectFrom('delivery_attempts')
    .select(ATTEMPT_COLUMNS)
    .where('delivery_id', '=', q.param('id'))
    .orderBy('number')
    .orderBy('id'),
);

/** The next attempt number is counted under the delivery's lock, so numbers never collide. */
const INSERT_ATTEMPT = new Prepared<
  {
    deliveryId: number;
    startedAtMs: number;
    endedAtMs: number;
    status: number | null;
    error: string | null;
    responseBytes: number | null;
    outcome: string;
    probe: number;
  },
  never
>((db, q) =>
  db
    .insertInto('delivery_attempts')
    .columns([
      'delivery_id',
      'number',
      'started_at_ms',
      'ended_at_ms',
      'status',
      'error',
      'response_bytes',
      'outcome',
      'probe',
    ])
    .expression(
      db
        .selectFrom('delivery_attempts')
        .select((eb) => [
          q.param('deliveryId').as('delivery_id'),
          sql<number>`COALESCE(MAX(${eb.ref('number')}), 0) + 1`.as('number'),
          q.param('startedAtMs').as('started_at_ms'),
          q.param('endedAtMs').as('ended_at_ms'),
          q.param('status').as('status'),
          q.param('error').as('error'),
          q.param('responseBytes').as('response_bytes'),
          q.param('outcome').as('outcome'),
          q.param('probe').as('probe'),
        ])
        .where('delivery_id', '=', q.param('deliveryId')),
    ),
);

const ATTEMPT_ROW = {
  did: 'bigint',
  started: 'bigint',
  ended: 'bigint',
  status: 'integer',
  error: 'text',
  bytes: 'bigint',
  outcome: 'text',
  probe: 'flag',
} as const;

/**
 * A batch's attempts in one batch (SQLite: the one-row INSERT prepared once, sqlite/batch-rows.ts;
 * PostgreSQL: one INSERT over arrays). Each row's number is counted from the attempts before the
 * statement, so a batch never carries two attempts of one delivery (completeMany then inserts them
 * one by one).
 */
const INSERT_ATTEMPTS = new Batch(ATTEMPT_ROW, (db, rows) =>
  rows.insert('delivery_attempts', {
    delivery_id: rows.col.did,
    number: sql`(${db
      .selectFrom('delivery_attempts as a')
      .select(sql`COALESCE(MAX(a.number), 0) + 1`.as('n'))
      .where('a.delivery_id', '=', rows.col.did as never)})`,
    started_at_ms: rows.col.started,
    ended_at_ms: rows.col.ended,
    status: rows.col.status,
    error: rows.col.error,
    response_bytes: rows.col.bytes,
    outcome: rows.col.outcome,
    probe: rows.col.probe,
  }),
);

/** The key of a row a guarded update applied to (the update holds its row lock). */
type KeyRow = Pick<DeliveryRow, 'id' | 'subscription_id' | 'resource_type' | 'resource_id'>;
const KEY_RETURNING = ['id', 'subscription_id', 'resource_type', 'resource_id'] as const;

const MARK_RETRY = new Prepared<
  { id: number; owner: string; status: number | null; error: string | null; dueAtMs: number },
  KeyRow
>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      last_status: q.param('status'),
      last_error: q.param('error'),
      due_at_ms: q.param('dueAtMs'),
      lease_owner: null,
      lease_expires_ms: null,
    }))
    .where('id', '=', q.param('id'))
    .where('status', '=', sql.lit('pending'))
    .where('lease_owner', '=', q.param('owner'))
    .returning(KEY_RETURNING),
);

const MARK_FINAL = new Prepared<
  {
    id: number;
    owner: string;
    outcome: string;
    status: number | null;
    error: string | null;
    finishedAtMs: number;
    reason: string | null;
    redrive: number;
  },
  KeyRow
>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      status: q.param('outcome'),
      attempts: eb('attempts', '+', 1),
      last_status: q.param('status'),
      last_error: q.param('error'),
      finished_at_ms: q.param('finishedAtMs'),
      dead_reason: q.param('reason'),
      redrive: q.param('redrive'),
      head: q.no,
      lease_owner: null,
      lease_expires_ms: null,
    }))
    .where('id', '=', q.param('id'))
    .where('status', '=', sql.lit('pending'))
    .where('lease_owner', '=', q.param('owner'))
    .returning(KEY_RETURNING),
);

const RESET_FAILURES = new Prepared<{ subscriptionId: string }, never>((db, q) =>
  db
    .updateTable('subscription_state')
    .set({ consecutive_failures: 0 })
    .where('subscription_id', '=', q.param('subscriptionId'))
    .where('consecutive_failures', '<>', 0),
);

const BUMP_FAILURES = new Prepared<{ subscriptionId: string; at: number }, never>((db, q) =>
  db
    .insertInto('subscription_state')
    .values({
      subscription_id: q.param('subscriptionId'),
      state: sql.lit('active'),
      changed_at_ms: q.param('at'),
      consecutive_failures: 1,
    })
    .onConflict((oc) =>
      oc.column('subscription_id').doUpdateSet((eb) => ({
        consecutive_failures: eb('subscription_state.consecutive_failures', '+', 1),
      })),
    ),
);

const FAILURES_OF = new Prepared<{ subscriptionId: string }, { consecutive_failures: number }>((db, q) =>
  db
    .selectFrom('subscription_state')
    .select('consecutive_failures')
    .where('subscription_id', '=', q.param('subscriptionId')),
);

const RELEASE = new Prepared<{ id: number; owner: string; dueAtMs: number }, never>((db, q) =>
  db
    .updateTable('deliveries')
    .set({ due_at_ms: q.param('dueAtMs'), lease_owner: null, lease_expires_ms: null })
    .where('id', '=', q.param('id'))
    .where('lease_owner', '=', q.param('owner'))
    .where('status', '=', sql.lit('pending')),
);

const NEXT_DUE = new Prepared<{ subscriptionIds: readonly string[] }, { due: number | null }>((db, q) =>
  db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.min('due_at_ms').as('due'))
    .where('status', '=', sql.lit('pending'))
    .where('head', '=', q.yes)
    .where(q.inList('subscription_id', 'subscriptionIds', 'text')),
);

const RETRY_NOW = new Prepared<{ id: number; now: number }, never>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      due_at_ms: eb
        .case()
        .when('due_at_ms', '<=', q.param('now'))
        .then(eb.ref('due_at_ms'))
        .else(q.param('now'))
        .end(),
    }))
    .where('id', '=', q.param('id'))
    .where('status', '=', sql.lit('pending')),
);

const EVENTS_BY_ID = new Prepared<
  { ids: readonly string[] },
  {
    id: string;
    connection_id: string;
    sequence: number;
    type: string;
    resource_type: string;
    resource_id: string;
  }
>((db, q) =>
  db
    .selectFrom('outbox')
    .select(['id', 'connection_id', 'sequence', 'type', 'resource_type', 'resource_id'])
    .where(q.inList('id', 'ids', 'text')),
);

const MAX_QUEUE_POS = new Prepared<
  { subscriptionId: string; resourceType: string; resourceId: string },
  { q: number | null }
>((db, q) =>
  db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.max('queue_pos').as('q'))
    .where('status', '=', sql.lit('pending'))
    .where('subscription_id', '=', q.param('subscriptionId'))
    .where('resource_type', '=', q.param('resourceType'))
    .where('resource_id', '=', q.param('resourceId')),
);

const CLEAR_REDRIVE = new Prepared<{ ids: readonly number[] }, never>((db, q) =>
  db
    .updateTable('deliveries')
    .set({ redrive: q.no })
    .where(q.inList('id', 'ids', 'bigint')),
);

const OLDEST_REDRIVABLE = new Prepared<{ subscriptionId: string }, DeliveryRow & EventRow>((db, q) =>
  db
    .selectFrom('deliveries as d')
    .innerJoin('outbox as o', 'o.id', 'd.event_id')
    .select([...DELIVERY_COLUMNS, ...EVENT_COLUMNS])
    .where('d.subscription_id', '=', q.param('subscriptionId'))
    .where('d.status', '=', sql.lit('dead'))
    .where('d.redrive', '=', q.yes)
    .orderBy('d.id')
    .limit(1),
);

const REDRIVABLE = new Prepared<{ subscriptionId: string; limit: number }, { id: number; event_id: string }>(
  (db, q) =>
    db
      .selectFrom('deliveries')
      .select(['id', 'event_id'])
      .where('subscription_id', '=', q.param('subscriptionId'))
      .where('status', '=', sql.lit('dead'))
      .where('redrive', '=', q.yes)
      .orderBy('id')
      .limit(q.param('limit')),
);

const PROBE_DELIVERED = new Prepared<{ id: number; status: number; finishedAtMs: number }, never>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      status: sql.lit('delivered'),
      attempts: eb('attempts', '+', 1),
      last_status: q.param('status'),
      last_error: null,
      finished_at_ms: q.param('finishedAtMs'),
      redrive: q.no,
    }))
    .where('id', '=', q.param('id'))
    .where('status', '=', sql.lit('dead')),
);

const PROBE_FAILED = new Prepared<
  { id: number; status: number | null; error: string | null; redrive: number },
  never
>((db, q) =>
  db
    .updateTable('deliveries')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      last_status: q.param('status'),
      last_error: q.param('error'),
      redrive: q.param('redrive'),
    }))
    .where('id', '=', q.param('id')),
);

const SET_STATE = new Prepared<
  { id: string; state: string; reason: string | null; now: number; nextProbe: number | null; reset: number },
  never
>((db, q) =>
  db
    .insertInto('subscription_state')
    .values({
      subscription_id: q.param('id'),
      state: q.param('state'),
      reason: q.param('reason'),
      changed_at_ms: q.param('now'),
      next_probe_at_ms: q.param('nextProbe'),
      consecutive_failures: 0,
    })
    .onConflict((oc) =>
      oc.column('subscription_id').doUpdateSet((eb) => ({
        state: eb.ref('excluded.state'),
        reason: eb.ref('excluded.reason'),
        changed_at_ms: eb
          .case()
          .when('subscription_state.state', '=', eb.ref('excluded.state'))
          .then(eb.ref('subscription_state.changed_at_ms'))
          .else(eb.ref('excluded.changed_at_ms'))
          .end(),
        next_probe_at_ms: eb.ref('excluded.next_probe_at_ms'),
        consecutive_failures: eb
          .case()
          .when(q.param('reset'), '=', 1)
          .then(0)
          .else(eb.ref('subscription_state.consecutive_failures'))
          .end(),
      })),
    ),
);

const ALL_STATES = new Prepared<object, StateRow>((db) =>
  db.selectFrom('subscription_state').select(STATE_COLUMNS).orderBy('subscription_id'),
);

type Completion = {
  deliveryId: number;
  owner: string;
  attempt: DeliveryAttemptInput;
  resolution: AttemptResolution;
};

/** An attempt's column values, checked. */
function attemptColumns(attempt: DeliveryAttemptInput) {
  return {
    started: toMs(attempt.startedAtMs, 'startedAtMs'),
    ended: toMs(attempt.endedAtMs, 'endedAtMs'),
    status: attempt.status ?? null,
    error: attempt.error ?? null,
    bytes: attempt.responseBytes ?? null,
    outcome: attempt.outcome,
    probe: bit(attempt.probe === true),
  };
}

const keyOf = (row: KeyRow): Key => ({
  sub: row.subscription_id,
  rt: row.resource_type,
  rid: row.resource_id,
});

type CompletionResult = { applied: boolean; consecutivePermanentFailures: number };

type LeaseInput = Parameters<DeliveryStore['lease']>[0];

/**
 * The delivery half of the store (delivery-types.ts), written once for both backends. Every write
 * runs in one transaction. Concurrency comes from the dialect: on SQLite each transaction holds the
 * file's write lock; on PostgreSQL leases take due heads with `SKIP LOCKED` (workers lease disjoint
 * deliveries) and every write that can change which row heads a key first takes the key's
 * transaction advisory lock, so per-resource order holds across workers (docs/delivery.md, "Ordering").
 */
export class DeliveryStoreImpl implements DeliveryStore {
  readonly #rt: StoreRuntime;
  readonly #routes: readonly DeliveryRoute[];
  readonly takeThrottleToken?: DeliveryStore['takeThrottleToken'];
  /** Whether committed events get delivery rows at all (the store was opened with routes). */
  readonly routed: boolean;

  constructor(runtime: StoreRuntime, routes: readonly DeliveryRoute[]) {
    this.#rt = runtime;
    this.#routes = routes;
    this.routed = routes.length > 0;
    const take = runtime.dialect.takeThrottleToken?.bind(runtime.dialect);
    if (take !== undefined) {
      this.takeThrottleToken = (input): Promise<ThrottleTake> =>
        runtime.guard('takeThrottleToken', () => runtime.transaction((db) => take(db, input)));
    }
  }

  get #d() {
    return this.#rt.dialect;
  }

  /**
   * Commit rule step 3 (docs/sync-semantics.md, "The commit rule"): called inside the commit's transaction with the
   * events it actually inserted (a redone page's existing events already have their rows). With
   * `onlySubscriptionIds`, only those subscriptions' routes count (writeback result events go to
   * the requesting client's subscriptions alone).
   */
  async insertLive(
    db: Kysely<StoreTables>,
    events: readonly StoredEvent[],
    onlySubscriptionIds?: ReadonlySet<string>,
  ): Promise<void> {
    await this.#insertRouted(db, events, this.#routes, onlySubscriptionIds);
  }

  /** One pending delivery per (event, matching route), each key's first row leading it if free. */
  async #insertRouted(
    db: Kysely<StoreTables>,
    events: readonly StoredEvent[],
    routes: readonly DeliveryRoute[],
    onlySubscriptionIds?: ReadonlySet<string>,
  ): Promise<number> {
    if (routes.length === 0 || events.length === 0) return 0;
    const rows = [];
    for (const { envelope: e } of events) {
      for (const route of routes) {
        if (onlySubscriptionIds && !onlySubscriptionIds.has(route.subscriptionId)) continue;
        if (!routeMatches(route, e)) continue;
        rows.push({
          sub: route.subscriptionId,
          eid: e.id,
          etype: e.type,
          cid: e.connectionId,
          rt: e.resourceType,
          rid: e.resourceId,
          seq: e.sequence,
          pos: e.sequence,
          origin: 'live',
          replay: null,
        });
      }
    }
    if (rows.length === 0) return 0;
    const keys = uniqueKeys(rows);
    await this.#d.lockNames(db, keys.map(keyLock));
    await INSERT_DELIVERIES.run(db, this.#d, withLeads(rows), { now: this.#rt.nowMs() });
    return rows.length;
  }

  async enqueueFromLog(input: {
    stream: string;
    events: readonly LoggedEventInput[];
    routes: readonly DeliveryRoute[];
    nowMs: number;
  }): Promise<{ events: number; deliveries: number }> {
    return this.#rt.guard('enqueueFromLog', async () => {
      const now = toMs(input.nowMs, 'nowMs');
      if (input.events.length === 0) return { events: 0, deliveries: 0 };
      return this.#rt.transaction(async (db) => {
        const inserted = await insertLoggedEvents(
          db,
          this.#d,
          input.stream,
          input.events,
          new Date(now).toISOString(),
        );
        // Only events this transaction inserted: a copy handed in again (or by another worker) gets nothing.
        const fresh = input.events.filter((e) => inserted.has(e.event.envelope.id)).map((e) => e.event);
        const deliveries = await this.#insertRouted(db, fresh, input.routes);
        return { events: fresh.length, deliveries };
      });
    });
  }

  async lease(input: LeaseInput): Promise<LeasedDelivery[]> {
    return this.#rt.guard('lease', async () => {
      toMs(input.nowMs, 'nowMs');
      if (input.subscriptionIds.length === 0 || input.limit <= 0) return [];
      return this.#rt.transaction(async (db) => this.#lease(db, input));
    });
  }

  async #lease(db: Kysely<StoreTables>, input: LeaseInput): Promise<LeasedDelivery[]> {
    const now = toMs(input.nowMs, 'nowMs');
    const expires = now + toCount(input.leaseMs, 'leaseMs');
    if (input.subscriptionIds.length === 0 || input.limit <= 0) return [];
    const rows = (
      await LEASE_CANDIDATES.runArrays(db, this.#d, {
        now,
        subscriptionIds: input.subscriptionIds,
        limit: input.limit,
      })
    ).map(leaseRow);
    if (rows.length === 0) return [];
    await TAKE_LEASES.run(db, this.#d, { owner: input.owner, expires, now, ids: rows.map((r) => r.id) });
    return rows.map((row) => ({
      // TAKE_LEASES set it to now where it was unset; the row (built by leaseRow) is this call's own.
      ...toRecord(Object.assign(row, { eligible_at_ms: row.eligible_at_ms ?? now })),
      ...toLeasedEvent(row, this.#rt.payloads),
      leaseOwner: input.owner,
      leaseExpiresMs: expires,
    }));
  }

  async complete(input: Completion): Promise<CompletionResult> {
    const [result] = await this.completeMany([input]);
    return result!;
  }

  async completeMany(inputs: readonly Completion[]): Promise<CompletionResult[]> {
    return this.#rt.guard('complete', async () => {
      if (inputs.length === 0) return [];
      return this.#rt.transaction(async (db) => this.#completeMany(db, inputs));
    });
  }

  async completeAndLease(
    inputs: readonly Completion[],
    lease: LeaseInput,
  ): Promise<{ results: CompletionResult[]; leased: LeasedDelivery[] }> {
    return this.#rt.guard('complete', async () => {
      if (inputs.length === 0 && (lease.subscriptionIds.length === 0 || lease.limit <= 0))
        return { results: [], leased: [] };
      return this.#rt.transaction(async (db) => {
        const results = inputs.length === 0 ? [] : await this.#completeMany(db, inputs);
        return { results, leased: await this.#lease(db, lease) };
      });
    });
  }

  async #completeMany(db: Kysely<StoreTables>, inputs: readonly Completion[]): Promise<CompletionResult[]> {
    if (this.#d.explicitLocks) {
      // Keys never change for a row, so they can be read before locking them.
      const { rows: keyRows } = await KEYS_OF.run(db, this.#d, { ids: inputs.map((i) => i.deliveryId) });
      await this.#d.lockNames(
        db,
        keyRows.map((r) => keyLock({ sub: r.subscription_id, rt: r.resource_type, rid: r.resource_id })),
      );
    }
    // A subscription's failure run as this transaction last wrote it: after a reset it is 0 until a
    // bump, so a batch of deliveries neither resets nor reads it again per row. Only where the
    // transaction holds the whole store (SQLite): on PostgreSQL another worker may bump the run
    // between two rows of this batch, and each row must then see (and reset) it as before.
    const known = this.#d.explicitLocks ? undefined : new Map<string, number>();
    const results: CompletionResult[] = [];
    for (const input of inputs) {
      // The resolution's update applies only to a pending row under this owner's lease, and locks
      // it; only when it did not apply (the lease was lost, or no such row) is the row read.
      let row: KeyRow | undefined = await this.#resolve(db, input, known);
      const applied = row !== undefined;
      row ??= (await LOCK_DELIVERY.run(db, this.#d, { id: input.deliveryId })).rows[0];
      if (row === undefined) throw badInput('No delivery has this id.', { deliveryId: input.deliveryId });
      let failures = known?.get(row.subscription_id);
      if (failures === undefined) {
        const state = (await FAILURES_OF.run(db, this.#d, { subscriptionId: row.subscription_id })).rows[0];
        failures = Number(state?.consecutive_failures ?? 0);
      }
      results.push({ applied, consecutivePermanentFailures: failures });
    }
    // Every delivery is locked by now; its attempts follow in input order, all in one statement
    // unless one delivery has two of them here (each then counts the one before).
    if (new Set(inputs.map((i) => i.deliveryId)).size === inputs.length) {
      await INSERT_ATTEMPTS.run(
        db,
        this.#d,
        inputs.map(({ deliveryId, attempt }) => ({ did: deliveryId, ...attemptColumns(attempt) })),
        {},
      );
    } else {
      for (const input of inputs) await this.#insertAttempt(db, input.deliveryId, input.attempt);
    }
    return results;
  }

  async #insertAttempt(
    db: Kysely<StoreTables>,
    deliveryId: number,
    attempt: DeliveryAttemptInput,
  ): Promise<void> {
    const a = attemptColumns(attempt);
    await INSERT_ATTEMPT.run(db, this.#d, {
      deliveryId,
      startedAtMs: a.started,
      endedAtMs: a.ended,
      status: a.status,
      error: a.error,
      responseBytes: a.bytes,
      outcome: a.outcome,
      probe: a.probe,
    });
  }

  /**
   * Applies a resolution to a pending row under `input.owner`'s lease; the row's key when it did,
   * undefined when it did not (nothing written then).
   */
  async #resolve(
    db: Kysely<StoreTables>,
    input: Completion,
    /** Failure runs this transaction knows (0 after a reset); a bump forgets the subscription's. */
    known: Map<string, number> | undefined,
  ): Promise<KeyRow | undefined> {
    const { attempt, resolution, owner } = input;
    const status = attempt.status ?? null;
    const error = attempt.error ?? null;
    const final = { id: input.deliveryId, owner, status, error, finishedAtMs: attempt.endedAtMs };
    switch (resolution.kind) {
      case 'retry':
        return (
          await MARK_RETRY.run(db, this.#d, {
            id: input.deliveryId,
            owner,
            status,
            error,
            dueAtMs: toMs(resolution.dueAtMs, 'dueAtMs'),
          })
        ).rows[0];
      case 'delivered': {
        const row = (
          await MARK_FINAL.run(db, this.#d, { ...final, outcome: 'delivered', reason: null, redrive: 0 })
        ).rows[0];
        if (row === undefined) return undefined;
        if (known?.get(row.subscription_id) !== 0) {
          await RESET_FAILURES.run(db, this.#d, { subscriptionId: row.subscription_id });
          known?.set(row.subscription_id, 0);
        }
        await PROMOTE_NEXT.run(db, this.#d, keyOf(row));
        return row;
      }
      case 'dead': {
        const row = (
          await MARK_FINAL.run(db, this.#d, {
            ...final,
            outcome: 'dead',
            reason: resolution.reason,
            redrive: bit(resolution.redrive),
          })
        ).rows[0];
        if (row === undefined) return undefined;
        if (resolution.reason === 'permanent' || resolution.reason === 'gone') {
          await BUMP_FAILURES.run(db, this.#d, {
            subscriptionId: row.subscription_id,
            at: attempt.endedAtMs,
          });
          known?.delete(row.subscription_id);
        }
        await PROMOTE_NEXT.run(db, this.#d, keyOf(row));
        return row;
      }
      default:
        return resolution satisfies never;
    }
  }

  async release(input: { deliveryId: number; owner: string; dueAtMs: number }): Promise<void> {
    return this.#rt.guard('release', async (db) => {
      await RELEASE.run(db, this.#d, {
        id: input.deliveryId,
        owner: input.owner,
        dueAtMs: toMs(input.dueAtMs, 'dueAtMs'),
      });
    });
  }

  async nextDueAtMs(subscriptionIds: readonly string[]): Promise<number | undefined> {
    return this.#rt.guard('nextDueAtMs', async (db) => {
      if (subscriptionIds.length === 0) return undefined;
      const due = (await NEXT_DUE.run(db, this.#d, { subscriptionIds })).rows[0]?.due;
      return due === null || due === undefined ? undefined : Number(due);
    });
  }

  #filtered(db: Kysely<StoreTables>, query: Omit<DeliveryQuery, 'limit'>) {
    let select = db.selectFrom('deliveries as d');
    if (query.subscriptionId !== undefined)
      select = select.where('d.subscription_id', '=', query.subscriptionId);
    if (query.connectionId !== undefined) select = select.where('d.connection_id', '=', query.connectionId);
    if (query.status !== undefined) select = select.where('d.status', '=', query.status);
    if (query.resourceType !== undefined) select = select.where('d.resource_type', '=', query.resourceType);
    if (query.resourceId !== undefined) select = select.where('d.resource_id', '=', query.resourceId);
    if (query.eventId !== undefined) select = select.where('d.event_id', '=', query.eventId);
    if (query.sinceMs !== undefined)
      select = select.where('d.created_at_ms', '>=', toMs(query.sinceMs, 'sinceMs'));
    if (query.untilMs !== undefined)
      select = select.where('d.created_at_ms', '<', toMs(query.untilMs, 'untilMs'));
    if (query.afterId !== undefined) select = select.where('d.id', '>', query.afterId);
    return select;
  }

  async list(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.#rt.guard('listDeliveries', async (db) => {
      const limit = toCount(query.limit, 'limit');
      const rows = await this.#filtered(db, query)
        .select(DELIVERY_COLUMNS)
        .orderBy('d.id')
        .limit(limit)
        .execute();
      return rows.map(toRecord);
    });
  }

  async count(query: Omit<DeliveryQuery, 'limit' | 'afterId'>): Promise<number> {
    return this.#rt.guard('countDeliveries', async (db) => {
      const row = await this.#filtered(db, query)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    });
  }

  async get(id: number): Promise<{ delivery: DeliveryRecord; attempts: DeliveryAttempt[] } | undefined> {
    return this.#rt.guard('getDelivery', async (db) => {
      const row = (await DELIVERY_BY_ID.run(db, this.#d, { id })).rows[0];
      if (row === undefined) return undefined;
      const attempts = (await ATTEMPTS_OF.run(db, this.#d, { id })).rows;
      return { delivery: toRecord(row), attempts: attempts.map(toAttempt) };
    });
  }

  async enqueue(input: {
    subscriptionId: string;
    items: readonly { eventId: string; replayOf?: number }[];
    origin: Exclude<DeliveryOrigin, 'live'>;
    nowMs: number;
  }): Promise<number[]> {
    return this.#rt.guard('enqueueDeliveries', async () => {
      const now = toMs(input.nowMs, 'nowMs');
      return this.#rt.transaction((db) =>
        this.#enqueue(db, input.subscriptionId, input.items, input.origin, now),
      );
    });
  }

  async #enqueue(
    db: Kysely<StoreTables>,
    subscriptionId: string,
    items: readonly { eventId: string; replayOf?: number }[],
    origin: Exclude<DeliveryOrigin, 'live'>,
    now: number,
  ): Promise<number[]> {
    if (items.length === 0) return [];
    const { rows: eventRows } = await EVENTS_BY_ID.run(db, this.#d, { ids: items.map((i) => i.eventId) });
    const events = new Map(eventRows.map((row) => [row.id, row]));
    const missing = items.find((item) => !events.has(item.eventId));
    if (missing !== undefined) {
      throw badInput('No event has this id; it may have been pruned from the outbox.', {
        eventId: missing.eventId,
      });
    }
    const keys = uniqueKeys(
      items.map((item) => {
        const event = events.get(item.eventId)!;
        return { sub: subscriptionId, rt: event.resource_type, rid: event.resource_id };
      }),
    );
    await this.#d.lockNames(db, keys.map(keyLock));
    // A manual replay queues behind the key's pending rows, including the ones queued just before it (docs/delivery.md, "Dead letters and replay").
    const lastPosition = new Map<string, number | null>();
    const rows = [];
    for (const item of items) {
      const event = events.get(item.eventId)!;
      let queuePos = Number(event.sequence);
      if (origin === 'replay') {
        const key = keyLock({ sub: subscriptionId, rt: event.resource_type, rid: event.resource_id });
        if (!lastPosition.has(key)) {
          const max = (
            await MAX_QUEUE_POS.run(db, this.#d, {
              subscriptionId,
              resourceType: event.resource_type,
              resourceId: event.resource_id,
            })
          ).rows[0]?.q;
          lastPosition.set(key, max === null || max === undefined ? null : Number(max));
        }
        const max = lastPosition.get(key);
        if (max !== null && max !== undefined) queuePos = Math.max(queuePos, max);
        lastPosition.set(key, Math.max(queuePos, max ?? queuePos));
      } else if (origin === 'redrive' && item.replayOf !== undefined) {
        const dead = (await DELIVERY_BY_ID.run(db, this.#d, { id: item.replayOf })).rows[0];
        queuePos = dead === undefined ? queuePos : Number(dead.sequence);
      }
      rows.push({
        sub: subscriptionId,
        eid: item.eventId,
        etype: event.type,
        cid: event.connection_id,
        rt: event.resource_type,
        rid: event.resource_id,
        seq: Number(event.sequence),
        pos: queuePos,
        origin,
        replay: item.replayOf ?? null,
      });
    }
    const { rows: inserted } = await INSERT_DELIVERIES_RETURNING.run(db, this.#d, withLeads(rows), { now });
    const replayed = items.flatMap((item) => (item.replayOf === undefined ? [] : [item.replayOf]));
    if (replayed.length > 0) await CLEAR_REDRIVE.run(db, this.#d, { ids: replayed });
    // A redrive can sort before the key's current head: re-elect the heads of the keys touched.
    if (origin === 'redrive') await REFRESH_HEADS.run(db, this.#d, keys, { now });
    return inserted.map((row) => Number(row.id));
  }

  async retryNow(id: number, nowMs: number): Promise<boolean> {
    return this.#rt.guard('retryNow', async (db) => {
      const { numAffectedRows } = await RETRY_NOW.run(db, this.#d, { id, now: toMs(nowMs, 'nowMs') });
      return (numAffectedRows ?? 0n) > 0n;
    });
  }

  async oldestRedrivable(
    subscriptionId: string,
  ): Promise<(DeliveryRecord & { event: StoredEvent }) | undefined> {
    return this.#rt.guard('oldestRedrivable', async (db) => {
      const row = (await OLDEST_REDRIVABLE.run(db, this.#d, { subscriptionId })).rows[0];
      return row === undefined ? undefined : { ...toRecord(row), event: toEvent(row, this.#rt.payloads) };
    });
  }

  async recordProbe(input: {
    deliveryId: number;
    attempt: DeliveryAttemptInput;
    delivered: boolean;
    stillRedrivable: boolean;
  }): Promise<void> {
    return this.#rt.guard('recordProbe', async () => {
      await this.#rt.transaction(async (db) => {
        if ((await LOCK_DELIVERY.run(db, this.#d, { id: input.deliveryId })).rows[0] === undefined) {
          throw badInput('No delivery has this id.', { deliveryId: input.deliveryId });
        }
        await this.#insertAttempt(db, input.deliveryId, { ...input.attempt, probe: true });
        if (input.delivered) {
          await PROBE_DELIVERED.run(db, this.#d, {
            id: input.deliveryId,
            status: input.attempt.status ?? 200,
            finishedAtMs: input.attempt.endedAtMs,
          });
        } else {
          await PROBE_FAILED.run(db, this.#d, {
            id: input.deliveryId,
            status: input.attempt.status ?? null,
            error: input.attempt.error ?? null,
            redrive: bit(input.stillRedrivable),
          });
        }
      });
    });
  }

  async redrivable(subscriptionId: string, limit: number): Promise<{ id: number; eventId: string }[]> {
    return this.#rt.guard('redrivable', async (db) => {
      const { rows } = await REDRIVABLE.run(db, this.#d, { subscriptionId, limit: toCount(limit, 'limit') });
      return rows.map((row) => ({ id: Number(row.id), eventId: row.event_id }));
    });
  }

  async subscriptionStates(): Promise<SubscriptionStateRecord[]> {
    return this.#rt.guard('subscriptionStates', async (db) =>
      (await ALL_STATES.run(db, this.#d, {})).rows.map(toState),
    );
  }

  async setSubscriptionState(input: {
    subscriptionId: string;
    state: SubscriptionRunState;
    reason?: string;
    nowMs: number;
    nextProbeAtMs?: number;
    resetFailures?: boolean;
  }): Promise<void> {
    return this.#rt.guard('setSubscriptionState', async (db) => {
      await SET_STATE.run(db, this.#d, {
        id: input.subscriptionId,
        state: input.state,
        reason: input.reason ?? null,
        now: toMs(input.nowMs, 'nowMs'),
        nextProbe: input.nextProbeAtMs ?? null,
        reset: bit(input.resetFailures === true),
      });
    });
  }

  /** The newest event of each resource, not deleted, matching the filter: the "current state" a backload re-emits. */
  #current(db: Kysely<StoreTables>, filter: BackloadFilter, route: DeliveryRoute) {
    let select = db
      .selectFrom('outbox as o')
      .where('o.kind', '<>', sql.lit('deleted'))
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('outbox as n')
              .select(sql.lit(1).as('one'))
              .whereRef('n.connection_id', '=', 'o.connection_id')
              .whereRef('n.resource_type', '=', 'o.resource_type')
              .whereRef('n.resource_id', '=', 'o.resource_id')
              .whereRef('n.sequence', '>', 'o.sequence'),
          ),
        ),
      );
    if (route.connectionIds.length > 0) {
      select = select.where(this.#d.inList('o.connection_id', route.connectionIds, 'text'));
    }
    if (filter.resourceType !== undefined) select = select.where('o.resource_type', '=', filter.resourceType);
    if (filter.since !== undefined) {
      const since = Date.parse(filter.since);
      if (Number.isNaN(since)) throw badInput('since must be an ISO date or instant such as 2025-01-01.');
      // occurredAt is stored in toISOString() form, so byte order is time order.
      select = select.where(
        this.#d.jsonText('o.envelope_json', 'occurredAt'),
        '>=',
        new Date(since).toISOString(),
      );
    }
    return select;
  }

  async countCurrent(filter: BackloadFilter, route: DeliveryRoute): Promise<number> {
    return this.#rt.guard('countCurrent', async (db) => {
      const row = await this.#current(db, filter, route)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    });
  }

  async backloadPage(input: {
    filter: BackloadFilter;
    route: DeliveryRoute;
    limit: number;
    nowMs: number;
    restart?: boolean;
  }): Promise<BackloadPage> {
    return this.#rt.guard('backloadPage', async () => {
      const now = toMs(input.nowMs, 'nowMs');
      if (!Number.isInteger(input.limit) || input.limit < 1)
        throw badInput('limit must be a whole number ≥ 1.');
      if (input.route.subscriptionId !== input.filter.subscriptionId) {
        throw badInput('The backload route and filter name different subscriptions.');
      }
      const subscriptionId = input.filter.subscriptionId;
      const filterJson = JSON.stringify({
        resourceType: input.filter.resourceType ?? null,
        since: input.filter.since ?? null,
      });
      return this.#rt.transaction(async (db): Promise<BackloadPage> => {
        // One backload job per (subscription, filter) at a time, whichever worker runs it.
        await this.#d.lockNames(db, [`backload:${subscriptionId}${filterJson}`]);
        const jobs = db
          .updateTable('delivery_backloads')
          .where('subscription_id', '=', subscriptionId)
          .where('filter_json', '=', filterJson)
          .where('finished_at_ms', 'is', null);
        if (input.restart === true) await jobs.set({ finished_at_ms: now }).execute();
        let job = await db
          .selectFrom('delivery_backloads')
          .select(['id', 'after_connection_id', 'after_sequence', 'enqueued'])
          .where('subscription_id', '=', subscriptionId)
          .where('filter_json', '=', filterJson)
          .where('finished_at_ms', 'is', null)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst();
        const resumed = job !== undefined && (job.after_connection_id !== null || Number(job.enqueued) > 0);
        if (job === undefined) {
          const created = await db
            .insertInto('delivery_backloads')
            .values({ subscription_id: subscriptionId, filter_json: filterJson, started_at_ms: now })
            .returning('id')
            .executeTakeFirstOrThrow();
          job = { id: created.id, after_connection_id: null, after_sequence: null, enqueued: 0 };
        }
        let page = this.#current(db, input.filter, input.route).select([
          'o.id',
          'o.connection_id',
          'o.sequence',
          'o.type',
          'o.resource_type',
        ]);
        const after = job.after_connection_id;
        if (after !== null) {
          page = page.where((eb) =>
            eb(
              eb.refTuple('o.connection_id', 'o.sequence'),
              '>',
              eb.tuple(after, Number(job.after_sequence ?? 0)),
            ),
          );
        }
        const rows = await page.orderBy('o.connection_id').orderBy('o.sequence').limit(input.limit).execute();
        const matching = rows.filter((row) =>
          routeMatches(input.route, {
            connectionId: row.connection_id,
            resourceType: row.resource_type,
            type: row.type,
          }),
        );
        const pending = new Set(
          matching.length === 0
            ? []
            : (
                await db
                  .selectFrom('deliveries')
                  .select('event_id')
                  .where('subscription_id', '=', subscriptionId)
                  .where('status', '=', sql.lit('pending'))
                  .where(
                    this.#d.inList(
                      'event_id',
                      matching.map((row) => row.id),
                      'text',
                    ),
                  )
                  .execute()
              ).map((row) => row.event_id),
        );
        const items = matching.filter((row) => !pending.has(row.id)).map((row) => ({ eventId: row.id }));
        await this.#enqueue(db, subscriptionId, items, 'backload', now);
        const last = rows.at(-1);
        const done = rows.length < input.limit;
        await db
          .updateTable('delivery_backloads')
          .set((eb) => ({
            after_connection_id: last?.connection_id ?? job.after_connection_id,
            after_sequence: last === undefined ? job.after_sequence : Number(last.sequence),
            enqueued: eb('enqueued', '+', items.length),
            finished_at_ms: done ? now : null,
          }))
          .where('id', '=', job.id)
          .execute();
        return {
          jobId: Number(job.id),
          resumed,
          scanned: rows.length,
          enqueued: items.length,
          totalEnqueued: Number(job.enqueued) + items.length,
          done,
        };
      });
    });
  }
}
