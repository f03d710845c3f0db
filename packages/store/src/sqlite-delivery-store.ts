import type Database from 'better-sqlite3';
import type { ResourceType, StoredEvent } from '@tendril/core';
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
  type SubscriptionRunState,
  type SubscriptionStateRecord,
} from './delivery-types.js';

/** Runs `fn` on an open, migrated store, turning failures into TendrilError (the store's #guard). */
export type Guard = <T>(operation: string, fn: () => T) => Promise<T>;

import {
  DELIVERY_COLUMNS,
  EVENT_COLUMNS,
  badInput,
  toAttempt,
  toEvent,
  toMs,
  toRecord,
  toState,
  type AttemptRow,
  type DeliveryRow,
  type EventRow,
  type StateRow,
} from './delivery-rows.js';

interface InsertParams {
  subscriptionId: string;
  eventId: string;
  eventType: string;
  connectionId: string;
  resourceType: string;
  resourceId: string;
  sequence: number;
  queuePos: number;
  origin: DeliveryOrigin;
  now: number;
  replayOf: number | null;
}

/** Statements of the delivery tables, prepared once after the schema exists. */
function prepare(db: Database.Database) {
  const keyWhere = `status = 'pending' AND subscription_id = ? AND resource_type = ? AND resource_id = ?`;
  return {
    insert: db.prepare<[InsertParams]>(
      // head: the new row leads its key when no other pending row exists for it.
      `INSERT INTO deliveries (subscription_id, event_id, event_type, connection_id, resource_type, resource_id,
         sequence, queue_pos, status, origin, head, due_at_ms, created_at_ms, replay_of)
       VALUES (@subscriptionId, @eventId, @eventType, @connectionId, @resourceType, @resourceId, @sequence, @queuePos,
         'pending', @origin,
         NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending' AND subscription_id = @subscriptionId
           AND resource_type = @resourceType AND resource_id = @resourceId),
         @now, @now, @replayOf)`,
    ),
    // Re-elects the head of one key: a row under a live lease keeps it, else the lowest queue position.
    refreshHead: db.prepare<
      [{ subscriptionId: string; resourceType: string; resourceId: string; now: number }]
    >(
      `UPDATE deliveries SET head = (id = (
         SELECT p.id FROM deliveries p
         WHERE p.status = 'pending' AND p.subscription_id = @subscriptionId AND p.resource_type = @resourceType
           AND p.resource_id = @resourceId
         ORDER BY (COALESCE(p.lease_expires_ms, 0) > @now) DESC, p.queue_pos, p.id LIMIT 1))
       WHERE status = 'pending' AND subscription_id = @subscriptionId AND resource_type = @resourceType
         AND resource_id = @resourceId`,
    ),
    promoteNext: db.prepare<[string, string, string]>(
      `UPDATE deliveries SET head = 1 WHERE id = (
         SELECT id FROM deliveries WHERE ${keyWhere} ORDER BY queue_pos, id LIMIT 1)`,
    ),
    maxQueuePos: db.prepare<[string, string, string], { q: number | null }>(
      `SELECT MAX(queue_pos) AS q FROM deliveries WHERE ${keyWhere}`,
    ),
    // INDEXED BY: walk due heads in due order; the planner would otherwise pick the subscription
    // index and sort every pending row of the subscription on each lease.
    leaseCandidates: db.prepare<[number, number, string, number], DeliveryRow & EventRow>(
      `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS}
       FROM deliveries d INDEXED BY deliveries_due JOIN outbox o ON o.id = d.event_id
       WHERE d.status = 'pending' AND d.head = 1 AND d.due_at_ms <= ?
         AND (d.lease_expires_ms IS NULL OR d.lease_expires_ms <= ?)
         AND d.subscription_id IN (SELECT value FROM json_each(?))
       ORDER BY d.due_at_ms, d.id LIMIT ?`,
    ),
    takeLease: db.prepare<[string, number, number, number]>(
      `UPDATE deliveries SET lease_owner = ?, lease_expires_ms = ?, eligible_at_ms = COALESCE(eligible_at_ms, ?)
       WHERE id = ?`,
    ),
    byId: db.prepare<[number], DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = ?`),
    attemptCount: db.prepare<[number], { n: number }>(
      'SELECT COUNT(*) AS n FROM delivery_attempts WHERE delivery_id = ?',
    ),
    insertAttempt: db.prepare<
      [number, number, number, number, number | null, string | null, number | null, string, number]
    >(
      `INSERT INTO delivery_attempts (delivery_id, number, started_at_ms, ended_at_ms, status, error, response_bytes, outcome, probe)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    attemptsOf: db.prepare<[number], AttemptRow>(
      `SELECT delivery_id, number, started_at_ms, ended_at_ms, status, error, response_bytes, outcome, probe
       FROM delivery_attempts WHERE delivery_id = ? ORDER BY number, id`,
    ),
    markRetry: db.prepare<[number | null, string | null, number, number]>(
      `UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, due_at_ms = ?,
         lease_owner = NULL, lease_expires_ms = NULL WHERE id = ?`,
    ),
    markFinal: db.prepare<[string, number | null, string | null, number, string | null, number, number]>(
      `UPDATE deliveries SET status = ?, attempts = attempts + 1, last_status = ?, last_error = ?, finished_at_ms = ?,
         dead_reason = ?, redrive = ?, head = 0, lease_owner = NULL, lease_expires_ms = NULL WHERE id = ?`,
    ),
    release: db.prepare<[number, number, string]>(
      `UPDATE deliveries SET due_at_ms = ?, lease_owner = NULL, lease_expires_ms = NULL
       WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
    ),
    nextDue: db.prepare<[string], { due: number | null }>(
      `SELECT MIN(due_at_ms) AS due FROM deliveries
       WHERE status = 'pending' AND head = 1 AND subscription_id IN (SELECT value FROM json_each(?))`,
    ),
    retryNow: db.prepare<[number, number]>(
      `UPDATE deliveries SET due_at_ms = MIN(due_at_ms, ?) WHERE id = ? AND status = 'pending'`,
    ),
    eventById: db.prepare<
      [string],
      EventRow & {
        connection_id: string;
        sequence: number;
        type: string;
        resource_type: ResourceType;
        resource_id: string;
      }
    >(
      `SELECT ${EVENT_COLUMNS}, o.connection_id, o.sequence, o.type, o.resource_type, o.resource_id FROM outbox o WHERE o.id = ?`,
    ),
    clearRedrive: db.prepare<[number]>('UPDATE deliveries SET redrive = 0 WHERE id = ?'),
    oldestRedrivable: db.prepare<[string], DeliveryRow & EventRow>(
      `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS} FROM deliveries d JOIN outbox o ON o.id = d.event_id
       WHERE d.subscription_id = ? AND d.status = 'dead' AND d.redrive = 1 ORDER BY d.id LIMIT 1`,
    ),
    redrivable: db.prepare<[string, number], { id: number; eventId: string }>(
      `SELECT id, event_id AS eventId FROM deliveries WHERE subscription_id = ? AND status = 'dead' AND redrive = 1 ORDER BY id LIMIT ?`,
    ),
    probeDelivered: db.prepare<[number, number, number]>(
      `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, last_status = ?, last_error = NULL,
         finished_at_ms = ?, redrive = 0 WHERE id = ? AND status = 'dead'`,
    ),
    probeFailed: db.prepare<[number | null, string | null, number, number]>(
      `UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, redrive = ? WHERE id = ?`,
    ),
    getState: db.prepare<[string], StateRow>('SELECT * FROM subscription_state WHERE subscription_id = ?'),
    allStates: db.prepare<[], StateRow>('SELECT * FROM subscription_state ORDER BY subscription_id'),
    upsertState: db.prepare<
      [
        {
          id: string;
          state: string;
          reason: string | null;
          now: number;
          nextProbe: number | null;
          reset: number;
        },
      ]
    >(
      `INSERT INTO subscription_state (subscription_id, state, reason, changed_at_ms, next_probe_at_ms, consecutive_failures)
       VALUES (@id, @state, @reason, @now, @nextProbe, 0)
       ON CONFLICT (subscription_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
         changed_at_ms = CASE WHEN subscription_state.state = excluded.state THEN subscription_state.changed_at_ms ELSE excluded.changed_at_ms END,
         next_probe_at_ms = excluded.next_probe_at_ms,
         consecutive_failures = CASE WHEN @reset = 1 THEN 0 ELSE subscription_state.consecutive_failures END`,
    ),
    bumpFailures: db.prepare<[string, number]>(
      `INSERT INTO subscription_state (subscription_id, state, changed_at_ms, consecutive_failures) VALUES (?, 'active', ?, 1)
       ON CONFLICT (subscription_id) DO UPDATE SET consecutive_failures = subscription_state.consecutive_failures + 1`,
    ),
    resetFailures: db.prepare<[string]>(
      'UPDATE subscription_state SET consecutive_failures = 0 WHERE subscription_id = ? AND consecutive_failures <> 0',
    ),
    openBackload: db.prepare<
      [string, string],
      { id: number; after_connection_id: string | null; after_sequence: number | null; enqueued: number }
    >(
      `SELECT id, after_connection_id, after_sequence, enqueued FROM delivery_backloads
       WHERE subscription_id = ? AND filter_json = ? AND finished_at_ms IS NULL ORDER BY id DESC LIMIT 1`,
    ),
    abandonBackloads: db.prepare<[number, string, string]>(
      `UPDATE delivery_backloads SET finished_at_ms = ? WHERE subscription_id = ? AND filter_json = ? AND finished_at_ms IS NULL`,
    ),
    createBackload: db.prepare<[string, string, number]>(
      'INSERT INTO delivery_backloads (subscription_id, filter_json, started_at_ms) VALUES (?, ?, ?)',
    ),
    advanceBackload: db.prepare<[string | null, number | null, number, number | null, number]>(
      `UPDATE delivery_backloads SET after_connection_id = ?, after_sequence = ?, enqueued = enqueued + ?, finished_at_ms = ?
       WHERE id = ?`,
    ),
    pendingForEvent: db.prepare<[string, string], { n: number }>(
      `SELECT COUNT(*) AS n FROM deliveries WHERE event_id = ? AND subscription_id = ? AND status = 'pending'`,
    ),
  };
}

type Statements = ReturnType<typeof prepare>;

/** The newest event of each resource, not deleted: the "current state" a backload re-emits. */
const CURRENT_EVENTS = `FROM outbox o
  WHERE o.kind <> 'deleted'
    AND NOT EXISTS (SELECT 1 FROM outbox n WHERE n.connection_id = o.connection_id
      AND n.resource_type = o.resource_type AND n.resource_id = o.resource_id AND n.sequence > o.sequence)`;

/**
 * The SQLite half of {@link DeliveryStore}. Built by the SQLite store, which hands in its database
 * handle and its guard (open check, migrate-on-first-use, error wrapping). Every write runs in a
 * `BEGIN IMMEDIATE` transaction, so two agent processes sharing the file never lease one delivery twice.
 */
export class SqliteDeliveryStore implements DeliveryStore {
  readonly #dbOf: () => Database.Database;
  readonly #guard: Guard;
  readonly #routes: readonly DeliveryRoute[];
  readonly #nowMs: () => number;
  #statements: Statements | undefined;
  readonly #dynamic = new Map<string, Database.Statement<(string | number)[], unknown>>();

  constructor(
    db: () => Database.Database,
    guard: Guard,
    routes: readonly DeliveryRoute[],
    nowMs: () => number,
  ) {
    this.#dbOf = db;
    this.#guard = guard;
    this.#routes = routes;
    this.#nowMs = nowMs;
  }

  /** Drops prepared statements (the store closed). */
  reset(): void {
    this.#statements = undefined;
    this.#dynamic.clear();
  }

  get #db(): Database.Database {
    return this.#dbOf();
  }

  #s(): Statements {
    this.#statements ??= prepare(this.#db);
    return this.#statements;
  }

  /**
   * Commit rule step 3 (sync-semantics.md §7): called by `commitPage` inside its transaction with
   * the events it actually inserted (a redone page's existing events already have their rows).
   * With `onlySubscriptionIds`, only those subscriptions' routes are considered (writeback result
   * events go to the requesting client's subscriptions alone).
   */
  insertLive(events: readonly StoredEvent[], onlySubscriptionIds?: ReadonlySet<string>): void {
    if (this.#routes.length === 0 || events.length === 0) return;
    const s = this.#s();
    const now = this.#nowMs();
    for (const event of events) {
      const e = event.envelope;
      for (const route of this.#routes) {
        if (onlySubscriptionIds && !onlySubscriptionIds.has(route.subscriptionId)) continue;
        if (!routeMatches(route, e)) continue;
        s.insert.run({
          subscriptionId: route.subscriptionId,
          eventId: e.id,
          eventType: e.type,
          connectionId: e.connectionId,
          resourceType: e.resourceType,
          resourceId: e.resourceId,
          sequence: e.sequence,
          queuePos: e.sequence,
          origin: 'live',
          now,
          replayOf: null,
        });
      }
    }
  }

  async lease(input: {
    owner: string;
    nowMs: number;
    leaseMs: number;
    limit: number;
    subscriptionIds: readonly string[];
  }): Promise<LeasedDelivery[]> {
    return this.#guard('lease', () => {
      const now = toMs(input.nowMs, 'nowMs');
      if (input.subscriptionIds.length === 0 || input.limit <= 0) return [];
      const s = this.#s();
      const take = this.#db.transaction((): LeasedDelivery[] => {
        const rows = s.leaseCandidates.all(now, now, JSON.stringify(input.subscriptionIds), input.limit);
        const expires = now + input.leaseMs;
        return rows.map((row) => {
          s.takeLease.run(input.owner, expires, now, row.id);
          return {
            ...toRecord({ ...row, eligible_at_ms: row.eligible_at_ms ?? now }),
            event: toEvent(row),
            leaseOwner: input.owner,
            leaseExpiresMs: expires,
          };
        });
      });
      return take.immediate();
    });
  }

  async complete(input: {
    deliveryId: number;
    owner: string;
    attempt: DeliveryAttemptInput;
    resolution: AttemptResolution;
  }): Promise<{ applied: boolean; consecutivePermanentFailures: number }> {
    const [result] = await this.completeMany([input]);
    return result!;
  }

  async completeMany(
    inputs: readonly {
      deliveryId: number;
      owner: string;
      attempt: DeliveryAttemptInput;
      resolution: AttemptResolution;
    }[],
  ): Promise<{ applied: boolean; consecutivePermanentFailures: number }[]> {
    return this.#guard('complete', () => {
      const s = this.#s();
      const run = this.#db.transaction(() =>
        inputs.map((input) => {
          const row = s.byId.get(input.deliveryId);
          if (row === undefined) throw badInput('No delivery has this id.', { deliveryId: input.deliveryId });
          this.#insertAttempt(s, input.deliveryId, input.attempt);
          const applied = row.status === 'pending' && row.lease_owner === input.owner;
          if (applied) this.#resolve(s, row, input.attempt, input.resolution);
          const state = s.getState.get(row.subscription_id);
          return { applied, consecutivePermanentFailures: state?.consecutive_failures ?? 0 };
        }),
      );
      return run.immediate();
    });
  }

  #insertAttempt(s: Statements, deliveryId: number, attempt: DeliveryAttemptInput): void {
    const number = (s.attemptCount.get(deliveryId)?.n ?? 0) + 1;
    s.insertAttempt.run(
      deliveryId,
      number,
      toMs(attempt.startedAtMs, 'startedAtMs'),
      toMs(attempt.endedAtMs, 'endedAtMs'),
      attempt.status ?? null,
      attempt.error ?? null,
      attempt.responseBytes ?? null,
      attempt.outcome,
      attempt.probe === true ? 1 : 0,
    );
  }

  #resolve(
    s: Statements,
    row: DeliveryRow,
    attempt: DeliveryAttemptInput,
    resolution: AttemptResolution,
  ): void {
    const status = attempt.status ?? null;
    const error = attempt.error ?? null;
    switch (resolution.kind) {
      case 'retry':
        s.markRetry.run(status, error, toMs(resolution.dueAtMs, 'dueAtMs'), row.id);
        return;
      case 'delivered':
        s.markFinal.run('delivered', status, error, attempt.endedAtMs, null, 0, row.id);
        s.resetFailures.run(row.subscription_id);
        s.promoteNext.run(row.subscription_id, row.resource_type, row.resource_id);
        return;
      case 'dead':
        s.markFinal.run(
          'dead',
          status,
          error,
          attempt.endedAtMs,
          resolution.reason,
          resolution.redrive ? 1 : 0,
          row.id,
        );
        if (resolution.reason === 'permanent' || resolution.reason === 'gone') {
          s.bumpFailures.run(row.subscription_id, attempt.endedAtMs);
        }
        s.promoteNext.run(row.subscription_id, row.resource_type, row.resource_id);
        return;
      default:
        resolution satisfies never;
    }
  }

  async release(input: { deliveryId: number; owner: string; dueAtMs: number }): Promise<void> {
    return this.#guard('release', () => {
      this.#s().release.run(toMs(input.dueAtMs, 'dueAtMs'), input.deliveryId, input.owner);
    });
  }

  async nextDueAtMs(subscriptionIds: readonly string[]): Promise<number | undefined> {
    return this.#guard('nextDueAtMs', () => {
      if (subscriptionIds.length === 0) return undefined;
      return this.#s().nextDue.get(JSON.stringify(subscriptionIds))?.due ?? undefined;
    });
  }

  #where(query: Omit<DeliveryQuery, 'limit'>): { sql: string; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, value: string | number): void => {
      where.push(clause);
      params.push(value);
    };
    if (query.subscriptionId !== undefined) add('d.subscription_id = ?', query.subscriptionId);
    if (query.status !== undefined) add('d.status = ?', query.status);
    if (query.resourceType !== undefined) add('d.resource_type = ?', query.resourceType);
    if (query.resourceId !== undefined) add('d.resource_id = ?', query.resourceId);
    if (query.eventId !== undefined) add('d.event_id = ?', query.eventId);
    if (query.sinceMs !== undefined) add('d.created_at_ms >= ?', toMs(query.sinceMs, 'sinceMs'));
    if (query.untilMs !== undefined) add('d.created_at_ms < ?', toMs(query.untilMs, 'untilMs'));
    if (query.afterId !== undefined) add('d.id > ?', query.afterId);
    return { sql: where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '', params };
  }

  #query<Row>(sql: string): Database.Statement<(string | number)[], Row> {
    let statement = this.#dynamic.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<(string | number)[], unknown>(sql);
      this.#dynamic.set(sql, statement);
    }
    return statement as Database.Statement<(string | number)[], Row>;
  }

  async list(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.#guard('listDeliveries', () => {
      this.#s();
      const { sql, params } = this.#where(query);
      if (!Number.isInteger(query.limit) || query.limit < 0)
        throw badInput('limit must be a non-negative integer.');
      return this.#query<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries d${sql} ORDER BY d.id LIMIT ?`,
      )
        .all(...params, query.limit)
        .map(toRecord);
    });
  }

  async count(query: Omit<DeliveryQuery, 'limit' | 'afterId'>): Promise<number> {
    return this.#guard('countDeliveries', () => {
      this.#s();
      const { sql, params } = this.#where(query);
      return (
        this.#query<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries d${sql}`).get(...params)?.n ?? 0
      );
    });
  }

  async get(id: number): Promise<{ delivery: DeliveryRecord; attempts: DeliveryAttempt[] } | undefined> {
    return this.#guard('getDelivery', () => {
      const s = this.#s();
      const row = s.byId.get(id);
      if (row === undefined) return undefined;
      return { delivery: toRecord(row), attempts: s.attemptsOf.all(id).map(toAttempt) };
    });
  }

  async enqueue(input: {
    subscriptionId: string;
    items: readonly { eventId: string; replayOf?: number }[];
    origin: Exclude<DeliveryOrigin, 'live'>;
    nowMs: number;
  }): Promise<number[]> {
    return this.#guard('enqueueDeliveries', () => {
      const now = toMs(input.nowMs, 'nowMs');
      const s = this.#s();
      const run = this.#db.transaction(() =>
        this.#enqueue(s, input.subscriptionId, input.items, input.origin, now),
      );
      return run.immediate();
    });
  }

  #enqueue(
    s: Statements,
    subscriptionId: string,
    items: readonly { eventId: string; replayOf?: number }[],
    origin: Exclude<DeliveryOrigin, 'live'>,
    now: number,
  ): number[] {
    const ids: number[] = [];
    const keys = new Map<string, [string, string]>();
    for (const item of items) {
      const event = s.eventById.get(item.eventId);
      if (event === undefined) {
        throw badInput('No event has this id; it may have been pruned from the outbox.', {
          eventId: item.eventId,
        });
      }
      let queuePos = event.sequence;
      if (origin === 'replay') {
        // A manual replay queues behind the key's pending rows (delivery.md §6).
        const max = s.maxQueuePos.get(subscriptionId, event.resource_type, event.resource_id)?.q;
        if (max !== null && max !== undefined) queuePos = Math.max(queuePos, max);
      } else if (origin === 'redrive' && item.replayOf !== undefined) {
        queuePos = s.byId.get(item.replayOf)?.sequence ?? event.sequence;
      }
      const info = s.insert.run({
        subscriptionId,
        eventId: item.eventId,
        eventType: event.type,
        connectionId: event.connection_id,
        resourceType: event.resource_type,
        resourceId: event.resource_id,
        sequence: event.sequence,
        queuePos,
        origin,
        now,
        replayOf: item.replayOf ?? null,
      });
      ids.push(Number(info.lastInsertRowid));
      if (item.replayOf !== undefined) s.clearRedrive.run(item.replayOf);
      keys.set(`${event.resource_type}\u0000${event.resource_id}`, [event.resource_type, event.resource_id]);
    }
    // A redrive can sort before the key's current head; re-elect heads of the keys touched.
    if (origin === 'redrive') {
      for (const [resourceType, resourceId] of keys.values()) {
        s.refreshHead.run({ subscriptionId, resourceType, resourceId, now });
      }
    }
    return ids;
  }

  async retryNow(id: number, nowMs: number): Promise<boolean> {
    return this.#guard('retryNow', () => this.#s().retryNow.run(toMs(nowMs, 'nowMs'), id).changes > 0);
  }

  async oldestRedrivable(
    subscriptionId: string,
  ): Promise<(DeliveryRecord & { event: StoredEvent }) | undefined> {
    return this.#guard('oldestRedrivable', () => {
      const row = this.#s().oldestRedrivable.get(subscriptionId);
      return row === undefined ? undefined : { ...toRecord(row), event: toEvent(row) };
    });
  }

  async recordProbe(input: {
    deliveryId: number;
    attempt: DeliveryAttemptInput;
    delivered: boolean;
    stillRedrivable: boolean;
  }): Promise<void> {
    return this.#guard('recordProbe', () => {
      const s = this.#s();
      const run = this.#db.transaction(() => {
        this.#insertAttempt(s, input.deliveryId, { ...input.attempt, probe: true });
        if (input.delivered) {
          s.probeDelivered.run(input.attempt.status ?? 200, input.attempt.endedAtMs, input.deliveryId);
        } else {
          s.probeFailed.run(
            input.attempt.status ?? null,
            input.attempt.error ?? null,
            input.stillRedrivable ? 1 : 0,
            input.deliveryId,
          );
        }
      });
      run.immediate();
    });
  }

  async redrivable(subscriptionId: string, limit: number): Promise<{ id: number; eventId: string }[]> {
    return this.#guard('redrivable', () => this.#s().redrivable.all(subscriptionId, limit));
  }

  async subscriptionStates(): Promise<SubscriptionStateRecord[]> {
    return this.#guard('subscriptionStates', () => this.#s().allStates.all().map(toState));
  }

  async setSubscriptionState(input: {
    subscriptionId: string;
    state: SubscriptionRunState;
    reason?: string;
    nowMs: number;
    nextProbeAtMs?: number;
    resetFailures?: boolean;
  }): Promise<void> {
    return this.#guard('setSubscriptionState', () => {
      this.#s().upsertState.run({
        id: input.subscriptionId,
        state: input.state,
        reason: input.reason ?? null,
        now: toMs(input.nowMs, 'nowMs'),
        nextProbe: input.nextProbeAtMs ?? null,
        reset: input.resetFailures === true ? 1 : 0,
      });
    });
  }

  #currentQuery(filter: BackloadFilter, route: DeliveryRoute): { sql: string; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (route.connectionIds.length > 0) {
      where.push('o.connection_id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(route.connectionIds));
    }
    if (filter.resourceType !== undefined) {
      where.push('o.resource_type = ?');
      params.push(filter.resourceType);
    }
    if (filter.since !== undefined) {
      const since = Date.parse(filter.since);
      if (Number.isNaN(since)) throw badInput('since must be an ISO date or instant such as 2025-01-01.');
      // occurredAt is stored in toISOString() form, so text order is time order.
      where.push("json_extract(o.envelope_json, '$.occurredAt') >= ?");
      params.push(new Date(since).toISOString());
    }
    return { sql: where.map((clause) => ` AND ${clause}`).join(''), params };
  }

  async countCurrent(filter: BackloadFilter, route: DeliveryRoute): Promise<number> {
    return this.#guard('countCurrent', () => {
      this.#s();
      const { sql, params } = this.#currentQuery(filter, route);
      return (
        this.#query<{ n: number }>(`SELECT COUNT(*) AS n ${CURRENT_EVENTS}${sql}`).get(...params)?.n ?? 0
      );
    });
  }

  async backloadPage(input: {
    filter: BackloadFilter;
    route: DeliveryRoute;
    limit: number;
    nowMs: number;
    restart?: boolean;
  }): Promise<BackloadPage> {
    return this.#guard('backloadPage', () => {
      const now = toMs(input.nowMs, 'nowMs');
      if (!Number.isInteger(input.limit) || input.limit < 1)
        throw badInput('limit must be a whole number ≥ 1.');
      if (input.route.subscriptionId !== input.filter.subscriptionId) {
        throw badInput('The backload route and filter name different subscriptions.');
      }
      const s = this.#s();
      const filterJson = JSON.stringify({
        resourceType: input.filter.resourceType ?? null,
        since: input.filter.since ?? null,
      });
      const run = this.#db.transaction((): BackloadPage => {
        const subscriptionId = input.filter.subscriptionId;
        if (input.restart === true) s.abandonBackloads.run(now, subscriptionId, filterJson);
        let job = s.openBackload.get(subscriptionId, filterJson);
        const resumed = job !== undefined && (job.after_connection_id !== null || job.enqueued > 0);
        if (job === undefined) {
          const id = Number(s.createBackload.run(subscriptionId, filterJson, now).lastInsertRowid);
          job = { id, after_connection_id: null, after_sequence: null, enqueued: 0 };
        }
        const { sql, params } = this.#currentQuery(input.filter, input.route);
        const cursor = job.after_connection_id === null ? '' : ' AND (o.connection_id, o.sequence) > (?, ?)';
        const cursorParams: (string | number)[] =
          job.after_connection_id === null ? [] : [job.after_connection_id, job.after_sequence ?? 0];
        const rows = this.#query<{
          id: string;
          connection_id: string;
          sequence: number;
          type: string;
          resource_type: string;
        }>(
          `SELECT o.id, o.connection_id, o.sequence, o.type, o.resource_type ${CURRENT_EVENTS}${sql}${cursor}
           ORDER BY o.connection_id, o.sequence LIMIT ?`,
        ).all(...params, ...cursorParams, input.limit);
        const items = rows
          .filter((row) =>
            routeMatches(input.route, {
              connectionId: row.connection_id,
              resourceType: row.resource_type,
              type: row.type,
            }),
          )
          .filter((row) => (s.pendingForEvent.get(row.id, subscriptionId)?.n ?? 0) === 0)
          .map((row) => ({ eventId: row.id }));
        this.#enqueue(s, subscriptionId, items, 'backload', now);
        const last = rows.at(-1);
        const done = rows.length < input.limit;
        s.advanceBackload.run(
          last?.connection_id ?? job.after_connection_id,
          last?.sequence ?? job.after_sequence,
          items.length,
          done ? now : null,
          job.id,
        );
        return {
          jobId: job.id,
          resumed,
          scanned: rows.length,
          enqueued: items.length,
          totalEnqueued: job.enqueued + items.length,
          done,
        };
      });
      return run.immediate();
    });
  }
}
