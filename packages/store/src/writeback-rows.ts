import type { PayloadCodec } from './payloads.js';
import type { ResourceType, WritebackCommand } from '@tendril/core';
import type { Selectable } from 'kysely';
import type { ApiKeysTable, WritebacksTable } from './tables.js';
import { flag, parsed } from './values.js';
import type { ApiKeyWithHash, WritebackRecord } from './writeback-types.js';

/**
 * Rows of the writeback and API-key tables and their mapping to records (same column names on both
 * backends; booleans and JSON come back differently, tables.ts).
 */

export type WritebackRow = Selectable<WritebacksTable>;

export const WRITEBACK_COLUMNS = [
  'id',
  'client_id',
  'connection_id',
  'command',
  'idempotency_key',
  'payload_hash',
  'input_json',
  'status',
  'phase',
  'accepted_at',
  'deadline',
  'started_at',
  'finished_at',
  'resource_type',
  'source_id',
  'resource_id',
  'resource_json',
  'matched',
  'warnings_json',
  'error_json',
  'compensated',
] as const;
export const API_KEY_COLUMNS = [
  'id',
  'name',
  'secret_hash',
  'connections_json',
  'subscriptions_json',
  'created_at',
  'revoked_at',
] as const;

export type ApiKeyRow = Selectable<ApiKeysTable>;

export function toWritebackRecord(row: WritebackRow, payloads: PayloadCodec): WritebackRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    connectionId: row.connection_id,
    command: row.command as WritebackCommand,
    idempotencyKey: row.idempotency_key,
    payloadHash: row.payload_hash,
    input: payloads.read<Record<string, unknown>>('writebacks.input_json', row.input_json),
    status: row.status as WritebackRecord['status'],
    phase: row.phase as WritebackRecord['phase'],
    acceptedAt: row.accepted_at,
    deadline: row.deadline,
    ...(row.started_at === null ? {} : { startedAt: row.started_at }),
    ...(row.finished_at === null ? {} : { finishedAt: row.finished_at }),
    resourceType: row.resource_type as ResourceType,
    ...(row.source_id === null ? {} : { sourceId: row.source_id }),
    ...(row.resource_id === null ? {} : { resourceId: row.resource_id }),
    ...(row.resource_json === null || row.resource_json === undefined
      ? {}
      : { resource: payloads.read<Record<string, unknown>>('writebacks.resource_json', row.resource_json) }),
    ...(row.matched === null ? {} : { matched: flag(row.matched) }),
    warnings: parsed<string[]>(row.warnings_json),
    ...(row.error_json === null || row.error_json === undefined
      ? {}
      : { error: parsed<WritebackRecord['error'] & object>(row.error_json) }),
    ...(row.compensated === null ? {} : { compensated: flag(row.compensated) }),
  };
}

export function toApiKey(row: ApiKeyRow): ApiKeyWithHash {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    connectionIds: parsed<string[]>(row.connections_json),
    subscriptionIds: parsed<string[]>(row.subscriptions_json),
    createdAt: row.created_at,
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
  };
}

/** The public result document of a command (docs/writeback.md, "Lifecycle and guarantees"): the API's GET body and the event's `data`. */
export function writebackResult(record: WritebackRecord): Record<string, unknown> {
  return {
    id: record.id,
    command: record.command,
    connectionId: record.connectionId,
    idempotencyKey: record.idempotencyKey,
    status: record.status,
    ...(record.status === 'accepted' ? { phase: record.phase } : {}),
    acceptedAt: record.acceptedAt,
    deadline: record.deadline,
    startedAt: record.startedAt ?? null,
    finishedAt: record.finishedAt ?? null,
    resourceType: record.resourceType,
    resourceId: record.resourceId ?? null,
    sourceId: record.sourceId ?? null,
    resource: record.resource ?? null,
    ...(record.matched === undefined ? {} : { matched: record.matched }),
    ...(record.compensated === undefined ? {} : { compensated: record.compensated }),
    warnings: record.warnings,
    error: record.error ?? null,
  };
}
