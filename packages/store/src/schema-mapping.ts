/**
 * How the SQLite schema (sqlite/migrations.ts) and the PostgreSQL schema (postgres/migrations.ts)
 * correspond: the same tables, columns, nullability, primary keys and indexes, with types equal
 * after this mapping. schema.test.ts migrates a real database of each kind and holds them to it, so
 * a column or an index added to one side only fails there.
 */

/** A SQLite type's PostgreSQL counterparts when a column declares nothing else. */
export const DEFAULT_POSTGRES_TYPES: Readonly<Record<string, readonly string[]>> = {
  TEXT: ['text'],
  // Sequences, ids and epoch milliseconds are bigint; counts and HTTP statuses integer.
  INTEGER: ['bigint', 'integer'],
};

/**
 * Columns PostgreSQL stores in a richer type than the SQLite default: instants of the Store API
 * (`timestamptz`, read back as the same ISO text), JSON (`json` kept byte for byte, `jsonb` where
 * only the value matters) and flags (`boolean`, 0/1 in SQLite).
 */
export const DECLARED_POSTGRES_TYPES: Readonly<Record<string, string>> = {
  'schema_migrations.applied_at': 'timestamp with time zone',
  'stream_state.state_json': 'jsonb',
  'stream_state.updated_at': 'timestamp with time zone',
  'shadow.deleted': 'boolean',
  'shadow.last_seen_at': 'timestamp with time zone',
  'outbox.envelope_json': 'json',
  'outbox.refs_json': 'json',
  'outbox.created_at': 'timestamp with time zone',
  'runs.started_at': 'timestamp with time zone',
  'runs.finished_at': 'timestamp with time zone',
  'runs.counts_json': 'jsonb',
  'runs.error_json': 'jsonb',
  'relay_cursor.updated_at': 'timestamp with time zone',
  'quarantine.first_seen_at': 'timestamp with time zone',
  'quarantine.last_seen_at': 'timestamp with time zone',
  'deliveries.head': 'boolean',
  'deliveries.redrive': 'boolean',
  'delivery_attempts.probe': 'boolean',
  'api_keys.connections_json': 'json',
  'api_keys.subscriptions_json': 'json',
  'writebacks.input_json': 'json',
  'writebacks.resource_json': 'json',
  'writebacks.matched': 'boolean',
  'writebacks.warnings_json': 'json',
  'writebacks.error_json': 'json',
  'writebacks.compensated': 'boolean',
  'writeback_audit.detail_json': 'json',
};

/**
 * Tables only PostgreSQL has: the token bucket every worker shares (docs/delivery.md, "Throttling"; one SQLite
 * process keeps its bucket in memory) and the fleet (docs/fleet.md; a SQLite agent reads its
 * connections from the config file).
 */
export const POSTGRES_ONLY_TABLES: readonly string[] = [
  'delivery_throttle',
  'fleet_connections',
  'fleet_runs',
];
