import { sql, type Kysely } from 'kysely';
import {
  commandResource,
  EVENT_ID_NAMESPACE,
  TendrilError,
  uuidV5,
  type EventEnvelope,
  type ResourceType,
} from '@tendril/core';
import type { DeliveryStoreImpl } from './delivery-store.js';
import { insertEvents } from './outbox.js';
import { Prepared } from './prepared.js';
import type { StoreRuntime } from './runtime.js';
import { allocateSequences } from './sequences.js';
import type { StoreTables } from './tables.js';
import { bit, parsed } from './values.js';
import {
  API_KEY_COLUMNS,
  WRITEBACK_COLUMNS,
  toApiKey,
  toWritebackRecord,
  writebackResult,
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

const BY_ID = new Prepared<{ id: string }, WritebackRow>((db, q) =>
  db.selectFrom('writebacks').select(WRITEBACK_COLUMNS).where('id', '=', q.param('id')),
);

const INSERT_AUDIT = new Prepared<
  { writebackId: string; at: string; action: string; detail: string | null },
  never
>((db, q) =>
  db.insertInto('writeback_audit').values({
    writeback_id: q.param('writebackId'),
    at: q.param('at'),
    action: q.param('action'),
    detail_json: q.param('detail'),
  }),
);

/**
 * The writeback half of the store (writeback-types.ts), written once for both backends. Workers
 * claim queued commands under the dialect's row locks (`SKIP LOCKED` on PostgreSQL, the file's
 * write lock on SQLite), so no command is taken twice; a retried POST meets the unique (client,
 * connection, idempotency key) and gets the existing command back.
 */
export class WritebackStoreImpl implements WritebackStore {
  readonly #rt: StoreRuntime;
  readonly #deliveries: DeliveryStoreImpl;

  constructor(runtime: StoreRuntime, deliveries: DeliveryStoreImpl) {
    this.#rt = runtime;
    this.#deliveries = deliveries;
  }

  get #d() {
    return this.#rt.dialect;
  }

  async createApiKey(key: ApiKeyWithHash): Promise<void> {
    return this.#rt.guard('createApiKey', async (db) => {
      await db
        .insertInto('api_keys')
        .values({
          id: key.id,
          name: key.name,
          secret_hash: key.secretHash,
          connections_json: JSON.stringify(key.connectionIds),
          subscriptions_json: JSON.stringify(key.subscriptionIds),
          created_at: key.createdAt,
        })
        .execute();
    });
  }

  async getApiKey(id: string): Promise<ApiKeyWithHash | undefined> {
    return this.#rt.guard('getApiKey', async (db) => {
      const row = await db
        .selectFrom('api_keys')
        .select(API_KEY_COLUMNS)
        .where('id', '=', id)
        .executeTakeFirst();
      return row === undefined ? undefined : toApiKey(row);
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#rt.guard('listApiKeys', async (db) => {
      const rows = await db
        .selectFrom('api_keys')
        .select(API_KEY_COLUMNS)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map((row) => {
        const { secretHash: _hidden, ...key } = toApiKey(row);
        return key;
      });
    });
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.#rt.guard('revokeApiKey', async (db) => {
      const { numUpdatedRows } = await db
        .updateTable('api_keys')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return numUpdatedRows > 0n;
    });
  }

  async accept(input: AcceptInput): Promise<AcceptResult> {
    return this.#rt.guard('acceptWriteback', async () =>
      this.#rt.transaction(async (db): Promise<AcceptResult> => {
        // A concurrent accept of the same key waits on the unique index, then does nothing.
        const inserted = await db
          .insertInto('writebacks')
          .values({
            id: input.id,
            client_id: input.clientId,
            connection_id: input.connectionId,
            command: input.command,
            idempotency_key: input.idempotencyKey,
            payload_hash: input.payloadHash,
            input_json: this.#rt.payloads.write('writebacks.input_json', input.input),
            status: 'accepted',
            phase: 'queued',
            accepted_at: input.acceptedAt,
            deadline: input.deadline,
            resource_type: input.resourceType,
          })
          .onConflict((oc) => oc.columns(['client_id', 'connection_id', 'idempotency_key']).doNothing())
          .executeTakeFirst();
        const row = await db
          .selectFrom('writebacks')
          .select(WRITEBACK_COLUMNS)
          .where('client_id', '=', input.clientId)
          .where('connection_id', '=', input.connectionId)
          .where('idempotency_key', '=', input.idempotencyKey)
          .executeTakeFirstOrThrow();
        if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) {
          await this.#audit(db, row.id, input.acceptedAt, 'accepted', {
            clientId: input.clientId,
            command: input.command,
            payloadHash: input.payloadHash,
          });
          return { kind: 'created', record: toWritebackRecord(row, this.#rt.payloads) };
        }
        await this.#audit(db, row.id, input.acceptedAt, 'replayed', {
          clientId: input.clientId,
          samePayload: row.payload_hash === input.payloadHash,
        });
        return {
          kind: row.payload_hash === input.payloadHash ? 'existing' : 'key-reused',
          record: toWritebackRecord(row, this.#rt.payloads),
        };
      }),
    );
  }

  async #audit(
    db: Kysely<StoreTables>,
    writebackId: string,
    at: string,
    action: string,
    detail?: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await INSERT_AUDIT.run(db, this.#d, {
      writebackId,
      at,
      action,
      detail: detail === undefined ? null : JSON.stringify(detail),
    });
  }

  async get(id: string): Promise<WritebackRecord | undefined> {
    return this.#rt.guard('getWriteback', async (db) => {
      const row = (await BY_ID.run(db, this.#d, { id })).rows[0];
      return row === undefined ? undefined : toWritebackRecord(row, this.#rt.payloads);
    });
  }

  async claim(input: {
    now: string;
    limit: number;
  }): Promise<{ claimed: WritebackRecord[]; expired: WritebackRecord[] }> {
    return this.#rt.guard('claimWritebacks', async () =>
      this.#rt.transaction(async (db) => {
        // SKIP LOCKED: commands another worker is claiming right now are passed over, never taken twice.
        const rows = await this.#d
          .lockRows(
            db
              .selectFrom('writebacks')
              .select(WRITEBACK_COLUMNS)
              .where('phase', '=', sql.lit('queued'))
              .orderBy('accepted_at')
              .orderBy('id')
              .limit(input.limit),
            'writebacks',
            'skip',
          )
          .execute();
        const claimed: WritebackRecord[] = [];
        const expired: WritebackRecord[] = [];
        for (const row of rows) {
          if (Date.parse(row.deadline) <= Date.parse(input.now)) {
            expired.push(toWritebackRecord(row, this.#rt.payloads));
            continue;
          }
          await db
            .updateTable('writebacks')
            .set({ phase: 'executing', started_at: input.now })
            .where('id', '=', row.id)
            .where('phase', '=', 'queued')
            .execute();
          await this.#audit(db, row.id, input.now, 'executing');
          claimed.push({
            ...toWritebackRecord(row, this.#rt.payloads),
            phase: 'executing',
            startedAt: input.now,
          });
        }
        return { claimed, expired };
      }),
    );
  }

  async audit(entries: readonly WritebackAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    return this.#rt.guard('auditWriteback', async () => {
      await this.#rt.transaction(async (db) => {
        for (const e of entries) await this.#audit(db, e.writebackId, e.at, e.action, e.detail);
      });
    });
  }

  async listAudit(writebackId: string): Promise<WritebackAuditEntry[]> {
    return this.#rt.guard('listWritebackAudit', async (db) => {
      const rows = await db
        .selectFrom('writeback_audit')
        .select(['writeback_id', 'at', 'action', 'detail_json'])
        .where('writeback_id', '=', writebackId)
        .orderBy('id')
        .execute();
      return rows.map((row) => ({
        writebackId: row.writeback_id,
        at: row.at,
        action: row.action,
        ...(row.detail_json === null ? {} : { detail: parsed<Record<string, unknown>>(row.detail_json) }),
      }));
    });
  }

  async finish(result: WritebackFinish): Promise<WritebackRecord> {
    return this.#rt.guard('finishWriteback', async () =>
      this.#rt.transaction(async (db): Promise<WritebackRecord> => {
        const changed = await db
          .updateTable('writebacks')
          .set((eb) => ({
            status: result.status,
            phase: 'done',
            finished_at: result.finishedAt,
            started_at: eb.fn.coalesce(sql<string | null>`${result.startedAt ?? null}`, 'started_at'),
            source_id: result.sourceId ?? null,
            resource_id: result.resourceId ?? null,
            resource_json:
              result.resource === undefined
                ? null
                : this.#rt.payloads.write('writebacks.resource_json', result.resource),
            matched: result.matched === undefined ? null : bit(result.matched),
            warnings_json: JSON.stringify(result.warnings ?? []),
            error_json: result.error === undefined ? null : JSON.stringify(result.error),
            compensated: result.compensated === undefined ? null : bit(result.compensated),
          }))
          .where('id', '=', result.id)
          .where('phase', '<>', 'done')
          .executeTakeFirst();
        const row = (await BY_ID.run(db, this.#d, { id: result.id })).rows[0];
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
        const record = toWritebackRecord(row, this.#rt.payloads);
        // Already final (another worker finished it): nothing more to record or emit.
        if (changed.numUpdatedRows === 0n) return record;
        await this.#audit(db, record.id, result.finishedAt, result.status, {
          ...(result.sourceId ? { sourceId: result.sourceId } : {}),
          ...(result.error ? { code: result.error.code } : {}),
          ...(result.matched !== undefined ? { matched: result.matched } : {}),
          ...(result.compensated !== undefined ? { compensated: result.compensated } : {}),
          warnings: (result.warnings ?? []).length,
        });
        await this.#emit(db, record, result.connectorId);
        return record;
      }),
    );
  }

  /** The result event (docs/writeback.md, "Lifecycle and guarantees") into the outbox, and its delivery rows for the client's subscriptions. */
  async #emit(db: Kysely<StoreTables>, record: WritebackRecord, connectorId: string): Promise<void> {
    const resourceType = commandResource(record.command);
    const status = record.status;
    const id = uuidV5(
      JSON.stringify([record.connectionId, 'command', record.id, status]),
      EVENT_ID_NAMESPACE,
    );
    const nowMs = this.#rt.nowMs();
    // Hold the connection's counter, then skip an event already written (no sequence used).
    await allocateSequences(db, this.#d, record.connectionId, 0, nowMs);
    if ((await db.selectFrom('outbox').select('id').where('id', '=', id).executeTakeFirst()) !== undefined)
      return;
    const sequence = await allocateSequences(db, this.#d, record.connectionId, 1, nowMs);
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
    const event = {
      envelope,
      kind: 'created' as const,
      sourceId: record.sourceId ?? '',
      connectorId,
      refs: {},
    };
    await insertEvents(
      db,
      this.#d,
      this.#rt.payloads,
      record.connectionId,
      connectorId,
      [event],
      new Date(nowMs).toISOString(),
    );
    const key = await db
      .selectFrom('api_keys')
      .select('subscriptions_json')
      .where('id', '=', record.clientId)
      .executeTakeFirst();
    const subscriptions = new Set(key === undefined ? [] : parsed<string[]>(key.subscriptions_json));
    if (subscriptions.size > 0) await this.#deliveries.insertLive(db, [event], subscriptions);
  }

  async interrupted(): Promise<WritebackRecord[]> {
    return this.#rt.guard('interruptedWritebacks', async (db) => {
      const rows = await db
        .selectFrom('writebacks')
        .select(WRITEBACK_COLUMNS)
        .where('phase', 'in', ['executing', 'verifying'])
        .orderBy('accepted_at')
        .execute();
      return rows.map((row) => toWritebackRecord(row, this.#rt.payloads));
    });
  }

  async countPending(connectionId?: string): Promise<number> {
    return this.#rt.guard('countPendingWritebacks', async (db) => {
      let select = db
        .selectFrom('writebacks')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('phase', 'in', ['queued', 'executing', 'verifying']);
      if (connectionId !== undefined) select = select.where('connection_id', '=', connectionId);
      const row = await select.executeTakeFirst();
      return Number(row?.n ?? 0);
    });
  }

  async resolveSourceId(
    connectionId: string,
    resourceType: ResourceType,
    resourceId: string,
  ): Promise<string | undefined> {
    return this.#rt.guard('resolveSourceId', async (db) => {
      const shadow = await db
        .selectFrom('shadow')
        .select('source_id')
        .where('connection_id', '=', connectionId)
        .where('resource_type', '=', resourceType)
        .where('resource_id', '=', resourceId)
        .where('deleted', '=', this.#d.flagLiteral(false))
        .limit(1)
        .executeTakeFirst();
      if (shadow !== undefined) return shadow.source_id;
      const written = await db
        .selectFrom('writebacks')
        .select('source_id')
        .where('connection_id', '=', connectionId)
        .where('resource_type', '=', resourceType)
        .where('resource_id', '=', resourceId)
        .where('status', '=', 'written')
        .orderBy('finished_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      return written?.source_id ?? undefined;
    });
  }
}
