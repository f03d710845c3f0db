import type pg from 'pg';
import {
  commandResource,
  EVENT_ID_NAMESPACE,
  TendrilError,
  uuidV5,
  type EventEnvelope,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import type { PostgresGuard } from './postgres-delivery-store.js';
import { inTransaction } from './postgres-connection.js';
import { allocateSequences } from './postgres-sequence.js';
import {
  toApiKey,
  toWritebackRecord,
  writebackResult,
  type ApiKeyRow,
  type WritebackRow,
} from './writeback-rows.js';
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

const COLUMNS = `id, client_id, connection_id, command, idempotency_key, payload_hash, input_json, status, phase,
  accepted_at, deadline, started_at, finished_at, resource_type, source_id, resource_id, resource_json, matched,
  warnings_json, error_json, compensated`;
const KEY_COLUMNS = 'id, name, secret_hash, connections_json, subscriptions_json, created_at, revoked_at';

/** Writes events' delivery rows for the given subscriptions, in the caller's transaction. */
export type DeliverInTransaction = (
  client: pg.PoolClient,
  events: readonly StoredEvent[],
  subscriptionIds: ReadonlySet<string>,
) => Promise<void>;

/**
 * The PostgreSQL half of {@link WritebackStore}, built by the PostgreSQL store: the same rules as
 * the SQLite one (sqlite-writeback-store.ts). Workers on several hosts claim queued commands with
 * `FOR UPDATE SKIP LOCKED`, so no command is taken twice; a retried POST meets the unique
 * (client, connection, idempotency key) and gets the existing command back.
 */
export class PostgresWritebackStore implements WritebackStore {
  readonly #pool: pg.Pool;
  readonly #guard: PostgresGuard;
  readonly #nowMs: () => number;
  readonly #deliver: DeliverInTransaction;

  constructor(pool: pg.Pool, guard: PostgresGuard, nowMs: () => number, deliver: DeliverInTransaction) {
    this.#pool = pool;
    this.#guard = guard;
    this.#nowMs = nowMs;
    this.#deliver = deliver;
  }

  async createApiKey(key: ApiKeyWithHash): Promise<void> {
    return this.#guard('createApiKey', async () => {
      await this.#pool.query(
        `INSERT INTO api_keys (id, name, secret_hash, connections_json, subscriptions_json, created_at)
         VALUES ($1, $2, $3, $4::json, $5::json, $6)`,
        [
          key.id,
          key.name,
          key.secretHash,
          JSON.stringify(key.connectionIds),
          JSON.stringify(key.subscriptionIds),
          key.createdAt,
        ],
      );
    });
  }

  async getApiKey(id: string): Promise<ApiKeyWithHash | undefined> {
    return this.#guard('getApiKey', async () => {
      const { rows } = await this.#pool.query<ApiKeyRow>(
        `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`,
        [id],
      );
      return rows[0] === undefined ? undefined : toApiKey(rows[0]);
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#guard('listApiKeys', async () => {
      const { rows } = await this.#pool.query<ApiKeyRow>(
        `SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`,
      );
      return rows.map((row) => {
        const { secretHash: _hidden, ...key } = toApiKey(row);
        return key;
      });
    });
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.#guard('revokeApiKey', async () => {
      const { rowCount } = await this.#pool.query(
        'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
        [at, id],
      );
      return (rowCount ?? 0) > 0;
    });
  }

  async accept(input: AcceptInput): Promise<AcceptResult> {
    return this.#guard('acceptWriteback', async () =>
      inTransaction(this.#pool, async (client): Promise<AcceptResult> => {
        // A concurrent accept of the same key waits on the unique index, then does nothing.
        const inserted = await client.query(
          `INSERT INTO writebacks (id, client_id, connection_id, command, idempotency_key, payload_hash, input_json,
             status, phase, accepted_at, deadline, resource_type)
           VALUES ($1, $2, $3, $4, $5, $6, $7::json, 'accepted', 'queued', $8, $9, $10)
           ON CONFLICT (client_id, connection_id, idempotency_key) DO NOTHING`,
          [
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
          ],
        );
        const { rows } = await client.query<WritebackRow>(
          `SELECT ${COLUMNS} FROM writebacks WHERE client_id = $1 AND connection_id = $2 AND idempotency_key = $3`,
          [input.clientId, input.connectionId, input.idempotencyKey],
        );
        const row = rows[0]!;
        if ((inserted.rowCount ?? 0) > 0) {
          await this.#audit(client, row.id, input.acceptedAt, 'accepted', {
            clientId: input.clientId,
            command: input.command,
            payloadHash: input.payloadHash,
          });
          return { kind: 'created', record: toWritebackRecord(row) };
        }
        await this.#audit(client, row.id, input.acceptedAt, 'replayed', {
          clientId: input.clientId,
          samePayload: row.payload_hash === input.payloadHash,
        });
        return {
          kind: row.payload_hash === input.payloadHash ? 'existing' : 'key-reused',
          record: toWritebackRecord(row),
        };
      }),
    );
  }

  async #audit(
    client: pg.PoolClient,
    writebackId: string,
    at: string,
    action: string,
    detail?: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await client.query(
      'INSERT INTO writeback_audit (writeback_id, at, action, detail_json) VALUES ($1, $2, $3, $4::json)',
      [writebackId, at, action, detail === undefined ? null : JSON.stringify(detail)],
    );
  }

  async get(id: string): Promise<WritebackRecord | undefined> {
    return this.#guard('getWriteback', async () => {
      const { rows } = await this.#pool.query<WritebackRow>(
        `SELECT ${COLUMNS} FROM writebacks WHERE id = $1`,
        [id],
      );
      return rows[0] === undefined ? undefined : toWritebackRecord(rows[0]);
    });
  }

  async claim(input: {
    now: string;
    limit: number;
  }): Promise<{ claimed: WritebackRecord[]; expired: WritebackRecord[] }> {
    return this.#guard('claimWritebacks', async () =>
      inTransaction(this.#pool, async (client) => {
        // SKIP LOCKED: commands another worker is claiming right now are passed over, never taken twice.
        const { rows } = await client.query<WritebackRow>(
          `SELECT ${COLUMNS} FROM writebacks WHERE phase = 'queued' ORDER BY accepted_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [input.limit],
        );
        const claimed: WritebackRecord[] = [];
        const expired: WritebackRecord[] = [];
        for (const row of rows) {
          if (Date.parse(row.deadline) <= Date.parse(input.now)) {
            expired.push(toWritebackRecord(row));
            continue;
          }
          await client.query(
            `UPDATE writebacks SET phase = 'executing', started_at = $1 WHERE id = $2 AND phase = 'queued'`,
            [input.now, row.id],
          );
          await this.#audit(client, row.id, input.now, 'executing');
          claimed.push({ ...toWritebackRecord(row), phase: 'executing', startedAt: input.now });
        }
        return { claimed, expired };
      }),
    );
  }

  async audit(entries: readonly WritebackAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    return this.#guard('auditWriteback', async () => {
      await inTransaction(this.#pool, async (client) => {
        for (const e of entries) await this.#audit(client, e.writebackId, e.at, e.action, e.detail);
      });
    });
  }

  async listAudit(writebackId: string): Promise<WritebackAuditEntry[]> {
    return this.#guard('listWritebackAudit', async () => {
      const { rows } = await this.#pool.query<{
        writeback_id: string;
        at: string;
        action: string;
        detail_json: Record<string, unknown> | null;
      }>(
        'SELECT writeback_id, at, action, detail_json FROM writeback_audit WHERE writeback_id = $1 ORDER BY id',
        [writebackId],
      );
      return rows.map((row) => ({
        writebackId: row.writeback_id,
        at: row.at,
        action: row.action,
        ...(row.detail_json === null ? {} : { detail: row.detail_json }),
      }));
    });
  }

  async finish(result: WritebackFinish): Promise<WritebackRecord> {
    return this.#guard('finishWriteback', async () =>
      inTransaction(this.#pool, async (client): Promise<WritebackRecord> => {
        const changed = await client.query(
          `UPDATE writebacks SET status = $1, phase = 'done', finished_at = $2, started_at = COALESCE($3, started_at),
             source_id = $4, resource_id = $5, resource_json = $6::json, matched = $7, warnings_json = $8::json,
             error_json = $9::json, compensated = $10
           WHERE id = $11 AND phase <> 'done'`,
          [
            result.status,
            result.finishedAt,
            result.startedAt ?? null,
            result.sourceId ?? null,
            result.resourceId ?? null,
            result.resource === undefined ? null : JSON.stringify(result.resource),
            result.matched ?? null,
            JSON.stringify(result.warnings ?? []),
            result.error === undefined ? null : JSON.stringify(result.error),
            result.compensated ?? null,
            result.id,
          ],
        );
        const { rows } = await client.query<WritebackRow>(`SELECT ${COLUMNS} FROM writebacks WHERE id = $1`, [
          result.id,
        ]);
        const row = rows[0];
        if (row === undefined) {
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
        if ((changed.rowCount ?? 0) === 0) return record;
        await this.#audit(client, record.id, result.finishedAt, result.status, {
          ...(result.sourceId ? { sourceId: result.sourceId } : {}),
          ...(result.error ? { code: result.error.code } : {}),
          ...(result.matched !== undefined ? { matched: result.matched } : {}),
          ...(result.compensated !== undefined ? { compensated: result.compensated } : {}),
          warnings: (result.warnings ?? []).length,
        });
        await this.#emit(client, record, result.connectorId);
        return record;
      }),
    );
  }

  /** The result event (writeback.md §7) into the outbox, and its delivery rows for the client's subscriptions. */
  async #emit(client: pg.PoolClient, record: WritebackRecord, connectorId: string): Promise<void> {
    const resourceType = commandResource(record.command);
    const status = record.status;
    const id = uuidV5(
      JSON.stringify([record.connectionId, 'command', record.id, status]),
      EVENT_ID_NAMESPACE,
    );
    const nowMs = this.#nowMs();
    // Lock the connection's sequence, then skip an event already written (no sequence used).
    await allocateSequences(client, record.connectionId, 0, nowMs);
    const exists = await client.query('SELECT 1 FROM outbox WHERE id = $1', [id]);
    if ((exists.rowCount ?? 0) > 0) return;
    const sequence = await allocateSequences(client, record.connectionId, 1, nowMs);
    const envelope: EventEnvelope = {
      id,
      type: `${resourceType.toLowerCase()}.writeback.${status}`,
      occurredAt: record.finishedAt ?? new Date(nowMs).toISOString(),
      connectionId: record.connectionId,
      resourceType,
      // Set when known; a failed book or create has no resource, and its key is the empty string.
      resourceId: record.resourceId ?? '',
      sequence,
      data: writebackResult(record),
    };
    await client.query(
      `INSERT INTO outbox (id, connection_id, sequence, type, resource_type, resource_id, source_id, kind,
                           connector_id, envelope_json, refs_json, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8, $9::json, '{}', $10)`,
      [
        envelope.id,
        record.connectionId,
        sequence,
        envelope.type,
        resourceType,
        envelope.resourceId,
        record.sourceId ?? '',
        connectorId,
        JSON.stringify(envelope),
        new Date(nowMs).toISOString(),
      ],
    );
    const { rows } = await client.query<{ subscriptions_json: string[] }>(
      'SELECT subscriptions_json FROM api_keys WHERE id = $1',
      [record.clientId],
    );
    const subscriptions = new Set(rows[0]?.subscriptions_json ?? []);
    if (subscriptions.size === 0) return;
    await this.#deliver(
      client,
      [{ envelope, kind: 'created', sourceId: record.sourceId ?? '', connectorId, refs: {} }],
      subscriptions,
    );
  }

  async interrupted(): Promise<WritebackRecord[]> {
    return this.#guard('interruptedWritebacks', async () => {
      const { rows } = await this.#pool.query<WritebackRow>(
        `SELECT ${COLUMNS} FROM writebacks WHERE phase IN ('executing', 'verifying') ORDER BY accepted_at`,
      );
      return rows.map(toWritebackRecord);
    });
  }

  async countPending(): Promise<number> {
    return this.#guard('countPendingWritebacks', async () => {
      const { rows } = await this.#pool.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM writebacks WHERE phase IN ('queued', 'executing', 'verifying')`,
      );
      return rows[0]?.n ?? 0;
    });
  }

  async resolveSourceId(
    connectionId: string,
    resourceType: ResourceType,
    resourceId: string,
  ): Promise<string | undefined> {
    return this.#guard('resolveSourceId', async () => {
      const shadow = await this.#pool.query<{ source_id: string }>(
        'SELECT source_id FROM shadow WHERE connection_id = $1 AND resource_type = $2 AND resource_id = $3 AND NOT deleted LIMIT 1',
        [connectionId, resourceType, resourceId],
      );
      if (shadow.rows[0] !== undefined) return shadow.rows[0].source_id;
      const written = await this.#pool.query<{ source_id: string }>(
        `SELECT source_id FROM writebacks WHERE connection_id = $1 AND resource_type = $2 AND resource_id = $3 AND status = 'written'
         ORDER BY finished_at DESC LIMIT 1`,
        [connectionId, resourceType, resourceId],
      );
      return written.rows[0]?.source_id ?? undefined;
    });
  }
}
