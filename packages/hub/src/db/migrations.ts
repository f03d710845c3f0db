import { sql, type Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import type { HubDatabase } from './schema.js';

/** One schema step of the hub. Applied in `version` order, never edited once released. */
export interface HubMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The hub's schema, the same on PostgreSQL and PGlite. The event log is partitioned by the time
 * the hub received each event (one partition per UTC day, created ahead by the maintenance job,
 * dropped whole by retention); a DEFAULT partition catches anything outside them so an insert
 * never fails for want of a partition. Deduplication by (site, event id) lives in
 * `hub_event_keys`, because a unique index on a partitioned table must include the partition key.
 */
export const HUB_MIGRATIONS: readonly HubMigration[] = [
  {
    version: 1,
    name: 'vendors, sites, enrollment, credentials, keys, event log, writebacks, access log, nodes',
    sql: `
      CREATE TABLE hub_vendors (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL
      );

      CREATE TABLE hub_sites (
        id             TEXT PRIMARY KEY,
        vendor_id      TEXT NOT NULL REFERENCES hub_vendors (id),
        name           TEXT NOT NULL,
        connector      TEXT NOT NULL,
        contact_name   TEXT,
        contact_email  TEXT,
        server         TEXT,
        port           INTEGER,
        database_name  TEXT,
        created_at     TIMESTAMPTZ NOT NULL,
        revoked_at     TIMESTAMPTZ,
        purged_at      TIMESTAMPTZ,
        last_event_seq BIGINT NOT NULL DEFAULT 0,
        link_node      TEXT,
        link_opened_at TIMESTAMPTZ,
        link_closed_at TIMESTAMPTZ,
        last_seen_at   TIMESTAMPTZ,
        agent_version  TEXT,
        status_json    JSONB,
        hello_json     JSONB,
        presence       TEXT NOT NULL DEFAULT 'never' CHECK (presence IN ('never', 'online', 'offline')),
        health         TEXT NOT NULL DEFAULT 'ok' CHECK (health IN ('ok', 'degraded'))
      );
      CREATE INDEX hub_sites_vendor ON hub_sites (vendor_id);

      CREATE TABLE hub_connections (
        id             TEXT PRIMARY KEY,
        site_id        TEXT NOT NULL REFERENCES hub_sites (id),
        connector      TEXT NOT NULL,
        created_at     TIMESTAMPTZ NOT NULL,
        relay_sequence BIGINT
      );
      CREATE INDEX hub_connections_site ON hub_connections (site_id);

      CREATE TABLE hub_enrollment_keys (
        id          TEXT PRIMARY KEY,
        site_id     TEXT NOT NULL REFERENCES hub_sites (id),
        secret_hash TEXT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        expires_at  TIMESTAMPTZ NOT NULL,
        used_at     TIMESTAMPTZ
      );

      CREATE TABLE hub_agent_credentials (
        id           TEXT PRIMARY KEY,
        site_id      TEXT NOT NULL REFERENCES hub_sites (id),
        secret_hash  TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('active', 'pending')),
        created_at   TIMESTAMPTZ NOT NULL,
        revoked_at   TIMESTAMPTZ,
        last_used_at TIMESTAMPTZ
      );
      CREATE INDEX hub_agent_credentials_site ON hub_agent_credentials (site_id);

      CREATE TABLE hub_api_keys (
        id          TEXT PRIMARY KEY,
        vendor_id   TEXT NOT NULL REFERENCES hub_vendors (id),
        name        TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        all_sites   BOOLEAN NOT NULL,
        site_ids    JSONB NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        revoked_at  TIMESTAMPTZ,
        expires_at  TIMESTAMPTZ
      );

      CREATE TABLE hub_users (
        id            TEXT PRIMARY KEY,
        vendor_id     TEXT NOT NULL REFERENCES hub_vendors (id),
        email         TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL,
        revoked_at    TIMESTAMPTZ
      );

      CREATE TABLE hub_event_keys (
        site_id     TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (site_id, event_id)
      );
      CREATE INDEX hub_event_keys_received ON hub_event_keys (received_at);

      CREATE TABLE hub_events (
        site_id       TEXT NOT NULL,
        site_seq      BIGINT NOT NULL,
        connection_id TEXT NOT NULL,
        event_id      TEXT NOT NULL,
        sequence      BIGINT NOT NULL,
        type          TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id   TEXT NOT NULL,
        kind          TEXT NOT NULL,
        source_id     TEXT NOT NULL,
        connector_id  TEXT NOT NULL,
        refs          JSON NOT NULL,
        envelope      JSON NOT NULL,
        received_at   TIMESTAMPTZ NOT NULL
      ) PARTITION BY RANGE (received_at);
      CREATE INDEX hub_events_site_seq ON hub_events (site_id, site_seq);
      CREATE TABLE hub_events_default PARTITION OF hub_events DEFAULT;

      CREATE TABLE hub_writebacks (
        id              TEXT PRIMARY KEY,
        vendor_id       TEXT NOT NULL REFERENCES hub_vendors (id),
        key_id          TEXT NOT NULL,
        site_id         TEXT NOT NULL REFERENCES hub_sites (id),
        connection_id   TEXT NOT NULL,
        command         TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        payload_hash    TEXT NOT NULL,
        input           JSONB NOT NULL,
        resource_type   TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('accepted', 'written', 'failed', 'timed_out')),
        phase           TEXT NOT NULL CHECK (phase IN ('queued', 'sent', 'executing', 'verifying', 'done')),
        accepted_at     TIMESTAMPTZ NOT NULL,
        deadline        TIMESTAMPTZ NOT NULL,
        sent_at         TIMESTAMPTZ,
        started_at      TIMESTAMPTZ,
        finished_at     TIMESTAMPTZ,
        result          JSONB,
        updated_at      TIMESTAMPTZ NOT NULL,
        UNIQUE (vendor_id, connection_id, idempotency_key)
      );
      CREATE INDEX hub_writebacks_open ON hub_writebacks (site_id, accepted_at) WHERE phase <> 'done';

      CREATE TABLE hub_access_log (
        id        BIGSERIAL PRIMARY KEY,
        at        TIMESTAMPTZ NOT NULL,
        vendor_id TEXT NOT NULL,
        key_id    TEXT NOT NULL,
        site_id   TEXT NOT NULL,
        action    TEXT NOT NULL,
        events    INTEGER NOT NULL,
        after_seq BIGINT,
        last_seq  BIGINT
      );
      CREATE INDEX hub_access_log_site ON hub_access_log (site_id, at);

      CREATE TABLE hub_audit (
        id      BIGSERIAL PRIMARY KEY,
        at      TIMESTAMPTZ NOT NULL,
        actor   TEXT NOT NULL,
        site_id TEXT,
        action  TEXT NOT NULL,
        detail  JSONB
      );

      CREATE TABLE hub_nodes (
        id           TEXT PRIMARY KEY,
        started_at   TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'vendor webhook subscriptions; the delivery fan-out position of each site; BRIN for dedupe-key pruning',
    sql: `
      CREATE TABLE hub_subscriptions (
        id              TEXT PRIMARY KEY,
        vendor_id       TEXT NOT NULL REFERENCES hub_vendors (id),
        key_id          TEXT NOT NULL,
        url             TEXT NOT NULL,
        allow_insecure  BOOLEAN NOT NULL,
        format          TEXT NOT NULL CHECK (format IN ('json', 'fhir', 'flat')),
        all_sites       BOOLEAN NOT NULL,
        site_ids        JSONB NOT NULL,
        resource_types  JSONB NOT NULL,
        event_types     JSONB NOT NULL,
        secrets_sealed  TEXT NOT NULL,
        api_key_sealed  TEXT,
        policy          JSONB,
        timeout_seconds INTEGER NOT NULL,
        enabled         BOOLEAN NOT NULL,
        disable_on_410  BOOLEAN NOT NULL,
        created_at      TIMESTAMPTZ NOT NULL,
        updated_at      TIMESTAMPTZ NOT NULL,
        deleted_at      TIMESTAMPTZ
      );
      CREATE INDEX hub_subscriptions_vendor ON hub_subscriptions (vendor_id) WHERE deleted_at IS NULL;

      -- Beside hub_sites, not in it: the relay locks the site row to number its log, and handing
      -- entries to delivery must not wait on that lock.
      CREATE TABLE hub_fanout (
        site_id TEXT PRIMARY KEY REFERENCES hub_sites (id),
        seq     BIGINT NOT NULL
      );
      INSERT INTO hub_fanout (site_id, seq) SELECT id, last_event_seq FROM hub_sites;

      -- The dedupe keys arrive in time order and are pruned by time: a BRIN index serves the prune
      -- and costs next to nothing per relayed event, where a b-tree cost one more index insert each.
      DROP INDEX hub_event_keys_received;
      CREATE INDEX hub_event_keys_received ON hub_event_keys USING brin (received_at);
    `,
  },
  {
    version: 3,
    name: 'remote commands and their history; console sessions, TOTP, freshness samples, alerts',
    sql: `
      CREATE TABLE hub_commands (
        id           TEXT PRIMARY KEY,
        site_id      TEXT NOT NULL REFERENCES hub_sites (id),
        actor        TEXT NOT NULL,
        name         TEXT NOT NULL,
        args         JSONB NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'ok', 'refused', 'failed', 'timed_out')),
        message      TEXT,
        output       JSONB,
        requested_at TIMESTAMPTZ NOT NULL,
        sent_at      TIMESTAMPTZ,
        finished_at  TIMESTAMPTZ
      );
      CREATE INDEX hub_commands_site ON hub_commands (site_id, requested_at);
      CREATE INDEX hub_commands_open ON hub_commands (site_id) WHERE status IN ('queued', 'sent');
      CREATE INDEX hub_sites_vendor_name ON hub_sites (vendor_id, name);

      ALTER TABLE hub_users ADD COLUMN totp_secret TEXT;
      ALTER TABLE hub_users ADD COLUMN totp_last_step BIGINT;

      CREATE TABLE hub_console_sessions (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES hub_users (id),
        csrf_token TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX hub_console_sessions_user ON hub_console_sessions (user_id);

      CREATE TABLE hub_site_freshness (
        site_id           TEXT NOT NULL,
        at                TIMESTAMPTZ NOT NULL,
        freshness_seconds INTEGER,
        health            TEXT NOT NULL,
        quarantined       INTEGER,
        PRIMARY KEY (site_id, at)
      );

      CREATE TABLE hub_alerts (
        id          BIGSERIAL PRIMARY KEY,
        site_id     TEXT NOT NULL REFERENCES hub_sites (id),
        kind        TEXT NOT NULL,
        subject     TEXT NOT NULL,
        message     TEXT NOT NULL,
        opened_at   TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ
      );
      CREATE UNIQUE INDEX hub_alerts_open ON hub_alerts (site_id, kind, subject) WHERE resolved_at IS NULL;
      CREATE INDEX hub_alerts_site ON hub_alerts (site_id, opened_at);
    `,
  },
  {
    version: 4,
    name: 'release store; upgrade outcomes; the freshness column of the sites list',
    sql: `
      -- Agent releases any node can serve (docs/hub.md, "Remote upgrade"). The tarball is kept whole
      -- in the row (about 20 MB); the download route reads it in slices, so no node holds it all.
      CREATE TABLE hub_releases (
        version    TEXT PRIMARY KEY,
        platform   TEXT NOT NULL,
        file_name  TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        signature  TEXT NOT NULL,
        bytes      BIGINT NOT NULL,
        content    BYTEA NOT NULL,
        added_at   TIMESTAMPTZ NOT NULL,
        added_by   TEXT NOT NULL
      );

      -- How an upgrade command ended, as the agent's status reported it after the switch.
      ALTER TABLE hub_commands ADD COLUMN outcome TEXT CHECK (outcome IN ('upgraded', 'upgrade_failed'));
      ALTER TABLE hub_commands ADD COLUMN outcome_reason TEXT;
      ALTER TABLE hub_commands ADD COLUMN outcome_at TIMESTAMPTZ;

      -- The last upgrade outcome announced for the site ('<commandId>:<outcome>'): a status repeats
      -- it on every tick, and only the update that changes this column announces it, once.
      ALTER TABLE hub_sites ADD COLUMN last_upgrade_key TEXT;
      -- The oldest last successful read across the site's streams (null: one never read), written
      -- with each status so the sites list sorts by freshness in the database.
      ALTER TABLE hub_sites ADD COLUMN oldest_success_at TIMESTAMPTZ;
      -- In the order of the list sorted freshest first (the column descending, never-read sites last).
      CREATE INDEX hub_sites_vendor_freshness ON hub_sites (vendor_id, oldest_success_at DESC NULLS LAST, id DESC);
    `,
  },
];

/** Advisory lock key of hub migrations ("tendrilh" as bytes), so nodes starting together migrate once. */
const MIGRATION_LOCK = 0x74656e6472696c68n;

/**
 * Creates or upgrades the hub schema inside one transaction holding an advisory lock; refuses a
 * database whose recorded versions go beyond the last step here (written by a newer Tendril).
 */
export async function migrateHub(db: Kysely<HubDatabase>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK.toString())}::bigint)`.execute(tx);
    await sql`CREATE TABLE IF NOT EXISTS hub_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL
    )`.execute(tx);
    const applied = new Set(
      (await tx.selectFrom('hub_migrations').select('version').execute()).map((r) => Number(r.version)),
    );
    const newest = HUB_MIGRATIONS[HUB_MIGRATIONS.length - 1]!.version;
    const beyond = [...applied].filter((v) => v > newest);
    if (beyond.length > 0) {
      throw new TendrilError(
        'TENDRIL_E_STORE_SCHEMA',
        `the hub database has schema version ${Math.max(...beyond)}, newer than this Tendril (${newest}); run the newer Tendril`,
      );
    }
    for (const migration of HUB_MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await sql.raw(migration.sql).execute(tx);
      await tx
        .insertInto('hub_migrations')
        .values({ version: migration.version, name: migration.name, applied_at: new Date() })
        .execute();
    }
  });
}

/**
 * The hub's own indexes on the delivery store's tables, made once those tables exist (the delivery
 * store migrates after the hub): the console counts waiting and dead-lettered deliveries per site
 * (console-store.ts, `openDeliveries`) over a partial index of those rows only, by the connection,
 * which maps to one site. Under the migration lock, so nodes starting together do not race.
 */
export async function ensureHubDeliveryIndexes(db: Kysely<HubDatabase>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK.toString())}::bigint)`.execute(tx);
    await sql`CREATE INDEX IF NOT EXISTS hub_deliveries_open_connection
      ON deliveries (connection_id, status) WHERE status IN ('pending', 'dead')`.execute(tx);
  });
}
