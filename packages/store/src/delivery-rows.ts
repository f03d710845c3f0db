import type { PayloadCodec } from './payloads.js';
import type { ChangeKind, EventEnvelope, ReferenceSourceIds, ResourceType, StoredEvent } from '@tendril/core';
import type {
  DeadReason,
  DeliveryAttempt,
  DeliveryAttemptInput,
  DeliveryOrigin,
  DeliveryRecord,
  DeliveryStatus,
  SubscriptionRunState,
  SubscriptionStateRecord,
} from './delivery-types.js';
import type { Selectable } from 'kysely';
import type {
  DeliveriesTable,
  DeliveryAttemptsTable,
  OutboxTable,
  SubscriptionStateTable,
} from './tables.js';
import { flag, parsed } from './values.js';

/**
 * Rows of the delivery tables and their mapping to records. Both backends use the same column
 * names; only how booleans and JSON come back differs (tables.ts).
 */

export type DeliveryRow = Omit<Selectable<DeliveriesTable>, 'queue_pos' | 'head'>;
export type EventRow = Pick<
  Selectable<OutboxTable>,
  'envelope_json' | 'kind' | 'source_id' | 'connector_id' | 'refs_json'
>;
export type AttemptRow = Omit<Selectable<DeliveryAttemptsTable>, 'id'>;
export type StateRow = Selectable<SubscriptionStateTable>;

export const DELIVERY_COLUMNS = [
  'd.id',
  'd.subscription_id',
  'd.event_id',
  'd.event_type',
  'd.connection_id',
  'd.resource_type',
  'd.resource_id',
  'd.sequence',
  'd.status',
  'd.origin',
  'd.attempts',
  'd.due_at_ms',
  'd.eligible_at_ms',
  'd.created_at_ms',
  'd.finished_at_ms',
  'd.last_status',
  'd.last_error',
  'd.dead_reason',
  'd.redrive',
  'd.replay_of',
  'd.lease_owner',
  'd.lease_expires_ms',
] as const;
export const EVENT_COLUMNS = [
  'o.envelope_json',
  'o.kind',
  'o.source_id',
  'o.connector_id',
  'o.refs_json',
] as const;
export const ATTEMPT_COLUMNS = [
  'delivery_id',
  'number',
  'started_at_ms',
  'ended_at_ms',
  'status',
  'error',
  'response_bytes',
  'outcome',
  'probe',
] as const;
export const STATE_COLUMNS = [
  'subscription_id',
  'state',
  'reason',
  'consecutive_failures',
  'changed_at_ms',
  'next_probe_at_ms',
] as const;

/** The columns a lease reads, in select order: the delivery's, then its event's. */
export const LEASE_COLUMNS = [...DELIVERY_COLUMNS, ...EVENT_COLUMNS] as const;
type Row = DeliveryRow & EventRow;
/** Each column's place in a lease's row array. */
const at = Object.fromEntries(
  LEASE_COLUMNS.map((column, i) => [column.slice(column.indexOf('.') + 1), i]),
) as Record<keyof Row, number>;

/**
 * A lease's row read as an array (Prepared.runArrays) as the row object the mappers take. Written
 * out key by key: one object shape, built as fast as a literal.
 */
export function leaseRow(values: readonly unknown[]): Row {
  return {
    id: values[at.id] as Row['id'],
    subscription_id: values[at.subscription_id] as Row['subscription_id'],
    event_id: values[at.event_id] as Row['event_id'],
    event_type: values[at.event_type] as Row['event_type'],
    connection_id: values[at.connection_id] as Row['connection_id'],
    resource_type: values[at.resource_type] as Row['resource_type'],
    resource_id: values[at.resource_id] as Row['resource_id'],
    sequence: values[at.sequence] as Row['sequence'],
    status: values[at.status] as Row['status'],
    origin: values[at.origin] as Row['origin'],
    attempts: values[at.attempts] as Row['attempts'],
    due_at_ms: values[at.due_at_ms] as Row['due_at_ms'],
    eligible_at_ms: values[at.eligible_at_ms] as Row['eligible_at_ms'],
    created_at_ms: values[at.created_at_ms] as Row['created_at_ms'],
    finished_at_ms: values[at.finished_at_ms] as Row['finished_at_ms'],
    last_status: values[at.last_status] as Row['last_status'],
    last_error: values[at.last_error] as Row['last_error'],
    dead_reason: values[at.dead_reason] as Row['dead_reason'],
    redrive: values[at.redrive] as Row['redrive'],
    replay_of: values[at.replay_of] as Row['replay_of'],
    lease_owner: values[at.lease_owner] as Row['lease_owner'],
    lease_expires_ms: values[at.lease_expires_ms] as Row['lease_expires_ms'],
    envelope_json: values[at.envelope_json],
    kind: values[at.kind] as Row['kind'],
    source_id: values[at.source_id] as Row['source_id'],
    connector_id: values[at.connector_id] as Row['connector_id'],
    refs_json: values[at.refs_json],
  };
}

export function toRecord(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventType: row.event_type,
    connectionId: row.connection_id,
    resourceType: row.resource_type as ResourceType,
    resourceId: row.resource_id,
    sequence: row.sequence,
    status: row.status as DeliveryStatus,
    origin: row.origin as DeliveryOrigin,
    attempts: row.attempts,
    dueAtMs: row.due_at_ms,
    ...(row.eligible_at_ms === null ? {} : { eligibleAtMs: row.eligible_at_ms }),
    createdAtMs: row.created_at_ms,
    ...(row.finished_at_ms === null ? {} : { finishedAtMs: row.finished_at_ms }),
    ...(row.last_status === null ? {} : { lastStatus: row.last_status }),
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
    ...(row.dead_reason === null ? {} : { deadReason: row.dead_reason as DeadReason }),
    redrive: flag(row.redrive),
    ...(row.replay_of === null ? {} : { replayOf: row.replay_of }),
  };
}

export function toEvent(row: EventRow, payloads: PayloadCodec): StoredEvent {
  return {
    envelope: payloads.read<EventEnvelope>('outbox.envelope_json', row.envelope_json),
    kind: row.kind as ChangeKind,
    sourceId: row.source_id,
    connectorId: row.connector_id,
    refs: parsed<ReferenceSourceIds>(row.refs_json),
  };
}

/**
 * A leased delivery's event, and its envelope's JSON text where the store keeps text (SQLite):
 * the envelope is then parsed only when something reads it, since the `json` format sends the
 * text as it is (docs/performance.md, "Delivery: where it stands"). Sealed values are opened here,
 * so a wrong key or a damaged value still fails the lease, as {@link toEvent} does.
 */
export function toLeasedEvent(
  row: EventRow,
  payloads: PayloadCodec,
): { event: StoredEvent; envelopeJson?: string } {
  const text = payloads.readText('outbox.envelope_json', row.envelope_json);
  if (text === undefined) return { event: toEvent(row, payloads) };
  let envelope: EventEnvelope | undefined;
  return {
    event: {
      get envelope(): EventEnvelope {
        envelope ??= JSON.parse(text) as EventEnvelope;
        return envelope;
      },
      kind: row.kind as ChangeKind,
      sourceId: row.source_id,
      connectorId: row.connector_id,
      refs: parsed<ReferenceSourceIds>(row.refs_json),
    },
    envelopeJson: text,
  };
}

export function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    deliveryId: row.delivery_id,
    number: row.number,
    startedAtMs: row.started_at_ms,
    endedAtMs: row.ended_at_ms,
    ...(row.status === null ? {} : { status: row.status }),
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.response_bytes === null ? {} : { responseBytes: row.response_bytes }),
    outcome: row.outcome as DeliveryAttemptInput['outcome'],
    probe: flag(row.probe),
  };
}

export function toState(row: StateRow): SubscriptionStateRecord {
  return {
    subscriptionId: row.subscription_id,
    state: row.state as SubscriptionRunState,
    ...(row.reason === null ? {} : { reason: row.reason }),
    consecutivePermanentFailures: row.consecutive_failures,
    changedAtMs: row.changed_at_ms,
    ...(row.next_probe_at_ms === null ? {} : { nextProbeAtMs: row.next_probe_at_ms }),
  };
}
