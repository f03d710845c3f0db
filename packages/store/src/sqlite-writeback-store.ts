import type Database from 'better-sqlite3';
import {
  commandResource,
  EVENT_ID_NAMESPACE,
  TendrilError,
  uuidV5,
  type EventEnvelope,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import type { Guard } from './sqlite-delivery-store.js';
import type {
  AcceptInput,
  AcceptResult,
  ApiKeyRecord,
  ApiKeyWithHash,
  WritebackAuditEntry,
  WritebackFinish,
  WritebackRecord,
  WritebackStore,
} from './writeback-types.js';
import {
  toApiKey,
  toWritebackRecord,
  writebackResult,
  type ApiKeyRow,
  type WritebackRow,
} from './writeback-rows.js';

function prepare(db: Database.Database) {
  const columns = `id, client_id, connection_id, command, idempotency_key, payload_hash, input_json, status, phase,
    accepted_at, deadline, started_at, finished_at, resource_type, source_id, resource_id, resource_json, matched,
    warnings_json, error_json, compensated`;
  return {
    insertKey: db.prepare<[string, string, string, string, string, string]>(
      `INSERT INTO api_keys (id, name, secret_hash, connections_json, subscriptions_json, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    getKey: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?'),
    listKeys: db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
    revokeKey: db.prepare<[string, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
    ),
    insert: db.prepare<[string, string, string, string, string, string, string, string, string, string]>(
      `INSERT INTO writebacks (id, client_id, connection_id, command, idempotency_key, payload_hash, input_json,
         status, phase, accepted_at, deadline, resource_type)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'accepted', 'queued', ?, ?, ?)
       ON CONFLICT (client_id, connection_id, idempotency_key) DO NOTHING`,
    ),
    byKey: db.prepare<[string, string, string], WritebackRow>(
      `SELECT ${columns} FROM writebacks WHERE client_id = ? AND connection_id = ? AND idempotency_key = ?`,
    ),
    get: db.prepare<[string], WritebackRow>(`SELECT ${columns} FROM writebacks WHERE id = ?`),
    queued: db.prepare<[number], WritebackRow>(
      `SELECT ${columns} FROM writebacks WHERE phase = 'queued' ORDER BY accepted_at, id LIMIT ?`,
    ),
    start: db.prepare<[string, string]>(
      `UPDATE writebacks SET phase = 'executing', started_at = ? WHERE id = ? AND phase = 'queued'`,
    ),
    executing: db.prepare<[], WritebackRow>(
      `SELECT ${columns} FROM writebacks WHERE phase IN ('executing', 'verifying') ORDER BY accepted_at`,
    ),
    finish: db.prepare<
      [
        string,
        string,
        string | null,
        string | null,
        string | null,
        string | null,
        number | null,
        string,
        string | null,
        number | null,
        string,
      ]
    >(
      `UPDATE writebacks SET status = ?, phase = 'done', finished_at = ?, started_at = COALESCE(?, started_at),
         source_id = ?, resource_id = ?, resource_json = ?, matched = ?, warnings_json = ?, error_json = ?, compensated = ?
       WHERE id = ? AND phase <> 'done'`,
    ),
    audit: db.prepare<[string, string, string, string | null]>(
      'INSERT INTO writeback_audit (writeback_id, at, action, detail_json) VALUES (?, ?, ?, ?)',
    ),
    listAudit: db.prepare<
      [string],
      { writeback_id: string; at: string; action: string; detail_json: string | null }
    >('SELECT writeback_id, at, action, detail_json FROM writeback_audit WHERE writeback_id = ? ORDER BY id'),
    pending: db.prepare<[], { n: number }>(
      `SELECT COUNT(*) AS n FROM writebacks WHERE phase IN ('queued', 'executing', 'verifying')`,
    ),
    shadowSource: db.prepare<[string, string, string], { source_id: string }>(
      'SELECT source_id FROM shadow WHERE connection_id = ? AND resource_type = ? AND resource_id = ? AND deleted = 0 LIMIT 1',
    ),
    writtenSource: db.prepare<[string, string, string], { source_id: string }>(
      `SELECT source_id FROM writebacks WHERE connection_id = ? AND resource_type = ? AND resource_id = ? AND status = 'written'
       ORDER BY finished_at DESC LIMIT 1`,
    ),
    getSequence: db.prepare<[string], { last_sequence: number }>(
      'SELECT last_sequence FROM connection_sequence WHERE connection_id = ?',
    ),
    setSequence: db.prepare<[string, number]>(
      `INSERT INTO connection_sequence (connection_id, last_sequence) VALUES (?, ?)
       ON CONFLICT (connection_id) DO UPDATE SET last_sequence = excluded.last_sequence`,
    ),
    insertEvent: db.prepare<[string, string, number, string, string, string, string, string, string, string]>(
      `INSERT INTO outbox (id, connection_id, sequence, type, resource_type, resource_id, source_id, kind,
                           connector_id, envelope_json, refs_json, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, '{}', ?)
       ON CONFLICT (id) DO NOTHING`,
    ),
  };
}

type Statements = ReturnType<typeof prepare>;

/**
 * The SQLite half of {@link WritebackStore}, built by the SQLite store with its handle and guard.
 * Writes run in `BEGIN IMMEDIATE` transactions, so two processes sharing the file never claim one
 * command twice.
 */
export class SqliteWritebackStore implements WritebackStore {
  readonly #dbOf: () => Database.Database;
  readonly #guard: Guard;
  readonly #nowMs: () => number;
  /** Writes a result event's delivery rows for the given subscriptions (the delivery store's router). */
  readonly #deliver: (events: readonly StoredEvent[], subscriptionIds: ReadonlySet<string>) => void;
  #statements: Statements | undefined;

  constructor(
    db: () => Database.Database,
    guard: Guard,
    nowMs: () => number,
    deliver: (events: readonly StoredEvent[], subscriptionIds: ReadonlySet<string>) => void,
  ) {
    this.#dbOf = db;
    this.#guard = guard;
    this.#nowMs = nowMs;
    this.#deliver = deliver;
  }

  reset(): void {
    this.#statements = undefined;
  }

  #s(): Statements {
    this.#statements ??= prepare(this.#dbOf());
    return this.#statements;
  }

  async createApiKey(key: ApiKeyWithHash): Promise<void> {
    return this.#guard('createApiKey', () => {
      this.#s().insertKey.run(
        key.id,
        key.name,
        key.secretHash,
        JSON.stringify(key.connectionIds),
        JSON.stringify(key.subscriptionIds),
        key.createdAt,
      );
    });
  }

  async getApiKey(id: string): Promise<ApiKeyWithHash | undefined> {
    return this.#guard('getApiKey', () => {
      const row = this.#s().getKey.get(id);
      return row === undefined ? undefined : toApiKey(row);
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#guard('listApiKeys', () =>
      this.#s()
        .listKeys.all()
        .map((row) => {
          const { secretHash: _hidden, ...key } = toApiKey(row);
          return key;
        }),
    );
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.#guard('revokeApiKey', () => this.#s().revokeKey.run(at, id).changes > 0);
  }

  async accept(input: AcceptInput): Promise<AcceptResult> {
    return this.#guard('acceptWriteback', () => {
      const s = this.#s();
      const tx = this.#dbOf().transaction((): AcceptResult => {
        const inserted = s.insert.run(
          input.id,
          input.clientId,
          input.connectionId,
          input.command,
          input.idempotencyKey,
          input.payloadHash,
          JSON.stringify(input.input),
          input.acceptedAt,
          input.deadline,
          input.resourceType,
        );
        const row = s.byKey.get(input.clientId, input.connectionId, input.idempotencyKey)!;
        if (inserted.changes > 0) {
          s.audit.run(
            row.id,
            input.acceptedAt,
            'accepted',
            JSON.stringify({
              clientId: input.clientId,
              command: input.command,
              payloadHash: input.payloadHash,
            }),
          );
          return { kind: 'created', record: toWritebackRecord(row) };
        }
        s.audit.run(
          row.id,
          input.acceptedAt,
          'replayed',
          JSON.stringify({ clientId: input.clientId, samePayload: row.payload_hash === input.payloadHash }),
        );
        return {
          kind: row.payload_hash === input.payloadHash ? 'existing' : 'key-reused',
          record: toWritebackRecord(row),
        };
      });
      return tx.immediate();
    });
  }

  async get(id: string): Promise<WritebackRecord | undefined> {
    return this.#guard('getWriteback', () => {
      const row = this.#s().get.get(id);
      return row === undefined ? undefined : toWritebackRecord(row);
    });
  }

  async claim(input: {
    now: string;
    limit: number;
  }): Promise<{ claimed: WritebackRecord[]; expired: WritebackRecord[] }> {
    return this.#guard('claimWritebacks', () => {
      const s = this.#s();
      const tx = this.#dbOf().transaction(() => {
        const claimed: WritebackRecord[] = [];
        const expired: WritebackRecord[] = [];
        for (const row of s.queued.all(input.limit)) {
          if (Date.parse(row.deadline) <= Date.parse(input.now)) {
            expired.push(toWritebackRecord(row));
            continue;
          }
          s.start.run(input.now, row.id);
          s.audit.run(row.id, input.now, 'executing', null);
          claimed.push({ ...toWritebackRecord(row), phase: 'executing', startedAt: input.now });
        }
        return { claimed, expired };
      });
      return tx.immediate();
    });
  }

  async audit(entries: readonly WritebackAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    return this.#guard('auditWriteback', () => {
      const s = this.#s();
      this.#dbOf().transaction(() => {
        for (const e of entries)
          s.audit.run(
            e.writebackId,
            e.at,
            e.action,
            e.detail === undefined ? null : JSON.stringify(e.detail),
          );
      })();
    });
  }

  async listAudit(writebackId: string): Promise<WritebackAuditEntry[]> {
    return this.#guard('listWritebackAudit', () =>
      this.#s()
        .listAudit.all(writebackId)
        .map((row) => ({
          writebackId: row.writeback_id,
          at: row.at,
          action: row.action,
          ...(row.detail_json === null
            ? {}
            : { detail: JSON.parse(row.detail_json) as Record<string, unknown> }),
        })),
    );
  }

  async finish(result: WritebackFinish): Promise<WritebackRecord> {
    return this.#guard('finishWriteback', () => {
      const s = this.#s();
      const tx = this.#dbOf().transaction((): WritebackRecord => {
        const changed = s.finish.run(
          result.status,
          result.finishedAt,
          result.startedAt ?? null,
          result.sourceId ?? null,
          result.resourceId ?? null,
          result.resource === undefined ? null : JSON.stringify(result.resource),
          result.matched === undefined ? null : result.matched ? 1 : 0,
          JSON.stringify(result.warnings ?? []),
          result.error === undefined ? null : JSON.stringify(result.error),
          result.compensated === undefined ? null : result.compensated ? 1 : 0,
          result.id,
        ).changes;
        const row = s.get.get(result.id);
        if (!row) {
          throw new TendrilError(
            'TENDRIL_E_STORE',
            'No writeback has this id; pass the id that accept returned.',
            {
              retryable: false,
              details: { writebackId: result.id },
            },
          );
        }
        const record = toWritebackRecord(row);
        // Already final (another worker finished it): nothing more to record or emit.
        if (changed === 0) return record;
        s.audit.run(
          record.id,
          result.finishedAt,
          result.status,
          JSON.stringify({
            ...(result.sourceId ? { sourceId: result.sourceId } : {}),
            ...(result.error ? { code: result.error.code } : {}),
            ...(result.matched !== undefined ? { matched: result.matched } : {}),
            ...(result.compensated !== undefined ? { compensated: result.compensated } : {}),
            warnings: (result.warnings ?? []).length,
          }),
        );
        this.#emit(s, record, result.connectorId);
        return record;
      });
      return tx.immediate();
    });
  }

  /** The result event (writeback.md §7) into the outbox, and its delivery rows for the client's subscriptions. */
  #emit(s: Statements, record: WritebackRecord, connectorId: string): void {
    const resourceType = commandResource(record.command);
    let sequence = s.getSequence.get(record.connectionId)?.last_sequence ?? this.#nowMs() * 1000 - 1;
    sequence += 1;
    const status = record.status;
    const envelope: EventEnvelope = {
      id: uuidV5(JSON.stringify([record.connectionId, 'command', record.id, status]), EVENT_ID_NAMESPACE),
      type: `${resourceType.toLowerCase()}.writeback.${status}`,
      occurredAt: record.finishedAt ?? new Date(this.#nowMs()).toISOString(),
      connectionId: record.connectionId,
      resourceType,
      // Set when known; a failed book or create has no resource, and its key is the empty string.
      resourceId: record.resourceId ?? '',
      sequence,
      data: writebackResult(record),
    };
    const inserted = s.insertEvent.run(
      envelope.id,
      record.connectionId,
      sequence,
      envelope.type,
      resourceType,
      envelope.resourceId,
      record.sourceId ?? '',
      connectorId,
      JSON.stringify(envelope),
      new Date(this.#nowMs()).toISOString(),
    );
    if (inserted.changes === 0) return;
    s.setSequence.run(record.connectionId, sequence);
    const key = s.getKey.get(record.clientId);
    const subscriptions = new Set(key ? toApiKey(key).subscriptionIds : []);
    if (subscriptions.size === 0) return;
    this.#deliver(
      [{ envelope, kind: 'created', sourceId: record.sourceId ?? '', connectorId, refs: {} }],
      subscriptions,
    );
  }

  async interrupted(): Promise<WritebackRecord[]> {
    return this.#guard('interruptedWritebacks', () => this.#s().executing.all().map(toWritebackRecord));
  }

  async countPending(): Promise<number> {
    return this.#guard('countPendingWritebacks', () => this.#s().pending.get()?.n ?? 0);
  }

  async resolveSourceId(
    connectionId: string,
    resourceType: ResourceType,
    resourceId: string,
  ): Promise<string | undefined> {
    return this.#guard('resolveSourceId', () => {
      const s = this.#s();
      return (
        s.shadowSource.get(connectionId, resourceType, resourceId)?.source_id ??
        s.writtenSource.get(connectionId, resourceType, resourceId)?.source_id
      );
    });
  }
}
