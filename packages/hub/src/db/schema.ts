import type { ColumnType, Generated } from 'kysely';

/**
 * A `timestamptz` column: read back as ISO text (the store's type parsers, shared with the
 * delivery store on the same connection), written as a Date or ISO text.
 */
export type Timestamp = ColumnType<string, Date | string, Date | string>;

/**
 * The hub's tables as kysely sees them (db/migrations.ts creates them). One description for
 * PostgreSQL and PGlite: both are PostgreSQL, so the same SQL runs on either.
 */
export interface HubDatabase {
  hub_migrations: { version: number; name: string; applied_at: Timestamp };
  hub_vendors: { id: string; name: string; created_at: Timestamp };
  hub_sites: HubSiteTable;
  hub_connections: {
    id: string;
    site_id: string;
    connector: string;
    created_at: Timestamp;
    /** Highest agent sequence of this connection held in the event log. */
    relay_sequence: ColumnType<number | null, number | null | undefined, number | null>;
  };
  hub_enrollment_keys: {
    id: string;
    site_id: string;
    secret_hash: string;
    created_at: Timestamp;
    expires_at: Timestamp;
    used_at: Timestamp | null;
  };
  hub_agent_credentials: {
    id: string;
    site_id: string;
    secret_hash: string;
    /** `active`: accepted at hello. `pending`: sent to the agent by a rotation, active once used. */
    state: 'active' | 'pending';
    created_at: Timestamp;
    revoked_at: Timestamp | null;
    last_used_at: Timestamp | null;
  };
  hub_api_keys: {
    id: string;
    vendor_id: string;
    name: string;
    secret_hash: string;
    all_sites: boolean;
    site_ids: ColumnType<string[], string, string>;
    created_at: Timestamp;
    revoked_at: Timestamp | null;
    expires_at: Timestamp | null;
  };
  hub_users: {
    id: string;
    vendor_id: string;
    email: string;
    password_hash: string;
    created_at: Timestamp;
    revoked_at: Timestamp | null;
    /** The TOTP secret, sealed with the console key (console/secret-box.ts). */
    totp_secret: ColumnType<string | null, string | null | undefined, string | null>;
    /** The last TOTP time step accepted (a code is never accepted twice). */
    totp_last_step: ColumnType<number | null, number | null | undefined, number | null>;
  };
  hub_event_keys: { site_id: string; event_id: string; received_at: Timestamp };
  hub_events: HubEventTable;
  hub_writebacks: HubWritebackTable;
  hub_access_log: {
    id: Generated<number>;
    at: Timestamp;
    vendor_id: string;
    key_id: string;
    site_id: string;
    action: string;
    events: number;
    after_seq: number | null;
    last_seq: number | null;
  };
  hub_nodes: { id: string; started_at: Timestamp; heartbeat_at: Timestamp };
  hub_subscriptions: HubSubscriptionTable;
  /** The last position of each site's log handed to webhook delivery (docs/hub.md, "Webhooks from the hub"). */
  hub_fanout: { site_id: string; seq: number };
  hub_commands: HubCommandTable;
  hub_releases: HubReleaseTable;
  hub_console_sessions: {
    /** SHA-256 of the session token (the cookie holds the token). */
    id: string;
    user_id: string;
    csrf_token: string;
    created_at: Timestamp;
    expires_at: Timestamp;
  };
  hub_site_freshness: {
    site_id: string;
    at: Timestamp;
    /** Seconds since the oldest last successful read across the site's streams; null: a stream never read. */
    freshness_seconds: number | null;
    health: string;
    /** Rows in the agent's quarantine at that time (null: not counted by that agent). */
    quarantined: ColumnType<number | null, number | null | undefined, number | null>;
  };
  hub_alerts: {
    id: Generated<number>;
    site_id: string;
    /** One of ALERT_KINDS (alerts.ts). */
    kind: string;
    /** What in the site: a stream (`<connection>/<stream>`), a writeback id, or '' for the site. */
    subject: string;
    message: string;
    opened_at: Timestamp;
    resolved_at: Timestamp | null;
  };
  hub_audit: {
    id: Generated<number>;
    at: Timestamp;
    actor: string;
    site_id: string | null;
    action: string;
    detail: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  };
}

export interface HubSiteTable {
  id: string;
  vendor_id: string;
  name: string;
  connector: string;
  contact_name: string | null;
  contact_email: string | null;
  server: string | null;
  port: number | null;
  database_name: string | null;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
  purged_at: Timestamp | null;
  /** The site's event-log counter: each stored event takes the next number (gapless, per site). */
  last_event_seq: ColumnType<number, number | undefined, number>;
  /** The node holding the site's link, while one is open. */
  link_node: string | null;
  link_opened_at: Timestamp | null;
  link_closed_at: Timestamp | null;
  last_seen_at: Timestamp | null;
  agent_version: string | null;
  /** The agent's last `status` frame (no PHI: counts, times, codes). */
  status_json: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  /** The connections and capabilities of the last `hello`. */
  hello_json: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  /** What vendors were last told: `site.online` / `site.offline` (or nothing yet). */
  presence: ColumnType<'never' | 'online' | 'offline', 'never' | 'online' | 'offline' | undefined>;
  /** What vendors were last told: `site.degraded` / `site.recovered`. */
  health: ColumnType<'ok' | 'degraded', 'ok' | 'degraded' | undefined>;
  /** The last upgrade outcome announced (`<commandId>:<outcome>`), so a repeated status announces nothing. */
  last_upgrade_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** Oldest last successful read across the streams of the last status (the sites list sorts by it). */
  oldest_success_at: ColumnType<string | null, Date | string | null | undefined, Date | string | null>;
}

/** An agent release the hub serves to upgrading agents (`tendril hub release add`). */
export interface HubReleaseTable {
  version: string;
  platform: string;
  file_name: string;
  /** Lowercase hex SHA-256 of the tarball, checked against its `.sha256` file when added. */
  sha256: string;
  /** The detached Ed25519 signature (base64) from the `.sig` file; the agent verifies it. */
  signature: string;
  bytes: number;
  content: Buffer;
  added_at: Timestamp;
  added_by: string;
}

export interface HubEventTable {
  site_id: string;
  site_seq: number;
  connection_id: string;
  event_id: string;
  sequence: number;
  type: string;
  resource_type: string;
  resource_id: string;
  kind: string;
  source_id: string;
  connector_id: string;
  refs: ColumnType<Record<string, unknown>, string, string>;
  envelope: ColumnType<Record<string, unknown>, string, string>;
  received_at: Timestamp;
}

export interface HubWritebackTable {
  id: string;
  vendor_id: string;
  key_id: string;
  site_id: string;
  connection_id: string;
  command: string;
  idempotency_key: string;
  payload_hash: string;
  input: ColumnType<Record<string, unknown>, string, string>;
  resource_type: string;
  status: 'accepted' | 'written' | 'failed' | 'timed_out';
  /** `queued` in the hub, `sent` down a link, then the agent's phases. */
  phase: 'queued' | 'sent' | 'executing' | 'verifying' | 'done';
  accepted_at: Timestamp;
  deadline: Timestamp;
  sent_at: Timestamp | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** The agent's result document (docs/writeback.md, "Lifecycle and guarantees"), translated to the vendor's view. */
  result: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  updated_at: Timestamp;
}

/** A vendor's webhook subscription; its secrets and API key value are sealed (delivery/sealed.ts). */
export interface HubSubscriptionTable {
  id: string;
  vendor_id: string;
  /** The API key that created it (audit only: the subscription belongs to the vendor). */
  key_id: string;
  url: string;
  allow_insecure: boolean;
  format: 'json' | 'fhir' | 'flat';
  all_sites: boolean;
  site_ids: ColumnType<string[], string, string>;
  resource_types: ColumnType<string[], string, string>;
  event_types: ColumnType<string[], string, string>;
  secrets_sealed: string;
  api_key_sealed: string | null;
  policy: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  timeout_seconds: number;
  enabled: boolean;
  disable_on_410: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
}

export interface HubCommandTable {
  id: string;
  site_id: string;
  /** Who asked: `admin` (the CLI), `user:<e-mail>` (the console). */
  actor: string;
  name: string;
  args: ColumnType<Record<string, unknown>, string, string>;
  /** `queued` in the hub, `sent` down a link, then the agent's answer or `timed_out`. */
  status: 'queued' | 'sent' | 'ok' | 'refused' | 'failed' | 'timed_out';
  message: string | null;
  /** `logs`: `{ lines }`; `support-bundle`: `{ bundle }`. PHI-free (the agent redacts). */
  output: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  requested_at: Timestamp;
  sent_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** `upgrade`: how it ended once the agent reported (`upgraded` / `upgrade_failed`). */
  outcome: ColumnType<'upgraded' | 'upgrade_failed' | null, 'upgraded' | 'upgrade_failed' | null | undefined>;
  outcome_reason: ColumnType<string | null, string | null | undefined>;
  outcome_at: ColumnType<string | null, Date | string | null | undefined, Date | string | null>;
}
