import type { Migration } from '../dialect.js';

/**
 * Schema step 4: writeback (docs/writeback.md, "Lifecycle and guarantees"). Kept in its own file; listed in `SQLITE_MIGRATIONS`.
 *
 * - `api_keys`: one row per client key; only the SHA-256 of its secret is stored.
 * - `writebacks`: the command queue and its results. `UNIQUE (client_id, connection_id,
 *   idempotency_key)` is what makes a retried POST return the same command instead of a second write.
 * - `writeback_audit`: append-only (the application never updates or deletes it): state changes,
 *   statement texts (placeholders only, no values), vendor API calls (method, path, status).
 * - `shadow_resource_id`: resolves a framework id to its vendor key for command inputs.
 */
export const WRITEBACK_MIGRATION: Migration = {
  version: 4,
  name: 'writeback queue, audit log, api keys',
  sql: `
    CREATE TABLE api_keys (
      id                TEXT PRIMARY KEY,
      name              TEXT NOT NULL,
      secret_hash       TEXT NOT NULL,
      connections_json  TEXT NOT NULL,
      subscriptions_json TEXT NOT NULL,
      created_at        TEXT NOT NULL,
      revoked_at        TEXT
    );

    CREATE TABLE writebacks (
      id              TEXT PRIMARY KEY,
      client_id       TEXT NOT NULL,
      connection_id   TEXT NOT NULL,
      command         TEXT NOT NULL,
      idempotency_key TEXT NOT NULL,
      payload_hash    TEXT NOT NULL,
      input_json      TEXT NOT NULL,
      status          TEXT NOT NULL CHECK (status IN ('accepted', 'written', 'failed', 'timed_out')),
      phase           TEXT NOT NULL CHECK (phase IN ('queued', 'executing', 'verifying', 'done')),
      accepted_at     TEXT NOT NULL,
      deadline        TEXT NOT NULL,
      started_at      TEXT,
      finished_at     TEXT,
      resource_type   TEXT NOT NULL,
      source_id       TEXT,
      resource_id     TEXT,
      resource_json   TEXT,
      matched         INTEGER,
      warnings_json   TEXT NOT NULL DEFAULT '[]',
      error_json      TEXT,
      compensated     INTEGER,
      UNIQUE (client_id, connection_id, idempotency_key)
    );
    CREATE INDEX writebacks_queue ON writebacks (phase, accepted_at) WHERE phase IN ('queued', 'executing');
    CREATE INDEX writebacks_resource ON writebacks (connection_id, resource_type, resource_id) WHERE resource_id IS NOT NULL;

    CREATE TABLE writeback_audit (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      writeback_id TEXT NOT NULL REFERENCES writebacks (id),
      at           TEXT NOT NULL,
      action       TEXT NOT NULL,
      detail_json  TEXT
    );
    CREATE INDEX writeback_audit_writeback ON writeback_audit (writeback_id, id);

    CREATE INDEX shadow_resource_id ON shadow (connection_id, resource_type, resource_id);
  `,
};
