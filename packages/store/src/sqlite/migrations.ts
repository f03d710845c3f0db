import type { Migration } from '../dialect.js';
import { DELIVERY_MIGRATION } from './delivery-migration.js';
import { WRITEBACK_MIGRATION } from './writeback-migration.js';

/**
 * The SQLite schema, as numbered steps recorded in `schema_migrations`. A store whose highest
 * recorded version is above the last step here was written by a newer Tendril and is refused.
 *
 * Types are kept to what PostgreSQL also has (TEXT, INTEGER→BIGINT), so the PostgreSQL store can
 * mirror the same tables. Instants are ISO 8601 text normalised to `toISOString()` form, which
 * sorts lexicographically in time order.
 *
 * Room is left for the delivery tables (deliveries, delivery attempts, dead letters; docs/delivery.md):
 * they come as the next step(s), appended below, and reference `outbox(id)`.
 */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'stream state, shadow, outbox, sequences, runs',
    sql: `
      CREATE TABLE stream_state (
        connection_id TEXT NOT NULL,
        stream        TEXT NOT NULL,
        state_json    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (connection_id, stream)
      );

      CREATE TABLE shadow (
        connection_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        source_id     TEXT NOT NULL,
        resource_id   TEXT NOT NULL,
        stream        TEXT NOT NULL,
        hash          TEXT NOT NULL,
        deleted       INTEGER NOT NULL CHECK (deleted IN (0, 1)),
        last_seen_at  TEXT NOT NULL,
        PRIMARY KEY (connection_id, resource_type, source_id)
      );
      CREATE INDEX shadow_stream_live ON shadow (connection_id, stream, deleted, last_seen_at, source_id);

      CREATE TABLE outbox (
        id            TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL,
        sequence      INTEGER NOT NULL,
        type          TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id   TEXT NOT NULL,
        source_id     TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
        connector_id  TEXT NOT NULL,
        envelope_json TEXT NOT NULL,
        refs_json     TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        UNIQUE (connection_id, sequence)
      );
      CREATE INDEX outbox_resource_type ON outbox (resource_type);
      -- Listing across connections orders by (sequence, connection_id).
      CREATE INDEX outbox_sequence ON outbox (sequence, connection_id);

      CREATE TABLE connection_sequence (
        connection_id TEXT PRIMARY KEY,
        last_sequence INTEGER NOT NULL
      );

      CREATE TABLE runs (
        id            TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL,
        stream        TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('poll', 'backload', 'reconcile')),
        status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        counts_json   TEXT NOT NULL,
        error_json    TEXT
      );
      CREATE INDEX runs_connection_stream ON runs (connection_id, stream, started_at);
    `,
  },
  // The delivery tables (deliveries, attempts, subscription state, backloads): sqlite/delivery-migration.ts.
  DELIVERY_MIGRATION,
  {
    // Numbered 3 so that it applies after the delivery tables (version 2) whichever lands first.
    version: 3,
    name: 'shadow business date (window streams)',
    sql: `
      -- The business date (YYYY-MM-DD) of rows of a window stream (docs/sync-semantics.md, "Terms"): the
      -- next poll's delete candidates are the live rows dated inside the window that it did not see.
      ALTER TABLE shadow ADD COLUMN business_date TEXT;
      CREATE INDEX shadow_stream_business_date ON shadow (connection_id, stream, deleted, business_date, source_id);
    `,
  },
  // Writeback queue, audit log and API keys: sqlite/writeback-migration.ts.
  WRITEBACK_MIGRATION,
  // Version 5 is PostgreSQL's fleet tables; SQLite never has them. Version 7 is the quarantine.
  {
    version: 6,
    name: 'hub relay cursors',
    sql: `
      -- The highest outbox sequence the hub has acknowledged, per connection (docs/hub.md).
      CREATE TABLE relay_cursor (
        connection_id TEXT PRIMARY KEY,
        last_sequence INTEGER NOT NULL,
        updated_at    TEXT NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'row quarantine',
    sql: `
      -- Rows that failed mapping or validation, skipped so the rest of the stream goes on
      -- (docs/quarantine.md). Names and codes only: never a field value.
      CREATE TABLE quarantine (
        connection_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        source_id     TEXT NOT NULL,
        stream        TEXT NOT NULL,
        error_code    TEXT NOT NULL,
        field         TEXT,
        reason        TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL,
        count         INTEGER NOT NULL,
        PRIMARY KEY (connection_id, resource_type, source_id)
      );
      CREATE INDEX quarantine_stream ON quarantine (connection_id, stream, source_id);
    `,
  },
  {
    version: 8,
    name: 'store settings (payload key id), prune indexes',
    sql: `
      -- One row per setting; payload_key_id: the site key the payloads are sealed with
      -- (docs/security.md, "PHI at rest").
      CREATE TABLE store_settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      -- What the nightly prune walks (docs/store.md, "Retention and pruning").
      CREATE INDEX deliveries_finished ON deliveries (status, finished_at_ms);
      CREATE INDEX outbox_created ON outbox (created_at);
      CREATE INDEX writeback_audit_at ON writeback_audit (at);
      CREATE INDEX deliveries_replay_of ON deliveries (replay_of) WHERE replay_of IS NOT NULL;
    `,
  },
  {
    version: 9,
    name: 'shadow business-date index: dated rows only',
    sql: `
      -- Only window streams' rows have a business date, and only a dated query (business_date >= ?
      -- AND < ?, which implies IS NOT NULL) reads this index. Rows of other streams no longer enter
      -- it: their NULL date put them in key order by source id, which arrives in random order, so
      -- a backload dirtied pages all over this B-tree at every page commit (docs/performance.md,
      -- "The store's share").
      DROP INDEX shadow_stream_business_date;
      CREATE INDEX shadow_stream_business_date ON shadow (connection_id, stream, deleted, business_date, source_id)
        WHERE business_date IS NOT NULL;
    `,
  },
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION: number = SQLITE_MIGRATIONS.reduce(
  (max, m) => Math.max(max, m.version),
  0,
);
