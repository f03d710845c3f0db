import type pg from 'pg';
import type { EventEnvelope, StoredEvent } from '@tendril/core';
import {
  routeMatches,
  type AttemptResolution,
  type BackloadFilter,
  type BackloadPage,
  type DeadReason,
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
  type ThrottleTake,
} from './delivery-types.js';
import { deliveryKey, inTransaction, lockDeliveryKeys } from './postgres-connection.js';

/** Runs `fn` on an open, migrated store, turning failures into TendrilError (the store's #guard). */
export type PostgresGuard = <T>(operation: string, fn: () => Promise<T>) => Promise<T>;

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

const STATE_COLUMNS = 'subscription_id, state, reason, consecutive_failures, changed_at_ms, next_probe_at_ms';

function toCount(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw badInput(`${field} must be a non-negative integer.`, { field });
  return value;
}

/** The newest event of each resource, not deleted: the "current state" a backload re-emits. */
const CURRENT_EVENTS = `FROM outbox o
  WHERE o.kind <> 'deleted'
    AND NOT EXISTS (SELECT 1 FROM outbox n WHERE n.connection_id = o.connection_id
      AND n.resource_type = o.resource_type AND n.resource_id = o.resource_id AND n.sequence > o.sequence)`;

/**
 * Makes the lowest pending row the head of each given key that has pending rows but no head. With
 * the key locked, this is the same rule as SQLite's "a new row leads when nothing is pending".
 */
const ELECT_MISSING_HEADS = `
  UPDATE deliveries SET head = TRUE WHERE id IN (
    SELECT DISTINCT ON (p.subscription_id, p.resource_type, p.resource_id) p.id
    FROM deliveries p
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(sub, rt, rid)
      ON p.subscription_id = k.sub AND p.resource_type = k.rt AND p.resource_id = k.rid
    WHERE p.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.status = 'pending' AND h.head
        AND h.subscription_id = p.subscription_id AND h.resource_type = p.resource_type AND h.resource_id = p.resource_id)
    ORDER BY p.subscription_id, p.resource_type, p.resource_id, p.queue_pos, p.id)`;

interface Key {
  subscriptionId: string;
  resourceType: string;
  resourceId: string;
}

/**
 * The PostgreSQL half of {@link DeliveryStore}, built by the PostgreSQL store. Leases take due heads
 * with `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of hosts lease disjoint
 * deliveries; every write that can change which row heads a key first takes that key's
 * transaction-scoped advisory lock, so per-resource order holds across workers (delivery.md §5).
 */
export class PostgresDeliveryStore implements DeliveryStore {
  readonly #pool: pg.Pool;
  readonly #guard: PostgresGuard;
  readonly #routes: readonly DeliveryRoute[];
  readonly #nowMs: () => number;

  constructor(pool: pg.Pool, guard: PostgresGuard, routes: readonly DeliveryRoute[], nowMs: () => number) {
    this.#pool = pool;
    this.#guard = guard;
    this.#routes = routes;
    this.#nowMs = nowMs;
  }

  /**
   * Commit rule step 3 (sync-semantics.md §7): called by `commitPage` inside its transaction with
   * the events it actually inserted. With `onlySubscriptionIds`, only those subscriptions' routes count.
   */
  async insertLive(
    client: pg.PoolClient,
    events: readonly StoredEvent[],
    onlySubscriptionIds?: ReadonlySet<string>,
  ): Promise<void> {
    if (this.#routes.length === 0 || events.length === 0) return;
    const rows: { route: DeliveryRoute; event: EventEnvelope }[] = [];
    for (const event of events) {
      for (const route of this.#routes) {
        if (onlySubscriptionIds && !onlySubscriptionIds.has(route.subscriptionId)) continue;
        if (routeMatches(route, event.envelope)) rows.push({ route, event: event.envelope });
      }
    }
    if (rows.length === 0) return;
    const keys = rows.map(({ route, event }) => ({
      subscriptionId: route.subscriptionId,
      resourceType: event.resourceType,
      resourceId: event.resourceId,
    }));
    await this.#lockKeys(client, keys);
    const now = this.#nowMs();
    await client.query(
      `INSERT INTO deliveries (subscription_id, event_id, event_type, connection_id, resource_type, resource_id,
         sequence, queue_pos, status, origin, head, due_at_ms, created_at_ms)
       SELECT u.sub, u.eid, u.etype, u.cid, u.rt, u.rid, u.seq, u.seq, 'pending', 'live', FALSE, $1, $1
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
         WITH ORDINALITY AS u(sub, eid, etype, cid, rt, rid, seq, n)
       ORDER BY u.n`,
      [
        now,
        rows.map((r) => r.route.subscriptionId),
        rows.map((r) => r.event.id),
        rows.map((r) => r.event.type),
        rows.map((r) => r.event.connectionId),
        rows.map((r) => r.event.resourceType),
        rows.map((r) => r.event.resourceId),
        rows.map((r) => r.event.sequence),
      ],
    );
    await this.#electHeads(client, keys);
  }

  async #lockKeys(client: pg.PoolClient, keys: readonly Key[]): Promise<void> {
    await lockDeliveryKeys(
      client,
      keys.map((k) => deliveryKey(k.subscriptionId, k.resourceType, k.resourceId)),
    );
  }

  async #electHeads(client: pg.PoolClient, keys: readonly Key[]): Promise<void> {
    const unique = new Map(keys.map((k) => [deliveryKey(k.subscriptionId, k.resourceType, k.resourceId), k]));
    const list = [...unique.values()];
    await client.query(ELECT_MISSING_HEADS, [
      list.map((k) => k.subscriptionId),
      list.map((k) => k.resourceType),
      list.map((k) => k.resourceId),
    ]);
  }

  async lease(input: {
    owner: string;
    nowMs: number;
    leaseMs: number;
    limit: number;
    subscriptionIds: readonly string[];
  }): Promise<LeasedDelivery[]> {
    return this.#guard('lease', async () => {
      const now = toMs(input.nowMs, 'nowMs');
      if (input.subscriptionIds.length === 0 || input.limit <= 0) return [];
      const expires = now + toCount(input.leaseMs, 'leaseMs');
      // SKIP LOCKED: rows another worker is leasing right now are passed over, not waited for; the
      // conditions are re-checked on the locked row, so an expired-and-retaken lease is never taken twice.
      const { rows } = await this.#pool.query<DeliveryRow & EventRow>(
        `WITH taken AS (
           SELECT d.id FROM deliveries d
           WHERE d.status = 'pending' AND d.head AND d.due_at_ms <= $1
             AND (d.lease_expires_ms IS NULL OR d.lease_expires_ms <= $1)
             AND d.subscription_id = ANY($2::text[])
           ORDER BY d.due_at_ms, d.id
           LIMIT $3
           FOR UPDATE SKIP LOCKED)
         UPDATE deliveries d SET lease_owner = $4, lease_expires_ms = $5, eligible_at_ms = COALESCE(d.eligible_at_ms, $1)
         FROM taken, outbox o
         WHERE d.id = taken.id AND o.id = d.event_id
         RETURNING ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS}`,
        [now, [...input.subscriptionIds], input.limit, input.owner, expires],
      );
      return rows
        .sort((a, b) => a.due_at_ms - b.due_at_ms || a.id - b.id)
        .map((row) => ({
          ...toRecord(row),
          event: toEvent(row),
          leaseOwner: input.owner,
          leaseExpiresMs: expires,
        }));
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
    return this.#guard('complete', async () => {
      if (inputs.length === 0) return [];
      return inTransaction(this.#pool, async (client) => {
        // Keys never change for a row, so they can be read before locking them.
        const { rows: keyRows } = await client.query<{
          id: number;
          subscription_id: string;
          resource_type: string;
          resource_id: string;
        }>(
          'SELECT id, subscription_id, resource_type, resource_id FROM deliveries WHERE id = ANY($1::bigint[])',
          [inputs.map((i) => i.deliveryId)],
        );
        await this.#lockKeys(
          client,
          keyRows.map((r) => ({
            subscriptionId: r.subscription_id,
            resourceType: r.resource_type,
            resourceId: r.resource_id,
          })),
        );
        const results: { applied: boolean; consecutivePermanentFailures: number }[] = [];
        for (const input of inputs) {
          const row = await this.#lockRow(client, input.deliveryId);
          if (row === undefined) throw badInput('No delivery has this id.', { deliveryId: input.deliveryId });
          await this.#insertAttempt(client, input.deliveryId, input.attempt);
          const applied = row.status === 'pending' && row.lease_owner === input.owner;
          if (applied) await this.#resolve(client, row, input.attempt, input.resolution);
          const { rows } = await client.query<{ consecutive_failures: number }>(
            'SELECT consecutive_failures FROM subscription_state WHERE subscription_id = $1',
            [row.subscription_id],
          );
          results.push({ applied, consecutivePermanentFailures: rows[0]?.consecutive_failures ?? 0 });
        }
        return results;
      });
    });
  }

  async #lockRow(client: pg.PoolClient, id: number): Promise<DeliveryRow | undefined> {
    const { rows } = await client.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = $1 FOR UPDATE`,
      [id],
    );
    return rows[0];
  }

  async #insertAttempt(
    client: pg.PoolClient,
    deliveryId: number,
    attempt: DeliveryAttemptInput,
  ): Promise<void> {
    // The delivery row is locked by the caller, so attempt numbers cannot collide.
    await client.query(
      `INSERT INTO delivery_attempts (delivery_id, number, started_at_ms, ended_at_ms, status, error, response_bytes, outcome, probe)
       SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM delivery_attempts WHERE delivery_id = $1`,
      [
        deliveryId,
        toMs(attempt.startedAtMs, 'startedAtMs'),
        toMs(attempt.endedAtMs, 'endedAtMs'),
        attempt.status ?? null,
        attempt.error ?? null,
        attempt.responseBytes ?? null,
        attempt.outcome,
        attempt.probe === true,
      ],
    );
  }

  async #resolve(
    client: pg.PoolClient,
    row: DeliveryRow,
    attempt: DeliveryAttemptInput,
    resolution: AttemptResolution,
  ): Promise<void> {
    const status = attempt.status ?? null;
    const error = attempt.error ?? null;
    const key: Key = {
      subscriptionId: row.subscription_id,
      resourceType: row.resource_type,
      resourceId: row.resource_id,
    };
    const final = async (
      outcome: 'delivered' | 'dead',
      reason: DeadReason | null,
      redrive: boolean,
    ): Promise<void> => {
      await client.query(
        `UPDATE deliveries SET status = $1, attempts = attempts + 1, last_status = $2, last_error = $3, finished_at_ms = $4,
           dead_reason = $5, redrive = $6, head = FALSE, lease_owner = NULL, lease_expires_ms = NULL WHERE id = $7`,
        [outcome, status, error, attempt.endedAtMs, reason, redrive, row.id],
      );
    };
    switch (resolution.kind) {
      case 'retry':
        await client.query(
          `UPDATE deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2, due_at_ms = $3,
             lease_owner = NULL, lease_expires_ms = NULL WHERE id = $4`,
          [status, error, toMs(resolution.dueAtMs, 'dueAtMs'), row.id],
        );
        return;
      case 'delivered':
        await final('delivered', null, false);
        await client.query(
          'UPDATE subscription_state SET consecutive_failures = 0 WHERE subscription_id = $1 AND consecutive_failures <> 0',
          [row.subscription_id],
        );
        await this.#electHeads(client, [key]);
        return;
      case 'dead':
        await final('dead', resolution.reason, resolution.redrive);
        if (resolution.reason === 'permanent' || resolution.reason === 'gone') {
          await client.query(
            `INSERT INTO subscription_state AS s (subscription_id, state, changed_at_ms, consecutive_failures) VALUES ($1, 'active', $2, 1)
             ON CONFLICT (subscription_id) DO UPDATE SET consecutive_failures = s.consecutive_failures + 1`,
            [row.subscription_id, attempt.endedAtMs],
          );
        }
        await this.#electHeads(client, [key]);
        return;
      default:
        resolution satisfies never;
    }
  }

  async release(input: { deliveryId: number; owner: string; dueAtMs: number }): Promise<void> {
    return this.#guard('release', async () => {
      await this.#pool.query(
        `UPDATE deliveries SET due_at_ms = $1, lease_owner = NULL, lease_expires_ms = NULL
         WHERE id = $2 AND lease_owner = $3 AND status = 'pending'`,
        [toMs(input.dueAtMs, 'dueAtMs'), input.deliveryId, input.owner],
      );
    });
  }

  async nextDueAtMs(subscriptionIds: readonly string[]): Promise<number | undefined> {
    return this.#guard('nextDueAtMs', async () => {
      if (subscriptionIds.length === 0) return undefined;
      const { rows } = await this.#pool.query<{ due: number | null }>(
        `SELECT MIN(due_at_ms) AS due FROM deliveries WHERE status = 'pending' AND head AND subscription_id = ANY($1::text[])`,
        [[...subscriptionIds]],
      );
      return rows[0]?.due ?? undefined;
    });
  }

  #where(query: Omit<DeliveryQuery, 'limit'>): { sql: string; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, value: string | number): void => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
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

  async list(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.#guard('listDeliveries', async () => {
      const { sql, params } = this.#where(query);
      if (!Number.isInteger(query.limit) || query.limit < 0)
        throw badInput('limit must be a non-negative integer.');
      const { rows } = await this.#pool.query<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries d${sql} ORDER BY d.id LIMIT $${params.length + 1}`,
        [...params, query.limit],
      );
      return rows.map(toRecord);
    });
  }

  async count(query: Omit<DeliveryQuery, 'limit' | 'afterId'>): Promise<number> {
    return this.#guard('countDeliveries', async () => {
      const { sql, params } = this.#where(query);
      const { rows } = await this.#pool.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM deliveries d${sql}`,
        params,
      );
      return rows[0]?.n ?? 0;
    });
  }

  async get(id: number): Promise<{ delivery: DeliveryRecord; attempts: DeliveryAttempt[] } | undefined> {
    return this.#guard('getDelivery', async () => {
      const { rows } = await this.#pool.query<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = $1`,
        [id],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const attempts = await this.#pool.query<AttemptRow>(
        `SELECT delivery_id, number, started_at_ms, ended_at_ms, status, error, response_bytes, outcome, probe
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number, id`,
        [id],
      );
      return { delivery: toRecord(row), attempts: attempts.rows.map(toAttempt) };
    });
  }

  async enqueue(input: {
    subscriptionId: string;
    items: readonly { eventId: string; replayOf?: number }[];
    origin: Exclude<DeliveryOrigin, 'live'>;
    nowMs: number;
  }): Promise<number[]> {
    return this.#guard('enqueueDeliveries', async () => {
      const now = toMs(input.nowMs, 'nowMs');
      return inTransaction(this.#pool, (client) =>
        this.#enqueue(client, input.subscriptionId, input.items, input.origin, now),
      );
    });
  }

  async #enqueue(
    client: pg.PoolClient,
    subscriptionId: string,
    items: readonly { eventId: string; replayOf?: number }[],
    origin: Exclude<DeliveryOrigin, 'live'>,
    now: number,
  ): Promise<number[]> {
    if (items.length === 0) return [];
    const { rows: eventRows } = await client.query<{
      id: string;
      connection_id: string;
      sequence: number;
      type: string;
      resource_type: string;
      resource_id: string;
    }>(
      'SELECT id, connection_id, sequence, type, resource_type, resource_id FROM outbox WHERE id = ANY($1::text[])',
      [items.map((i) => i.eventId)],
    );
    const events = new Map(eventRows.map((row) => [row.id, row]));
    const missing = items.find((item) => !events.has(item.eventId));
    if (missing !== undefined) {
      throw badInput('No event has this id; it may have been pruned from the outbox.', {
        eventId: missing.eventId,
      });
    }
    const keys = items.map((item) => {
      const event = events.get(item.eventId)!;
      return { subscriptionId, resourceType: event.resource_type, resourceId: event.resource_id };
    });
    await this.#lockKeys(client, keys);
    const ids: number[] = [];
    for (const item of items) {
      const event = events.get(item.eventId)!;
      let queuePos = event.sequence;
      if (origin === 'replay') {
        // A manual replay queues behind the key's pending rows (delivery.md §6).
        const { rows } = await client.query<{ q: number | null }>(
          `SELECT MAX(queue_pos) AS q FROM deliveries
           WHERE status = 'pending' AND subscription_id = $1 AND resource_type = $2 AND resource_id = $3`,
          [subscriptionId, event.resource_type, event.resource_id],
        );
        const max = rows[0]?.q;
        if (max !== null && max !== undefined) queuePos = Math.max(queuePos, max);
      } else if (origin === 'redrive' && item.replayOf !== undefined) {
        const { rows } = await client.query<{ sequence: number }>(
          'SELECT sequence FROM deliveries WHERE id = $1',
          [item.replayOf],
        );
        queuePos = rows[0]?.sequence ?? event.sequence;
      }
      const { rows } = await client.query<{ id: number }>(
        // head: the new row leads its key when no other pending row exists for it (the key is locked).
        `INSERT INTO deliveries (subscription_id, event_id, event_type, connection_id, resource_type, resource_id,
           sequence, queue_pos, status, origin, head, due_at_ms, created_at_ms, replay_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9,
           NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending' AND subscription_id = $1
             AND resource_type = $5 AND resource_id = $6),
           $10, $10, $11)
         RETURNING id`,
        [
          subscriptionId,
          item.eventId,
          event.type,
          event.connection_id,
          event.resource_type,
          event.resource_id,
          event.sequence,
          queuePos,
          origin,
          now,
          item.replayOf ?? null,
        ],
      );
      ids.push(rows[0]!.id);
      if (item.replayOf !== undefined) {
        await client.query('UPDATE deliveries SET redrive = FALSE WHERE id = $1', [item.replayOf]);
      }
    }
    // A redrive can sort before the key's current head: re-elect the heads of the keys touched. A
    // row under a live lease keeps the head, else the lowest queue position.
    if (origin === 'redrive') {
      const unique = new Map(
        keys.map((k) => [deliveryKey(k.subscriptionId, k.resourceType, k.resourceId), k]),
      );
      for (const key of unique.values()) {
        await client.query(
          `UPDATE deliveries SET head = (id = (
             SELECT p.id FROM deliveries p
             WHERE p.status = 'pending' AND p.subscription_id = $1 AND p.resource_type = $2 AND p.resource_id = $3
             ORDER BY (COALESCE(p.lease_expires_ms, 0) > $4) DESC, p.queue_pos, p.id LIMIT 1))
           WHERE status = 'pending' AND subscription_id = $1 AND resource_type = $2 AND resource_id = $3`,
          [key.subscriptionId, key.resourceType, key.resourceId, now],
        );
      }
    }
    return ids;
  }

  async retryNow(id: number, nowMs: number): Promise<boolean> {
    return this.#guard('retryNow', async () => {
      const { rowCount } = await this.#pool.query(
        `UPDATE deliveries SET due_at_ms = LEAST(due_at_ms, $1) WHERE id = $2 AND status = 'pending'`,
        [toMs(nowMs, 'nowMs'), id],
      );
      return (rowCount ?? 0) > 0;
    });
  }

  async oldestRedrivable(
    subscriptionId: string,
  ): Promise<(DeliveryRecord & { event: StoredEvent }) | undefined> {
    return this.#guard('oldestRedrivable', async () => {
      const { rows } = await this.#pool.query<DeliveryRow & EventRow>(
        `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS} FROM deliveries d JOIN outbox o ON o.id = d.event_id
         WHERE d.subscription_id = $1 AND d.status = 'dead' AND d.redrive ORDER BY d.id LIMIT 1`,
        [subscriptionId],
      );
      const row = rows[0];
      return row === undefined ? undefined : { ...toRecord(row), event: toEvent(row) };
    });
  }

  async recordProbe(input: {
    deliveryId: number;
    attempt: DeliveryAttemptInput;
    delivered: boolean;
    stillRedrivable: boolean;
  }): Promise<void> {
    return this.#guard('recordProbe', async () => {
      await inTransaction(this.#pool, async (client) => {
        if ((await this.#lockRow(client, input.deliveryId)) === undefined) {
          throw badInput('No delivery has this id.', { deliveryId: input.deliveryId });
        }
        await this.#insertAttempt(client, input.deliveryId, { ...input.attempt, probe: true });
        if (input.delivered) {
          await client.query(
            `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL,
               finished_at_ms = $2, redrive = FALSE WHERE id = $3 AND status = 'dead'`,
            [input.attempt.status ?? 200, input.attempt.endedAtMs, input.deliveryId],
          );
        } else {
          await client.query(
            'UPDATE deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2, redrive = $3 WHERE id = $4',
            [
              input.attempt.status ?? null,
              input.attempt.error ?? null,
              input.stillRedrivable,
              input.deliveryId,
            ],
          );
        }
      });
    });
  }

  async redrivable(subscriptionId: string, limit: number): Promise<{ id: number; eventId: string }[]> {
    return this.#guard('redrivable', async () => {
      const { rows } = await this.#pool.query<{ id: number; event_id: string }>(
        `SELECT id, event_id FROM deliveries WHERE subscription_id = $1 AND status = 'dead' AND redrive ORDER BY id LIMIT $2`,
        [subscriptionId, toCount(limit, 'limit')],
      );
      return rows.map((row) => ({ id: row.id, eventId: row.event_id }));
    });
  }

  async subscriptionStates(): Promise<SubscriptionStateRecord[]> {
    return this.#guard('subscriptionStates', async () => {
      const { rows } = await this.#pool.query<StateRow>(
        `SELECT ${STATE_COLUMNS} FROM subscription_state ORDER BY subscription_id`,
      );
      return rows.map(toState);
    });
  }

  async setSubscriptionState(input: {
    subscriptionId: string;
    state: SubscriptionRunState;
    reason?: string;
    nowMs: number;
    nextProbeAtMs?: number;
    resetFailures?: boolean;
  }): Promise<void> {
    return this.#guard('setSubscriptionState', async () => {
      await this.#pool.query(
        `INSERT INTO subscription_state AS s (subscription_id, state, reason, changed_at_ms, next_probe_at_ms, consecutive_failures)
         VALUES ($1, $2, $3, $4, $5, 0)
         ON CONFLICT (subscription_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
           changed_at_ms = CASE WHEN s.state = excluded.state THEN s.changed_at_ms ELSE excluded.changed_at_ms END,
           next_probe_at_ms = excluded.next_probe_at_ms,
           consecutive_failures = CASE WHEN $6 THEN 0 ELSE s.consecutive_failures END`,
        [
          input.subscriptionId,
          input.state,
          input.reason ?? null,
          toMs(input.nowMs, 'nowMs'),
          input.nextProbeAtMs ?? null,
          input.resetFailures === true,
        ],
      );
    });
  }

  #currentQuery(
    filter: BackloadFilter,
    route: DeliveryRoute,
    params: (string | number | string[])[],
  ): string {
    const where: string[] = [];
    if (route.connectionIds.length > 0) {
      params.push([...route.connectionIds]);
      where.push(`o.connection_id = ANY($${params.length}::text[])`);
    }
    if (filter.resourceType !== undefined) {
      params.push(filter.resourceType);
      where.push(`o.resource_type = $${params.length}`);
    }
    if (filter.since !== undefined) {
      const since = Date.parse(filter.since);
      if (Number.isNaN(since)) throw badInput('since must be an ISO date or instant such as 2025-01-01.');
      // occurredAt is stored in toISOString() form, so byte order is time order.
      params.push(new Date(since).toISOString());
      where.push(`(o.envelope_json ->> 'occurredAt') COLLATE "C" >= $${params.length}`);
    }
    return where.map((clause) => ` AND ${clause}`).join('');
  }

  async countCurrent(filter: BackloadFilter, route: DeliveryRoute): Promise<number> {
    return this.#guard('countCurrent', async () => {
      const params: (string | number | string[])[] = [];
      const sql = this.#currentQuery(filter, route, params);
      const { rows } = await this.#pool.query<{ n: number }>(
        `SELECT COUNT(*) AS n ${CURRENT_EVENTS}${sql}`,
        params,
      );
      return rows[0]?.n ?? 0;
    });
  }

  async backloadPage(input: {
    filter: BackloadFilter;
    route: DeliveryRoute;
    limit: number;
    nowMs: number;
    restart?: boolean;
  }): Promise<BackloadPage> {
    return this.#guard('backloadPage', async () => {
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
      return inTransaction(this.#pool, async (client): Promise<BackloadPage> => {
        // One backload job per (subscription, filter) at a time, whichever worker runs it.
        await client.query(
          `SELECT pg_advisory_xact_lock(hashtextextended('tendril:backload:' || $1 || $2, 0))`,
          [subscriptionId, filterJson],
        );
        if (input.restart === true) {
          await client.query(
            'UPDATE delivery_backloads SET finished_at_ms = $1 WHERE subscription_id = $2 AND filter_json = $3 AND finished_at_ms IS NULL',
            [now, subscriptionId, filterJson],
          );
        }
        const open = await client.query<{
          id: number;
          after_connection_id: string | null;
          after_sequence: number | null;
          enqueued: number;
        }>(
          `SELECT id, after_connection_id, after_sequence, enqueued FROM delivery_backloads
           WHERE subscription_id = $1 AND filter_json = $2 AND finished_at_ms IS NULL ORDER BY id DESC LIMIT 1`,
          [subscriptionId, filterJson],
        );
        let job = open.rows[0];
        const resumed = job !== undefined && (job.after_connection_id !== null || job.enqueued > 0);
        if (job === undefined) {
          const created = await client.query<{ id: number }>(
            'INSERT INTO delivery_backloads (subscription_id, filter_json, started_at_ms) VALUES ($1, $2, $3) RETURNING id',
            [subscriptionId, filterJson, now],
          );
          job = { id: created.rows[0]!.id, after_connection_id: null, after_sequence: null, enqueued: 0 };
        }
        const params: (string | number | string[])[] = [];
        const sql = this.#currentQuery(input.filter, input.route, params);
        let cursor = '';
        if (job.after_connection_id !== null) {
          params.push(job.after_connection_id, job.after_sequence ?? 0);
          cursor = ` AND (o.connection_id, o.sequence) > ($${params.length - 1}, $${params.length}::bigint)`;
        }
        params.push(input.limit);
        const { rows } = await client.query<{
          id: string;
          connection_id: string;
          sequence: number;
          type: string;
          resource_type: string;
        }>(
          `SELECT o.id, o.connection_id, o.sequence, o.type, o.resource_type ${CURRENT_EVENTS}${sql}${cursor}
           ORDER BY o.connection_id, o.sequence LIMIT $${params.length}`,
          params,
        );
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
                await client.query<{ event_id: string }>(
                  `SELECT DISTINCT event_id FROM deliveries WHERE subscription_id = $1 AND status = 'pending' AND event_id = ANY($2::text[])`,
                  [subscriptionId, matching.map((row) => row.id)],
                )
              ).rows.map((row) => row.event_id),
        );
        const items = matching.filter((row) => !pending.has(row.id)).map((row) => ({ eventId: row.id }));
        await this.#enqueue(client, subscriptionId, items, 'backload', now);
        const last = rows.at(-1);
        const done = rows.length < input.limit;
        await client.query(
          `UPDATE delivery_backloads SET after_connection_id = $1, after_sequence = $2, enqueued = enqueued + $3, finished_at_ms = $4
           WHERE id = $5`,
          [
            last?.connection_id ?? job.after_connection_id,
            last?.sequence ?? job.after_sequence,
            items.length,
            done ? now : null,
            job.id,
          ],
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
    });
  }

  /**
   * The shared token bucket of a throttled subscription (delivery.md §4): one row per subscription
   * holding its next free slot, updated under the row lock, so that every worker on every host
   * draws from one bucket. The arithmetic is packages/delivery's TokenBucket (GCRA, times scaled by
   * the rate); a new row starts full, and a changed rate keeps the slot's time and rescales it.
   */
  async takeThrottleToken(input: {
    subscriptionId: string;
    ratePerSecond: number;
    nowMs: number;
  }): Promise<ThrottleTake> {
    return this.#guard('takeThrottleToken', async () => {
      const rate = input.ratePerSecond;
      if (!(Number.isFinite(rate) && rate > 0)) {
        throw badInput('ratePerSecond must be a positive number.', { field: 'ratePerSecond' });
      }
      const now = toMs(input.nowMs, 'nowMs');
      const capacity = Math.max(1, rate);
      return inTransaction(this.#pool, async (client) => {
        // Creates the row full at first use, and locks it until this transaction ends.
        const { rows } = await client.query<{ rate_per_second: number; scaled_tat: number }>(
          `INSERT INTO delivery_throttle AS t (subscription_id, rate_per_second, scaled_tat) VALUES ($1, $2, $3)
           ON CONFLICT (subscription_id) DO UPDATE SET rate_per_second = t.rate_per_second
           RETURNING rate_per_second, scaled_tat`,
          [input.subscriptionId, rate, now * rate],
        );
        const stored = rows[0]!;
        const previous =
          stored.rate_per_second === rate
            ? stored.scaled_tat
            : (stored.scaled_tat / stored.rate_per_second) * rate;
        const scaledNow = now * rate;
        const tat = Math.max(previous, scaledNow);
        const excess = tat - scaledNow - (capacity - 1) * 1000;
        if (excess > 0) {
          if (stored.rate_per_second !== rate) {
            await client.query(
              'UPDATE delivery_throttle SET rate_per_second = $2, scaled_tat = $3 WHERE subscription_id = $1',
              [input.subscriptionId, rate, previous],
            );
          }
          return { ok: false, waitMs: Math.ceil(excess / rate) };
        }
        await client.query(
          'UPDATE delivery_throttle SET rate_per_second = $2, scaled_tat = $3 WHERE subscription_id = $1',
          [input.subscriptionId, rate, tat + 1000],
        );
        return { ok: true };
      });
    });
  }
}
