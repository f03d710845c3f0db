import type { ColumnType, Generated } from 'kysely';

/**
 * The store's tables as the query builder sees them: one declaration for both backends. Where the
 * backends return a column differently (column-kinds.ts), the read type admits both and the row
 * mappers (values.ts) turn it into the one form the Store API carries:
 * - JSON is written as text; SQLite returns the text, PostgreSQL the value its driver parsed.
 * - Flags are written as 0/1; SQLite returns 0/1, PostgreSQL a boolean.
 * - Instants and epoch milliseconds come back as ISO text and JS numbers on both (the PostgreSQL
 *   connection's type parsers, postgres/connection.ts).
 */

/** JSON, written as text. */
export type Json = ColumnType<unknown, string, string>;
export type NullableJson = ColumnType<unknown, string | null, string | null>;
/** A flag, written as 0/1. */
export type Flag = ColumnType<number | boolean, number, number>;
export type NullableFlag = ColumnType<number | boolean | null, number | null, number | null>;
/** A flag with a default (false). */
export type DefaultFlag = ColumnType<number | boolean, number | undefined, number>;
/** An id the database assigns (identity / autoincrement). */
export type SerialId = Generated<number>;

export interface StreamStateTable {
  connection_id: string;
  stream: string;
  state_json: Json;
  updated_at: string;
}

export interface ShadowTable {
  connection_id: string;
  resource_type: string;
  source_id: string;
  resource_id: string;
  stream: string;
  hash: string;
  deleted: Flag;
  last_seen_at: string;
  business_date: string | null;
}

export interface OutboxTable {
  id: string;
  connection_id: string;
  sequence: number;
  type: string;
  resource_type: string;
  resource_id: string;
  source_id: string;
  kind: string;
  connector_id: string;
  envelope_json: Json;
  refs_json: Json;
  created_at: string;
}

export interface ConnectionSequenceTable {
  connection_id: string;
  last_sequence: number;
}

export interface RunsTable {
  id: string;
  connection_id: string;
  stream: string;
  kind: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  counts_json: Json;
  error_json: NullableJson;
}

/** Rows skipped because they failed mapping or validation (docs/quarantine.md). No field values. */
export interface QuarantineTable {
  connection_id: string;
  resource_type: string;
  source_id: string;
  stream: string;
  error_code: string;
  field: string | null;
  reason: string;
  first_seen_at: string;
  last_seen_at: string;
  count: number;
}

export interface RelayCursorTable {
  connection_id: string;
  last_sequence: number;
  updated_at: string;
}

export interface DeliveriesTable {
  id: SerialId;
  subscription_id: string;
  event_id: string;
  event_type: string;
  connection_id: string;
  resource_type: string;
  resource_id: string;
  sequence: number;
  queue_pos: number;
  status: string;
  origin: string;
  head: Flag;
  attempts: Generated<number>;
  due_at_ms: number;
  eligible_at_ms: number | null;
  lease_owner: string | null;
  lease_expires_ms: number | null;
  created_at_ms: number;
  finished_at_ms: number | null;
  last_status: number | null;
  last_error: string | null;
  dead_reason: string | null;
  redrive: DefaultFlag;
  replay_of: number | null;
}

export interface DeliveryAttemptsTable {
  id: SerialId;
  delivery_id: number;
  number: number;
  started_at_ms: number;
  ended_at_ms: number;
  status: number | null;
  error: string | null;
  response_bytes: number | null;
  outcome: string;
  probe: DefaultFlag;
}

export interface SubscriptionStateTable {
  subscription_id: string;
  state: string;
  reason: string | null;
  consecutive_failures: Generated<number>;
  changed_at_ms: number;
  next_probe_at_ms: number | null;
}

export interface DeliveryBackloadsTable {
  id: SerialId;
  subscription_id: string;
  filter_json: string;
  after_connection_id: string | null;
  after_sequence: number | null;
  enqueued: Generated<number>;
  started_at_ms: number;
  finished_at_ms: number | null;
}

/** PostgreSQL only: the token bucket every worker shares (docs/delivery.md, "Throttling"). */
export interface DeliveryThrottleTable {
  subscription_id: string;
  rate_per_second: number;
  scaled_tat: number;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  connections_json: Json;
  subscriptions_json: Json;
  created_at: string;
  revoked_at: string | null;
}

export interface WritebacksTable {
  id: string;
  client_id: string;
  connection_id: string;
  command: string;
  idempotency_key: string;
  payload_hash: string;
  input_json: Json;
  status: string;
  phase: string;
  accepted_at: string;
  deadline: string;
  started_at: string | null;
  finished_at: string | null;
  resource_type: string;
  source_id: string | null;
  resource_id: string | null;
  resource_json: NullableJson;
  matched: NullableFlag;
  warnings_json: ColumnType<unknown, string | undefined, string>;
  error_json: NullableJson;
  compensated: NullableFlag;
}

export interface WritebackAuditTable {
  id: SerialId;
  writeback_id: string;
  at: string;
  action: string;
  detail_json: NullableJson;
}

/** PostgreSQL only: the fleet's connections (docs/fleet.md). */
export interface FleetConnectionsTable {
  id: string;
  config_json: Json;
  version: number;
  created_at: string;
  updated_at: string;
  next_poll_at: string;
  next_nightly_at: string | null;
  skipped_ticks: Generated<number>;
}

/** PostgreSQL only: the fleet's run log. */
export interface FleetRunsTable {
  id: SerialId;
  connection_id: string;
  kind: string;
  worker_id: string;
  job_id: string | null;
  started_at: string;
  finished_at: string | null;
  status: string;
  events: number | null;
  error_code: string | null;
}

/** Settings of the store itself (payload_key_id: docs/security.md, "PHI at rest"). */
export interface StoreSettingsTable {
  name: string;
  value: string;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface StoreTables {
  stream_state: StreamStateTable;
  shadow: ShadowTable;
  outbox: OutboxTable;
  connection_sequence: ConnectionSequenceTable;
  runs: RunsTable;
  relay_cursor: RelayCursorTable;
  quarantine: QuarantineTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  subscription_state: SubscriptionStateTable;
  delivery_backloads: DeliveryBackloadsTable;
  delivery_throttle: DeliveryThrottleTable;
  api_keys: ApiKeysTable;
  writebacks: WritebacksTable;
  writeback_audit: WritebackAuditTable;
  fleet_connections: FleetConnectionsTable;
  fleet_runs: FleetRunsTable;
  store_settings: StoreSettingsTable;
  schema_migrations: SchemaMigrationsTable;
}
