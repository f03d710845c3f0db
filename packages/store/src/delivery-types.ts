import type { ResourceType, StoredEvent } from '@tendril/core';

/**
 * A delivery's lifecycle (docs/delivery.md, "Failure classes" and "Dead letters and replay"): `pending` covers due, in flight and waiting to retry;
 * `delivered` and `dead` are final for that row (a replay creates a new row).
 */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Why a delivery row exists: a new event, a backload, an operator's replay, or an automatic redrive after an outage. */
export const DELIVERY_ORIGINS = ['live', 'backload', 'replay', 'redrive'] as const;
export type DeliveryOrigin = (typeof DELIVERY_ORIGINS)[number];

/**
 * Why a delivery was dead-lettered. `retries-exhausted` and `lifetime-exceeded` mean the endpoint
 * could not be reached; those are redriven automatically once it answers again. `permanent` (3xx,
 * 4xx) and `gone` (410) mean the receiver refused: replayed only by hand.
 */
export const DEAD_REASONS = ['permanent', 'gone', 'retries-exhausted', 'lifetime-exceeded'] as const;
export type DeadReason = (typeof DEAD_REASONS)[number];

/**
 * A subscription's run-time state, kept in the store (the config's `enabled` is the operator's
 * switch): `unreachable` after a dead letter by retry exhaustion (one probe at a time until it
 * answers), `paused` after a run of permanent failures, `disabled` after a 410. Only `active`
 * subscriptions have deliveries leased; `paused` and `disabled` need `tendril deliveries resume`.
 */
export const SUBSCRIPTION_STATES = ['active', 'unreachable', 'paused', 'disabled'] as const;
export type SubscriptionRunState = (typeof SUBSCRIPTION_STATES)[number];

/** The part of a subscription the store needs to route a committed event (docs/delivery.md, "Subscriptions" filters). */
export interface DeliveryRoute {
  readonly subscriptionId: string;
  /** Empty: every connection. */
  readonly connectionIds: readonly string[];
  /** Empty: every resource type. An entry may end in `*` (prefix match). */
  readonly resourceTypes: readonly string[];
  /** Empty: every event type. An entry may end in `*` (`appointment.*`). */
  readonly eventTypes: readonly string[];
}

function filterMatches(filters: readonly string[], value: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((filter) =>
    filter.endsWith('*') ? value.startsWith(filter.slice(0, -1)) : filter === value,
  );
}

/** True when an event passes a subscription's filters. Resource and event types match case-sensitively. */
export function routeMatches(
  route: DeliveryRoute,
  event: { readonly connectionId: string; readonly resourceType: string; readonly type: string },
): boolean {
  return (
    (route.connectionIds.length === 0 || route.connectionIds.includes(event.connectionId)) &&
    filterMatches(route.resourceTypes, event.resourceType) &&
    filterMatches(route.eventTypes, event.type)
  );
}

/** One delivery of one event to one subscription. Times are epoch milliseconds. */
export interface DeliveryRecord {
  readonly id: number;
  readonly subscriptionId: string;
  /** The event id: also the `webhook-id` of every attempt, replay and redrive. */
  readonly eventId: string;
  readonly eventType: string;
  readonly connectionId: string;
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly sequence: number;
  readonly status: DeliveryStatus;
  readonly origin: DeliveryOrigin;
  /** Requests sent so far (throttle waits are not attempts). */
  readonly attempts: number;
  readonly dueAtMs: number;
  /** When the delivery was first taken by a worker: the start of its lifetime (docs/delivery.md, "Delivery policy"). */
  readonly eligibleAtMs?: number;
  readonly createdAtMs: number;
  readonly finishedAtMs?: number;
  readonly lastStatus?: number;
  readonly lastError?: string;
  readonly deadReason?: DeadReason;
  /** A dead letter waiting to be redriven when the endpoint answers again. */
  readonly redrive: boolean;
  /** The dead delivery this one replays or redrives. */
  readonly replayOf?: number;
}

/** A delivery taken by a worker until `leaseExpiresMs`, with the event to send. */
export interface LeasedDelivery extends DeliveryRecord {
  readonly event: StoredEvent;
  /**
   * The event's envelope as JSON text, byte for byte as the outbox serialised it (`JSON.stringify`,
   * opened if sealed): what the `json` format sends, without parsing and serialising it again.
   * Absent when the database hands the column back parsed (PostgreSQL); then `event.envelope` is
   * the only form.
   */
  readonly envelopeJson?: string;
  readonly leaseOwner: string;
  readonly leaseExpiresMs: number;
}

/** What happened to one request. No bodies are kept (docs/delivery.md, "Failure classes"). */
export interface DeliveryAttemptInput {
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly status?: number;
  /** Transport error class (`timeout`, `connection`, `dns`, `tls`) or a short reason; never a body. */
  readonly error?: string;
  readonly responseBytes?: number;
  readonly outcome: 'delivered' | 'retryable' | 'permanent';
  /** Sent as the probe of an unreachable subscription. */
  readonly probe?: boolean;
}

export interface DeliveryAttempt extends DeliveryAttemptInput {
  readonly deliveryId: number;
  readonly number: number;
}

/** The decision after an attempt, applied together with the attempt record in one transaction. */
export type AttemptResolution =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly dueAtMs: number }
  | { readonly kind: 'dead'; readonly reason: DeadReason; readonly redrive: boolean };

export interface SubscriptionStateRecord {
  readonly subscriptionId: string;
  readonly state: SubscriptionRunState;
  /** Why it left `active` (safe to show: no bodies, no secrets). */
  readonly reason?: string;
  /** Permanent failures (dead letters by 3xx/4xx) since the last delivered request. */
  readonly consecutivePermanentFailures: number;
  readonly changedAtMs: number;
  /** `unreachable`: when the next probe may be sent. */
  readonly nextProbeAtMs?: number;
}

export interface DeliveryQuery {
  readonly subscriptionId?: string;
  /** Deliveries of this connection's events (the status page's per-connection figures). */
  readonly connectionId?: string;
  readonly status?: DeliveryStatus;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly eventId?: string;
  /** Created at or after (epoch ms). */
  readonly sinceMs?: number;
  /** Created before (epoch ms). */
  readonly untilMs?: number;
  /** Only rows with a greater id (paging). */
  readonly afterId?: number;
  readonly limit: number;
}

/** A backload's filter: which current resources to re-emit to one subscription. */
export interface BackloadFilter {
  readonly subscriptionId: string;
  readonly resourceType?: string;
  /** Only resources whose latest event occurred at or after this ISO instant. */
  readonly since?: string;
}

export interface BackloadPage {
  readonly jobId: number;
  /** True when this call continued a job an earlier (interrupted) run started. */
  readonly resumed: boolean;
  readonly scanned: number;
  readonly enqueued: number;
  readonly totalEnqueued: number;
  readonly done: boolean;
}

/**
 * The delivery half of the store (docs/delivery.md; docs/sync-semantics.md, "The commit rule" step 3). Live delivery rows are
 * written by `Store.commitPage` in the page's own transaction, one per subscription whose route
 * matches; everything else goes through here. Every method that changes a delivery runs in one
 * local transaction, so a crash never leaves an attempt recorded without its outcome.
 *
 * Ordering (docs/delivery.md, "Ordering"): per (subscription, resourceType, resourceId) only the head — the
 * pending row with the lowest queue position — can be leased; queue position is the event's
 * sequence, except that a manual replay queues behind the key's pending rows.
 */
/** One event of another log (the hub's event log) handed to {@link DeliveryStore.enqueueFromLog}. */
export interface LoggedEventInput {
  /** Its position in that log: unique within the log's stream, rising in the log's order. */
  readonly position: number;
  readonly event: StoredEvent;
}

export interface DeliveryStore {
  /**
   * Webhook delivery of events kept in another log (the hub's, docs/hub.md, "Webhooks from the hub"):
   * in one transaction, copies each event into the outbox under that log's `stream` and
   * `position` (so that deliveries reference it as they reference the agent's own events), and
   * writes one pending delivery per matching route, ordered per resource by the event's own
   * `sequence`. An event id already in the outbox gets nothing (exactly once per event id, even
   * when two workers hand in the same events at once). Returns how many deliveries were written.
   */
  enqueueFromLog(input: {
    stream: string;
    events: readonly LoggedEventInput[];
    routes: readonly DeliveryRoute[];
    nowMs: number;
  }): Promise<{ events: number; deliveries: number }>;
  /**
   * Takes up to `limit` due head deliveries of the given subscriptions (oldest due first) for
   * `leaseMs`. A lease that expires (its worker died) makes the delivery available again.
   */
  lease(input: {
    owner: string;
    nowMs: number;
    leaseMs: number;
    limit: number;
    subscriptionIds: readonly string[];
  }): Promise<LeasedDelivery[]>;
  /**
   * Records one attempt and applies its resolution. Returns `applied: false` (the attempt is still
   * recorded) when the lease was lost to another worker meanwhile. `consecutivePermanentFailures`
   * is the subscription's run after this attempt.
   */
  complete(input: {
    deliveryId: number;
    owner: string;
    attempt: DeliveryAttemptInput;
    resolution: AttemptResolution;
  }): Promise<{ applied: boolean; consecutivePermanentFailures: number }>;
  /**
   * {@link complete} for several attempts in one transaction (group commit): the dispatcher batches
   * the results of concurrent requests so that the store is not the bottleneck. Results in input order.
   */
  completeMany(
    inputs: readonly {
      deliveryId: number;
      owner: string;
      attempt: DeliveryAttemptInput;
      resolution: AttemptResolution;
    }[],
  ): Promise<{ applied: boolean; consecutivePermanentFailures: number }[]>;
  /**
   * {@link completeMany}, then {@link lease}, in one transaction: a dispatcher under load records
   * the finished attempts and takes the next deliveries with one commit instead of two (on SQLite
   * the commit, not the statements, is the dearest part of a small transaction; docs/performance.md).
   * The lease sees the completions (a key's next event, promoted to head by a completion, can be
   * leased by it). Either both happen or neither does.
   */
  completeAndLease(
    inputs: readonly {
      deliveryId: number;
      owner: string;
      attempt: DeliveryAttemptInput;
      resolution: AttemptResolution;
    }[],
    lease: {
      owner: string;
      nowMs: number;
      leaseMs: number;
      limit: number;
      subscriptionIds: readonly string[];
    },
  ): Promise<{
    results: { applied: boolean; consecutivePermanentFailures: number }[];
    leased: LeasedDelivery[];
  }>;
  /** Gives a leased delivery back without an attempt (throttle wait, shutdown); due again at `dueAtMs`. */
  release(input: { deliveryId: number; owner: string; dueAtMs: number }): Promise<void>;
  /** The earliest due time of a leasable head of these subscriptions, for sleeping until then. */
  nextDueAtMs(subscriptionIds: readonly string[]): Promise<number | undefined>;

  list(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  count(query: Omit<DeliveryQuery, 'limit' | 'afterId'>): Promise<number>;
  get(id: number): Promise<{ delivery: DeliveryRecord; attempts: DeliveryAttempt[] } | undefined>;

  /**
   * New deliveries for existing events (backload, replay, redrive) with a fresh retry budget and
   * the same event (so the same `webhook-id`). `replay` rows queue behind the key's pending rows;
   * `redrive` rows take the dead row's place in its key. Marks `replayOf` rows as no longer redrivable.
   */
  enqueue(input: {
    subscriptionId: string;
    items: readonly { eventId: string; replayOf?: number }[];
    origin: Exclude<DeliveryOrigin, 'live'>;
    nowMs: number;
  }): Promise<number[]>;
  /** Makes a pending delivery due now (keeping its attempts); false if it is not pending. */
  retryNow(id: number, nowMs: number): Promise<boolean>;

  /** The oldest dead letter awaiting redrive, with its event: what an unreachable subscription's probe sends. */
  oldestRedrivable(subscriptionId: string): Promise<(DeliveryRecord & { event: StoredEvent }) | undefined>;
  /** Records a probe's attempt on a dead letter; `delivered` turns it into a delivered row. */
  recordProbe(input: {
    deliveryId: number;
    attempt: DeliveryAttemptInput;
    delivered: boolean;
    stillRedrivable: boolean;
  }): Promise<void>;
  /** The dead letters of a subscription awaiting redrive (delivery id, event id), oldest first. */
  redrivable(subscriptionId: string, limit: number): Promise<{ id: number; eventId: string }[]>;

  subscriptionStates(): Promise<SubscriptionStateRecord[]>;
  setSubscriptionState(input: {
    subscriptionId: string;
    state: SubscriptionRunState;
    reason?: string;
    nowMs: number;
    nextProbeAtMs?: number;
    resetFailures?: boolean;
  }): Promise<void>;

  /**
   * One page of a backload (re-emitting current state to one subscriber): the next `limit` current
   * (latest, not deleted) events matching the filter and route, each enqueued unless a pending
   * delivery of that event already exists, and the job's cursor saved — all in one transaction, so
   * an interrupted backload resumes where it stopped. `restart` abandons an unfinished job first.
   */
  backloadPage(input: {
    filter: BackloadFilter;
    route: DeliveryRoute;
    limit: number;
    nowMs: number;
    restart?: boolean;
  }): Promise<BackloadPage>;
  /** How many current resources a backload with this filter covers (before route filtering by event type). */
  countCurrent(filter: BackloadFilter, route: DeliveryRoute): Promise<number>;
  /**
   * A token of a throttled subscription's bucket kept in the store itself (docs/delivery.md, "Throttling"), for
   * stores that several workers share (PostgreSQL): every worker draws from one bucket instead of
   * each keeping its own in memory. Absent on stores used by one process at a time (SQLite), where
   * the dispatcher's in-memory bucket is the bucket.
   */
  takeThrottleToken?(input: {
    subscriptionId: string;
    ratePerSecond: number;
    nowMs: number;
  }): Promise<ThrottleTake>;
}

/** A shared bucket's answer: go now, or come back after `waitMs` (the shape of the dispatcher's `TakeResult`). */
export type ThrottleTake = { readonly ok: true } | { readonly ok: false; readonly waitMs: number };
