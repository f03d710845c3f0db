import type {
  ChangeKind,
  CustomElementEventDraft,
  CursorMode,
  ReferenceSourceIds,
  ResourceType,
  ShadowEntry,
  StoredEvent,
} from '@tendril/core';
import type { DeliveryStore } from './delivery-types.js';
import type { WritebackStore } from './writeback-types.js';

/** Position inside a poll's fixed window, after the last committed row (docs/sync-semantics.md, "Keyset paging"). */
export interface CursorPosition {
  /** Cursor value of the last row, as the database's own text at full precision. Absent for key-only paging. */
  readonly cursor?: string;
  /** Key columns of the last row, as strings. */
  readonly key: readonly string[];
}

/** A poll's window while it runs; kept so a crashed poll resumes with the same bounds. */
export interface InProgress {
  readonly lower: string;
  readonly upper: string;
  readonly after?: CursorPosition;
  /** Snapshot scans: when the scan started (rows not seen since are delete candidates). */
  readonly scanStartedAt?: string;
  /** How this window is paged: by `(cursor, key)`, or by key alone (backloads). A resume keeps it. */
  readonly paging?: 'cursor' | 'key';
}

export interface StreamState {
  readonly mode: CursorMode;
  /** Timestamp streams: the upper bound of the last complete poll, in the column's clock domain. */
  readonly watermark?: string;
  readonly inProgress?: InProgress;
  /** The delete log's own watermark, when the stream has one. */
  readonly deleteLogWatermark?: string;
  /** Window streams: the largest key read so far, one string per key column. */
  readonly maxSeenKey?: readonly string[];
  /**
   * Window streams: `maxSeenKey` as it was when the last complete poll started. Polls read keys
   * above this, so a row whose insert commits after a higher key was read is still found.
   */
  readonly newKeysAfter?: readonly string[];
  readonly lastPollStartedAt?: string;
  readonly lastPollFinishedAt?: string;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string };
  /**
   * Set by `tendril discover` when the live schema no longer fits the stream (a table or column
   * missing, a type changed): the sync engine skips the stream with this reason until a discover
   * finds it fitting again. Schema metadata only, never row values.
   */
  readonly paused?: { readonly reason: string; readonly at: string };
  /** Fingerprint of the stream's tables at the last discover (drift detection). */
  readonly schemaFingerprint?: string;
  /**
   * SQL Server streams: the change-detection mode `tendril discover` chose from the ladder
   * (docs/sync-semantics.md, "Change-detection modes"). Absent: the stream runs its declared cursor mode.
   */
  readonly changeStrategy?: RecordedChangeStrategy;
  /** `change-tracking` streams: `CHANGE_TRACKING_CURRENT_VERSION()` of the last complete poll, decimal text. */
  readonly changeTrackingVersion?: string;
  /** `rowversion` streams: `MIN_ACTIVE_ROWVERSION()` of the last complete poll, `0x` + 16 hex digits. */
  readonly rowversionWatermark?: string;
  /** A `change-tracking` or `rowversion` poll while it runs, so a crashed poll resumes with the same bounds. */
  readonly changeInProgress?: ChangeInProgress;
  /**
   * Set when the change-detection mode changed (discover): the next run is a baseline, a full scan
   * hash-diffed against the shadow store, which emits events only for rows that really differ.
   */
  readonly baselineRequired?: { readonly reason: string; readonly at: string };
}

/** Change-detection modes of the ladder (docs/sync-semantics.md, "Change-detection modes"), as recorded in the stream state. */
export const RECORDED_CHANGE_MODES = [
  'change-tracking',
  'rowversion',
  'timestamp',
  'window',
  'snapshot',
] as const;
export type RecordedChangeMode = (typeof RECORDED_CHANGE_MODES)[number];

/** The strategy discovery chose for a stream: mode, cursor column, its live SQL type and precision. */
export interface RecordedChangeStrategy {
  readonly mode: RecordedChangeMode;
  /** rowversion / timestamp / window: the column, as the live schema spells it. */
  readonly column?: string;
  /** timestamp / window: the column's live type (`datetime`, `datetime2(7)`). */
  readonly sqlType?: string;
  /** timestamp: fraction digits of the cursor text. */
  readonly precision?: number;
  /** change-tracking: whether snapshot isolation was available (`snapshot-transaction`) or not. */
  readonly consistency?: 'snapshot-transaction' | 'current-version-filter';
  /** When discovery first chose this mode and column (ISO instant). */
  readonly chosenAt: string;
}

/** Bounds of a running change-tracking (versions) or rowversion (`0x…` texts) poll. */
export interface ChangeInProgress {
  readonly mode: 'change-tracking' | 'rowversion';
  /** change-tracking: the version changes are read after; rowversion: the inclusive lower bound. */
  readonly lower: string;
  /** change-tracking: the current version read first; rowversion: `MIN_ACTIVE_ROWVERSION()` read first. */
  readonly upper: string;
  /** Last committed row: its version / rowversion text and key. */
  readonly after?: CursorPosition;
}

/** One classified change, ready for the outbox. The store allocates its sequence and event id. */
export interface PendingChange {
  readonly resourceType: ResourceType;
  readonly sourceId: string;
  readonly resourceId: string;
  readonly kind: ChangeKind;
  readonly hash: string;
  /** The resource with `meta`, or the tombstone for `deleted`. */
  readonly data: Record<string, unknown>;
  readonly refs: ReferenceSourceIds;
  /** Window streams: the row's business date (`YYYY-MM-DD`), kept in the shadow. */
  readonly businessDate?: string;
}

/** Rows re-read without change: only their `lastSeenAt` moves (and, when given, their business date). */
export interface SeenRecord {
  readonly resourceType: ResourceType;
  readonly sourceId: string;
  /** Window streams: the row's business date (`YYYY-MM-DD`); absent leaves the stored one. */
  readonly businessDate?: string;
}

/**
 * A row that failed mapping or validation and was skipped (docs/quarantine.md). Names and codes
 * only: the model field path and the kind of problem, never the value.
 */
export interface QuarantinedRow {
  readonly resourceType: ResourceType;
  readonly sourceId: string;
  /** `TENDRIL_E_MAPPING` or `TENDRIL_E_VALIDATION`. */
  readonly errorCode: string;
  /** The model field path that failed (`status`, `name.given.0`), when known. */
  readonly field?: string;
  /** The kind of problem, a fixed word (`invalid_value`, `too_small`, `mapping-failed`), never a value. */
  readonly reason: string;
}

/** A row in quarantine, as `tendril quarantine list|show` shows it. */
export interface QuarantineRecord extends QuarantinedRow {
  readonly connectionId: string;
  readonly stream: string;
  readonly firstSeenAt: string;
  readonly lastSeenAt: string;
  /** How many reads found it failing. */
  readonly count: number;
}

/** Filters of {@link Store.listQuarantine}; every given field must match. */
export interface QuarantineQuery {
  readonly connectionId?: string;
  readonly stream?: string;
  readonly sourceId?: string;
  readonly limit: number;
}

export interface PageCommit {
  readonly connectionId: string;
  readonly connectorId: string;
  readonly stream: string;
  readonly changes: readonly PendingChange[];
  readonly seen: readonly SeenRecord[];
  /** Rows of this page that failed mapping or validation: recorded (or their count raised) in quarantine. */
  readonly quarantined?: readonly QuarantinedRow[];
  /** Rows of this page that mapped (or are gone): they leave quarantine if they were in it. */
  readonly released?: { readonly resourceType: ResourceType; readonly sourceIds: readonly string[] };
  /** Stream state after this page. */
  readonly state: StreamState;
  /** Time of the read, ISO instant; becomes `lastSeenAt` of changed and seen rows. */
  readonly seenAt: string;
}

/** The rows of one nightly script run, for {@link Store.appendCustomEvents}. */
export interface CustomEventsAppend {
  readonly connectionId: string;
  /** The connection's connector (kept on the event, as for standard events). */
  readonly connectorId: string;
  readonly events: readonly CustomElementEventDraft[];
}

export interface CustomEventsAppended {
  /** The events written now, in draft order, with their sequences. */
  readonly inserted: StoredEvent[];
  /** Drafts skipped because an event with their id was already in the outbox. */
  readonly existing: number;
}

export interface ShadowRecord extends ShadowEntry {
  readonly resourceId: string;
  readonly stream: string;
  readonly lastSeenAt: string;
  /** Window streams: the business date last read (`YYYY-MM-DD`). */
  readonly businessDate?: string;
}

export interface EventQuery {
  readonly connectionId?: string;
  readonly resourceType?: ResourceType;
  /** Only events with a greater sequence. */
  readonly afterSequence?: number;
  readonly limit: number;
  /** Newest first instead of oldest first. */
  readonly newestFirst?: boolean;
}

export const RUN_KINDS = ['poll', 'backload', 'reconcile'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const RUN_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunCounts {
  read: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** Rows skipped into quarantine by this run (docs/quarantine.md); absent in runs of older versions. */
  quarantined?: number;
  /** Values dropped with a warning code by this run (docs/errors.md, "Warning codes"). */
  warnings?: number;
}

export interface RunRecord {
  readonly id: string;
  readonly connectionId: string;
  readonly stream: string;
  readonly kind: RunKind;
  readonly status: RunStatus;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly counts: RunCounts;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Filters of {@link Store.listRuns}; every given field must match. */
export interface RunQuery {
  readonly connectionId?: string;
  readonly stream?: string;
  readonly kind?: RunKind;
  readonly status?: RunStatus;
  /** Only runs started strictly before this ISO instant (e.g. "was this connection synced before the nightly was due"). */
  readonly startedBefore?: string;
  readonly limit: number;
}

/** What the store's payload key check (payload-key.ts) found and did. */
export interface PayloadKeyReport {
  /** `sealed`: payloads are encrypted with the given site key; `plaintext`: no site key. */
  readonly protection: 'sealed' | 'plaintext';
  /** Rows sealed now: a store kept in plain text until this start with a key. */
  readonly converted: number;
}

/** How long the store keeps what it no longer needs, in days (docs/configuration.md, "Retention"). */
export interface RetentionPolicy {
  /** Delivered delivery rows and their attempts. */
  readonly deliveredDays: number;
  /** Dead letters and their attempts (not those queued for a redrive). */
  readonly deadLetterDays: number;
  /** Outbox events superseded by a newer event of the same resource, with no delivery row left. */
  readonly outboxDays: number;
  /** Finished writebacks and their audit rows. */
  readonly auditDays: number;
  /** Run history (the newest run of each stream and kind stays) and the fleet's run log. */
  readonly runDays: number;
}

export interface PruneOptions {
  /** Count what would go; delete nothing. */
  readonly dryRun?: boolean;
  /** A hub is configured: an outbox event stays until the hub has acknowledged it (relay cursor). */
  readonly keepUnrelayed?: boolean;
}

/** What a prune deleted (or, dry, would delete), per kind of row, and the store's size around it. */
export interface PruneReport {
  readonly dryRun: boolean;
  readonly deliveries: number;
  readonly deadLetters: number;
  readonly attempts: number;
  readonly outbox: number;
  readonly writebacks: number;
  readonly audit: number;
  readonly runs: number;
  readonly fleetRuns: number;
  /** How space was given back: `vacuum` (SQLite, after a large prune), `autovacuum` (PostgreSQL). */
  readonly reclaimed: 'vacuum' | 'none' | 'autovacuum' | 'dry-run';
  readonly sizeBytesBefore: number;
  readonly sizeBytesAfter: number;
}

/**
 * The agent's own state. SQLite is the embedded default; a PostgreSQL implementation drops in
 * behind the same interface (async throughout for that reason).
 */
export interface Store {
  /** Creates or upgrades the schema; refuses a store written by a newer Tendril. */
  migrate(): Promise<void>;
  /**
   * Whether the payload columns are sealed with a site key or plain, and how many rows were sealed
   * at this open (a plain store's first start with a key). Refuses (TENDRIL_E_STORE_KEY) a sealed
   * store opened without its key (docs/security.md, "PHI at rest").
   */
  payloadProtection(): Promise<PayloadKeyReport>;
  /** The store's size on disk in bytes (for the status page; docs/store.md, "Retention and pruning"). */
  sizeBytes(): Promise<number>;
  /**
   * Deletes what the retention policy lets go (docs/store.md, "Retention and pruning"), in short
   * transactions, then gives space back (SQLite `VACUUM` after a large prune). `dryRun`: counts only.
   */
  prune(policy: RetentionPolicy, options?: PruneOptions): Promise<PruneReport>;
  close(): Promise<void>;

  getStreamState(connectionId: string, stream: string): Promise<StreamState | undefined>;
  /** Writes state without events (start of a poll, errors, the empty last page). */
  saveStreamState(connectionId: string, stream: string, state: StreamState): Promise<void>;

  /** Shadow rows for these source ids, keyed by source id. */
  getShadow(
    connectionId: string,
    resourceType: ResourceType,
    sourceIds: readonly string[],
  ): Promise<Map<string, ShadowRecord>>;
  /**
   * Live (not deleted) shadow rows of a stream whose `lastSeenAt` is before `seenBefore`, in
   * source-id order after `afterSourceId`: delete candidates after a full scan. With
   * `businessDate`, only rows whose business date is in `[from, until)` (`YYYY-MM-DD`): the delete
   * candidates of a window poll.
   */
  staleLiveSourceIds(
    connectionId: string,
    stream: string,
    seenBefore: string,
    options: { afterSourceId?: string; limit: number; businessDate?: { from: string; until: string } },
  ): Promise<{ resourceType: ResourceType; sourceId: string }[]>;
  countLive(connectionId: string, stream: string): Promise<number>;

  /**
   * One local transaction: upsert the shadow rows, allocate sequences, insert the events
   * (`ON CONFLICT (id) DO NOTHING`), touch `seen` rows, and write the stream state. Returns the
   * events as committed.
   */
  commitPage(commit: PageCommit): Promise<StoredEvent[]>;

  /**
   * Records rows in quarantine outside a page commit (a page refused because too many of its rows
   * failed): new rows are inserted, known ones get `lastSeenAt` and `count` moved on.
   */
  recordQuarantine(
    connectionId: string,
    stream: string,
    rows: readonly QuarantinedRow[],
    seenAt: string,
  ): Promise<void>;
  /** Rows in quarantine, by connection, stream and source id. */
  listQuarantine(query: QuarantineQuery): Promise<QuarantineRecord[]>;
  /** How many rows are in quarantine for a connection (and stream). */
  countQuarantine(connectionId: string, stream?: string): Promise<number>;

  listEvents(query: EventQuery): Promise<StoredEvent[]>;
  countEvents(connectionId?: string): Promise<number>;

  /**
   * Appends the rows of one nightly script run (custom element events, core custom-element.ts) to
   * the outbox, in one local transaction: drafts whose `id` is already in the outbox are skipped
   * and use no sequence (a re-run of the same script on the same day adds nothing); each new one
   * gets the connection's next sequence (the same counter as `commitPage`), is stored with kind
   * `created`, `refs` `{}` and the envelope of `customElementEnvelope`, and gets one delivery row
   * per matching route (routeMatches on connection, resourceType `CustomElement`, type
   * `<element>.row`), as `commitPage` does. Returns the inserted events in draft order.
   */
  appendCustomEvents(append: CustomEventsAppend): Promise<CustomEventsAppended>;

  startRun(input: {
    connectionId: string;
    stream: string;
    kind: RunKind;
    startedAt: string;
  }): Promise<string>;
  finishRun(
    id: string,
    result: {
      status: Exclude<RunStatus, 'running'>;
      finishedAt: string;
      counts: RunCounts;
      error?: { code: string; message: string };
    },
  ): Promise<void>;
  /** Runs, newest first, filtered by every field given. */
  listRuns(query: RunQuery): Promise<RunRecord[]>;

  /**
   * The hub relay's position per connection (docs/hub.md): the highest outbox sequence the hub
   * has acknowledged. Undefined before the first ack. The relay resends everything after it.
   */
  getRelayCursor(connectionId: string): Promise<number | undefined>;
  /**
   * Records a hub ack. The cursor only moves forward: an ack at or below the stored sequence
   * (a late duplicate after a reconnect) changes nothing.
   */
  saveRelayCursor(connectionId: string, sequence: number): Promise<void>;

  /**
   * Deliveries, attempts, dead letters, subscription state and backloads (delivery-types.ts). The
   * live delivery rows themselves are written by `commitPage`, for the routes the store was opened with.
   */
  readonly deliveries: DeliveryStore;

  /** Writeback queue, idempotency, audit log and API keys (writeback-types.ts). */
  readonly writebacks: WritebackStore;
}
