import type { Migration } from '../dialect.js';

/**
 * Schema step 2: the delivery tables (docs/delivery.md, "Failure classes" and "Dead letters and replay"). Kept in its own file so the delivery
 * schema is read in one place; listed in `SQLITE_MIGRATIONS`.
 *
 * Times here are epoch milliseconds (INTEGER, BIGINT on PostgreSQL), not ISO text: the dispatcher
 * compares and adds them on every lease, and its clock is injected in tests.
 *
 * - `deliveries`: one row per (subscription, event) send job. `head` = 1 marks the one pending row
 *   per (subscription, resource_type, resource_id) that may be leased (docs/delivery.md, "Ordering"); it is kept
 *   up to date by every write, so the lease query is one index range scan. `queue_pos` orders a key
 *   (the event sequence; a manual replay queues behind). Dead letters stay here (`status = 'dead'`).
 * - `delivery_attempts`: number, start, end, HTTP status or transport error, response size. No bodies.
 * - `subscription_state`: run-time state (active / unreachable / paused / disabled) and the run of
 *   consecutive permanent failures.
 * - `delivery_backloads`: resumable backload jobs (cursor over the outbox).
 */
export const DELIVERY_MIGRATION: Migration = {
  version: 2,
  name: 'deliveries, attempts, subscription state, backloads',
  sql: `
    CREATE TABLE deliveries (
      id               INTEGER PRIMARY KEY AUTOINCREMENT,
      subscription_id  TEXT NOT NULL,
      event_id         TEXT NOT NULL REFERENCES outbox (id),
      event_type       TEXT NOT NULL,
      connection_id    TEXT NOT NULL,
      resource_type    TEXT NOT NULL,
      resource_id      TEXT NOT NULL,
      sequence         INTEGER NOT NULL,
      queue_pos        INTEGER NOT NULL,
      status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
      origin           TEXT NOT NULL CHECK (origin IN ('live', 'backload', 'replay', 'redrive')),
      head             INTEGER NOT NULL CHECK (head IN (0, 1)),
      attempts         INTEGER NOT NULL DEFAULT 0,
      due_at_ms        INTEGER NOT NULL,
      eligible_at_ms   INTEGER,
      lease_owner      TEXT,
      lease_expires_ms INTEGER,
      created_at_ms    INTEGER NOT NULL,
      finished_at_ms   INTEGER,
      last_status      INTEGER,
      last_error       TEXT,
      dead_reason      TEXT CHECK (dead_reason IN ('permanent', 'gone', 'retries-exhausted', 'lifetime-exceeded')),
      redrive          INTEGER NOT NULL DEFAULT 0 CHECK (redrive IN (0, 1)),
      replay_of        INTEGER REFERENCES deliveries (id)
    );
    -- The key's queue (head selection, ordering) over pending rows only.
    CREATE INDEX deliveries_key ON deliveries (subscription_id, resource_type, resource_id, queue_pos, id)
      WHERE status = 'pending';
    -- The lease scan: due heads, oldest due first.
    CREATE INDEX deliveries_due ON deliveries (due_at_ms, id) WHERE status = 'pending' AND head = 1;
    CREATE INDEX deliveries_subscription ON deliveries (subscription_id, status, id);
    CREATE INDEX deliveries_event ON deliveries (event_id, subscription_id);
    CREATE INDEX deliveries_redrive ON deliveries (subscription_id, id) WHERE status = 'dead' AND redrive = 1;

    CREATE TABLE delivery_attempts (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      delivery_id    INTEGER NOT NULL REFERENCES deliveries (id),
      number         INTEGER NOT NULL,
      started_at_ms  INTEGER NOT NULL,
      ended_at_ms    INTEGER NOT NULL,
      status         INTEGER,
      error          TEXT,
      response_bytes INTEGER,
      outcome        TEXT NOT NULL CHECK (outcome IN ('delivered', 'retryable', 'permanent')),
      probe          INTEGER NOT NULL DEFAULT 0 CHECK (probe IN (0, 1))
    );
    CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, number);

    CREATE TABLE subscription_state (
      subscription_id      TEXT PRIMARY KEY,
      state                TEXT NOT NULL CHECK (state IN ('active', 'unreachable', 'paused', 'disabled')),
      reason               TEXT,
      consecutive_failures INTEGER NOT NULL DEFAULT 0,
      changed_at_ms        INTEGER NOT NULL,
      next_probe_at_ms     INTEGER
    );

    CREATE TABLE delivery_backloads (
      id                  INTEGER PRIMARY KEY AUTOINCREMENT,
      subscription_id     TEXT NOT NULL,
      filter_json         TEXT NOT NULL,
      after_connection_id TEXT,
      after_sequence      INTEGER,
      enqueued            INTEGER NOT NULL DEFAULT 0,
      started_at_ms       INTEGER NOT NULL,
      finished_at_ms      INTEGER
    );
    CREATE INDEX delivery_backloads_open ON delivery_backloads (subscription_id, filter_json) WHERE finished_at_ms IS NULL;

    -- Backload reads the latest event of each resource.
    CREATE INDEX outbox_resource_latest ON outbox (connection_id, resource_type, resource_id, sequence);
  `,
};
