/** One connection of a fleet as stored: the connection exactly as written (references, not secrets). */
export interface FleetConnectionRow {
  readonly id: string;
  /** The connection object as written in YAML, with `${ENV}` / `${secret:…}` references unresolved. */
  readonly config: Record<string, unknown>;
  /** Bumped on every change, so a worker knows which of its copies are stale. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly nextPollAt: string;
  readonly nextNightlyAt?: string;
  /** Polls not enqueued because the previous one of this connection was still queued or running. */
  readonly skippedTicks: number;
}

/** A connection whose poll (or nightly job) is due, handed to the enqueuer inside the claim transaction. */
export interface FleetDueRow {
  readonly id: string;
  readonly config: Record<string, unknown>;
  readonly version: number;
  /** When it was due; undefined for a nightly job never planned yet (a new connection). */
  readonly dueAt?: string;
}

/** What the enqueuer decided for a due row: when it is due next, and whether this tick was skipped. */
export interface FleetDueDecision {
  readonly next: Date;
  readonly skipped?: boolean;
}

/** A SQL runner bound to the claim transaction (the shape pg-boss accepts as `db`, so its job inserts commit with the claim). */
export interface FleetTransaction {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export const FLEET_RUN_KINDS = ['poll', 'nightly'] as const;
export type FleetRunKind = (typeof FLEET_RUN_KINDS)[number];

/** One poll or nightly job of one connection by one worker (the evidence that no two overlapped). */
export interface FleetRunRow {
  readonly id: number;
  readonly connectionId: string;
  readonly kind: FleetRunKind;
  readonly workerId: string;
  readonly jobId?: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly events?: number;
  readonly errorCode?: string;
}

/** A held connection lock; release it when the job is done (a dead worker's lock is released by PostgreSQL). */
export interface FleetLock {
  release(): Promise<void>;
}

/**
 * The fleet's shared state in the PostgreSQL store (migration step 5): the connections, when each
 * is due, and the run log. Used by `tendril connections add|list|remove|poll` and by every
 * `tendril run --worker` (docs/fleet.md).
 */
export interface FleetStore {
  /** Adds or replaces a connection. A change takes effect at once: its next poll is due now. */
  upsertConnection(
    id: string,
    config: Record<string, unknown>,
  ): Promise<{ created: boolean; version: number }>;
  listConnections(): Promise<FleetConnectionRow[]>;
  getConnection(id: string): Promise<FleetConnectionRow | undefined>;
  /** Removes a connection from the fleet (its cursors, shadow and outbox stay in the store). */
  removeConnection(id: string): Promise<boolean>;
  /** Makes these connections' polls (all when `ids` is undefined) due now. Returns how many. */
  requestPoll(ids?: readonly string[]): Promise<number>;
  /**
   * Claims up to `limit` connections whose `kind` job is due by the database clock, with
   * `FOR UPDATE SKIP LOCKED` (workers ticking together claim disjoint rows), calls `decide` inside
   * the same transaction (it enqueues the jobs through `tx`), and stores each row's next due time.
   * A crash before commit enqueues nothing and leaves the rows due, so no tick is lost.
   */
  claimDue(
    kind: FleetRunKind,
    limit: number,
    decide: (
      rows: readonly FleetDueRow[],
      tx: FleetTransaction,
      dbNow: Date,
    ) => Promise<ReadonlyMap<string, FleetDueDecision>>,
  ): Promise<{ claimed: number; enqueued: number; skipped: number }>;
  /**
   * Takes the connection's lock (a session advisory lock on a connection of its own) or returns
   * undefined when another worker holds it. One connection is never polled by two workers at once.
   */
  tryLock(connectionId: string): Promise<FleetLock | undefined>;
  /**
   * Runs `work` while holding a database-wide session advisory lock named `name`, waiting for it:
   * workers starting together install pg-boss's schema and queues one after the other (concurrent
   * queue creation can deadlock on its partition table).
   */
  exclusive<T>(name: string, work: () => Promise<T>): Promise<T>;
  startRun(input: {
    connectionId: string;
    kind: FleetRunKind;
    workerId: string;
    jobId?: string;
  }): Promise<number>;
  finishRun(
    id: number,
    result: { status: 'succeeded' | 'failed'; events?: number; errorCode?: string },
  ): Promise<void>;
  listRuns(filter?: { connectionId?: string; limit?: number }): Promise<FleetRunRow[]>;
  close(): Promise<void>;
}

export interface FleetStoreOptions {
  /** Connections in this process's pool: one per running job (its lock) plus one for claims. */
  readonly poolSize?: number;
  /** Same as the store's `schema` option. */
  readonly schema?: string;
}
