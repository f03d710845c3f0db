import type {
  ResourceType,
  WritebackCommand,
  WritebackErrorCode,
  WritebackPhase,
  WritebackStatus,
} from '@tendril/core';

/**
 * A client's API key (docs/writeback.md, "Lifecycle and guarantees"). Only a hash of the secret is stored; the key itself is
 * printed once by `tendril api-key create`. A key is scoped to connections, and its writeback
 * result events go only to the subscriptions bound to it.
 */
export interface ApiKeyRecord {
  /** Public key id (the `tdk_<id>_…` part before the secret); also the client id of its writebacks. */
  readonly id: string;
  readonly name: string;
  readonly connectionIds: readonly string[];
  /** Subscriptions that receive this client's writeback result events. Empty: results are only polled. */
  readonly subscriptionIds: readonly string[];
  readonly createdAt: string;
  readonly revokedAt?: string;
}

export interface ApiKeyWithHash extends ApiKeyRecord {
  /** SHA-256 (hex) of the secret part. */
  readonly secretHash: string;
}

export interface WritebackError {
  readonly code: WritebackErrorCode;
  /** Names fields and rules, never values. */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One command and its state (docs/writeback.md, "Lifecycle and guarantees"). */
export interface WritebackRecord {
  /** UUIDv7. */
  readonly id: string;
  /** The API key id that sent it. */
  readonly clientId: string;
  readonly connectionId: string;
  readonly command: WritebackCommand;
  readonly idempotencyKey: string;
  /** SHA-256 of the canonical request (command, connection, input): same key + other hash = 409. */
  readonly payloadHash: string;
  /** The validated input (kept locally, like the outbox; never logged). */
  readonly input: Readonly<Record<string, unknown>>;
  readonly status: WritebackStatus;
  readonly phase: WritebackPhase;
  readonly acceptedAt: string;
  readonly deadline: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly resourceType: ResourceType;
  readonly sourceId?: string;
  readonly resourceId?: string;
  /** The record as read back from the EHR (same query and mapper as polling). */
  readonly resource?: Readonly<Record<string, unknown>>;
  readonly matched?: boolean;
  readonly warnings: readonly string[];
  readonly error?: WritebackError;
  readonly compensated?: boolean;
}

/** An append-only audit entry: who, what, when, outcome. No PHI: statement text has placeholders only. */
export interface WritebackAuditEntry {
  readonly writebackId: string;
  readonly at: string;
  /** `accepted`, `executing`, `statement`, `api-call`, `written`, `failed`, `timed_out`, `replayed`… */
  readonly action: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AcceptInput {
  readonly id: string;
  readonly clientId: string;
  readonly connectionId: string;
  readonly command: WritebackCommand;
  readonly idempotencyKey: string;
  readonly payloadHash: string;
  readonly input: Readonly<Record<string, unknown>>;
  readonly resourceType: ResourceType;
  readonly acceptedAt: string;
  readonly deadline: string;
}

export type AcceptResult =
  | { readonly kind: 'created'; readonly record: WritebackRecord }
  /** Same key, same payload: the existing command, never a second one. */
  | { readonly kind: 'existing'; readonly record: WritebackRecord }
  /** Same key, different payload. */
  | { readonly kind: 'key-reused'; readonly record: WritebackRecord };

/** The final state of a command, recorded with its audit entry and result event in one transaction. */
export interface WritebackFinish {
  readonly id: string;
  readonly status: Exclude<WritebackStatus, 'accepted'>;
  readonly finishedAt: string;
  readonly startedAt?: string;
  readonly sourceId?: string;
  readonly resourceId?: string;
  readonly resource?: Readonly<Record<string, unknown>>;
  readonly matched?: boolean;
  readonly warnings?: readonly string[];
  readonly error?: WritebackError;
  readonly compensated?: boolean;
  /** Connector id, kept on the outbox row of the result event. */
  readonly connectorId: string;
}

/**
 * The writeback half of the store: API keys, the command queue with idempotency, the append-only
 * audit log, and result events (written to the outbox with delivery rows for the client's bound
 * subscriptions, in the same transaction as the final state).
 */
export interface WritebackStore {
  createApiKey(key: ApiKeyWithHash): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyWithHash | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** False when no active key has this id. */
  revokeApiKey(id: string, at: string): Promise<boolean>;

  /** Queues a command unless (client, connection, idempotency key) exists; audit `accepted` in the same transaction. */
  accept(input: AcceptInput): Promise<AcceptResult>;
  get(id: string): Promise<WritebackRecord | undefined>;
  /**
   * Takes up to `limit` queued commands, oldest first, and marks them `executing` (phase) with
   * `startedAt` — unless their deadline has passed, in which case they are returned in `expired`
   * still queued, for the worker to finish as `timed_out`. One transaction, so two workers never
   * take one command.
   */
  claim(input: {
    now: string;
    limit: number;
  }): Promise<{ claimed: WritebackRecord[]; expired: WritebackRecord[] }>;
  /** Appends audit entries (statement journal, API calls). */
  audit(entries: readonly WritebackAuditEntry[]): Promise<void>;
  listAudit(writebackId: string): Promise<WritebackAuditEntry[]>;
  /** Records the final state, its audit entry and its result event (outbox + bound deliveries) atomically. */
  finish(result: WritebackFinish): Promise<WritebackRecord>;
  /**
   * Commands left `executing` by a process that stopped: their statements may have been sent, so
   * they are never run again. Returns them (the worker finishes them as in doubt).
   */
  interrupted(): Promise<WritebackRecord[]>;
  /** Queued or executing commands; of one connection when `connectionId` is given. */
  countPending(connectionId?: string): Promise<number>;
  /**
   * The vendor key of a framework id: the shadow store first (polled records), then earlier
   * writeback results (records written but not yet polled).
   */
  resolveSourceId(
    connectionId: string,
    resourceType: ResourceType,
    resourceId: string,
  ): Promise<string | undefined>;
}
