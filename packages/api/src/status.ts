/**
 * What the status page, `/v1/status`, `/readyz` and `/metrics` show. The agent builds it from the
 * store and the scheduler on every request; the API only renders it. A number Tendril cannot know
 * (the store failed) is `null` and shown
 * as "n/a", never as 0.
 *
 * Nothing here may carry patient data: counts, times, stream names, error codes and the
 * PHI-free error messages of the catalog (docs/errors.md).
 */
export interface StatusSnapshot {
  readonly generatedAt: string;
  readonly agent: AgentStatus;
  readonly store: {
    readonly ok: boolean;
    readonly error?: { readonly code: string; readonly message: string };
    /**
     * Whether the store's payloads are encrypted at rest with the site key, or plain text (no site
     * key: the demo, a trial). Null when unknown (docs/security.md, "PHI at rest").
     */
    readonly encryption?: 'site-key' | 'none' | null;
    /** The store's size on disk in bytes (SQLite: file and WAL; PostgreSQL: its tables). Null when unknown. */
    readonly sizeBytes?: number | null;
  };
  readonly connections: readonly ConnectionStatus[];
}

export const AGENT_STATES = ['starting', 'running', 'stopping'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** How the last remote upgrade ended, as the supervisor recorded it (docs/hub.md, "Remote upgrade"). */
export interface LastUpgradeStatus {
  readonly commandId: string;
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly outcome: 'upgraded' | 'upgrade_failed';
  /** Plain words, PHI-free. */
  readonly reason?: string;
  readonly at: string;
}

export interface AgentStatus {
  readonly version: string;
  /** The last remote upgrade, when this agent ever had one. */
  readonly lastUpgrade?: LastUpgradeStatus;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly state: AgentState;
  /** A stream with no successful read for longer than this is degraded. */
  readonly readStaleMinutes: number;
  /** The webhook dispatcher; `not-yet` until the component exists in this version. */
  readonly delivery: 'running' | 'not-yet';
  /**
   * Deliveries over all subscriptions (the store counts them per subscription, not per
   * connection): pending (due, in flight or waiting to retry) and dead letters. Null when unknown.
   */
  readonly deliveries: {
    readonly subscriptions: number;
    readonly pending: number | null;
    readonly dead: number | null;
  };
  /** Every configured subscription and how delivery to it stands (delivery.md). */
  readonly subscriptions: readonly SubscriptionStatus[];
  readonly writebackWorker: 'running' | 'not-yet';
}

export const SUBSCRIPTION_STATUSES = ['active', 'unreachable', 'paused', 'disabled'] as const;

/** One webhook subscription: its run state (or disabled in the config) and its queue. */
export interface SubscriptionStatus {
  readonly id: string;
  /** `enabled: false` in the config: never sent to, and not a problem. */
  readonly enabled: boolean;
  /** `unreachable`: probed until it answers; `paused`/`disabled`: waits for `tendril deliveries resume`. */
  readonly state: (typeof SUBSCRIPTION_STATUSES)[number];
  /** Why it left `active` (no bodies, no secrets). */
  readonly reason?: string;
  /** When it entered this state. */
  readonly since?: string;
  readonly pending: number | null;
  readonly dead: number | null;
}

export interface RunCountsStatus {
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
  /** Rows the run skipped into quarantine (docs/quarantine.md). */
  readonly quarantined?: number;
  /** Values the run dropped with a warning code (docs/errors.md, "Warning codes"). */
  readonly warnings?: number;
}

export interface StreamStatus {
  readonly stream: string;
  readonly mode?: string;
  /** What the stream is verified against at this site ("verified at install (tendril map, …)", or its evidence). */
  readonly verification?: string;
  /** `unknown` until this process finished a poll of it; `unhealthy` while polls fail and are retried with backoff. */
  readonly status: 'unknown' | 'healthy' | 'unhealthy';
  /** No successful read for longer than `readStaleMinutes` (`agent.health.degraded`). */
  readonly stale: boolean;
  readonly lastPollStartedAt?: string;
  /** End of the last successful poll (agent clock). */
  readonly lastPollFinishedAt?: string;
  /** Seconds since the last successful poll; null when there was none. */
  readonly lagSeconds: number | null;
  /** The age of the last successful read against the stream's schedule. */
  readonly freshness: Freshness;
  /**
   * Rows of this stream in quarantine: they failed mapping or validation and are skipped until
   * they change and map (docs/quarantine.md). Null: the store could not be read.
   */
  readonly quarantined: number | null;
  /** The cursor as the store holds it, in the column's own clock domain. */
  readonly watermark?: string;
  readonly consecutiveFailures: number;
  readonly nextRetryAt?: string;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string };
  /** Records of this stream currently live in the shadow store; null when the store cannot be read. */
  readonly liveRecords: number | null;
  readonly lastRun?: {
    readonly kind: string;
    readonly status: string;
    readonly startedAt: string;
    readonly finishedAt?: string;
    readonly counts: RunCountsStatus;
  };
  readonly lastNightlyAt?: string;
  readonly lastNightlyError?: { readonly code: string; readonly message: string };
}

export const FRESHNESS_STATES = ['fresh', 'late', 'stale', 'never'] as const;

/**
 * How current a stream's data is: the age of its last successful read compared with how often
 * the schedule reads it. `late`: more than two poll intervals (a poll was missed or failed);
 * `stale`: past `health.readStaleMinutes` (a problem); `never`: not read yet.
 */
export interface Freshness {
  readonly state: (typeof FRESHNESS_STATES)[number];
  /** End of the last successful read (agent clock). */
  readonly lastReadAt?: string;
  readonly ageSeconds: number | null;
  /** The poll interval of the connection's schedule. */
  readonly expectedEverySeconds: number;
}

export interface ConnectionStatus {
  readonly id: string;
  readonly connector: string;
  readonly timezone: string;
  readonly nextPollAt?: string;
  readonly nextNightlyAt?: string;
  readonly lastNightlyAt?: string;
  readonly pollIntervalSeconds: number;
  readonly offsetSeconds: number;
  readonly running: readonly string[];
  readonly skippedTicks: number;
  readonly outbox: {
    /** Events in the outbox; null when the store cannot be read. */
    readonly events: number | null;
    /** Events of this connection not yet delivered to every subscription; null while the store cannot count it per connection. */
    readonly undelivered: number | null;
  };
  /** Dead-lettered deliveries of this connection's events, all subscriptions. */
  readonly deadLetters: number | null;
  /** Writeback commands of this connection accepted and not yet finished. */
  readonly pendingWritebacks: number | null;
  /** Rows of this connection in quarantine (sum of its streams); null: the store could not be read. */
  readonly quarantined: number | null;
  readonly scripts: readonly {
    readonly name: string;
    readonly element: string;
    readonly lastRunAt?: string;
    readonly lastError?: { readonly code: string; readonly message: string };
  }[];
  readonly streams: readonly StreamStatus[];
}

/** The overall verdict, for `/readyz`, the page header and `tendril_agent_ready`. */
export interface HealthVerdict {
  /**
   * `down`: not serving (starting, stopping, store failing). `degraded`: running, but something
   * needs attention (a failing or stale stream, a subscription not delivering, dead letters,
   * quarantined rows). `ok`: nothing to do.
   */
  readonly status: 'ok' | 'degraded' | 'down';
  /** The agent loop runs (starting or running): what `/healthz` answers 200 to. */
  readonly live: boolean;
  /** Nothing to do: `status` is `ok` (`/readyz` 200). */
  readonly ready: boolean;
  readonly uptimeSeconds: number;
  readonly streams: {
    readonly healthy: number;
    readonly unhealthy: number;
    readonly unknown: number;
    readonly stale: number;
  };
  /** Each reason in plain words, most serious first. */
  readonly problems: readonly string[];
}

const plural = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/**
 * The verdict behind `/readyz` and the page: agent state and store, then streams (failing,
 * stale), delivery (subscriptions unreachable, paused or disabled by failures; dead letters) and
 * quarantined rows. Any problem makes a running agent `degraded`.
 */
export function healthOf(snapshot: StatusSnapshot): HealthVerdict {
  const streams = { healthy: 0, unhealthy: 0, unknown: 0, stale: 0 };
  const problems: string[] = [];
  if (snapshot.agent.state !== 'running') problems.push(`agent is ${snapshot.agent.state}`);
  if (!snapshot.store.ok) problems.push(`store: ${snapshot.store.error?.code ?? 'failing'}`);
  for (const connection of snapshot.connections) {
    for (const s of connection.streams) {
      streams[s.status]++;
      if (s.stale) streams.stale++;
      if (s.status === 'unhealthy')
        problems.push(`${connection.id}/${s.stream}: failing (${s.lastError?.code ?? 'unknown error'})`);
      if (s.stale)
        problems.push(
          `${connection.id}/${s.stream}: no successful read for more than ${snapshot.agent.readStaleMinutes} minutes`,
        );
    }
    if (connection.quarantined !== null && connection.quarantined > 0)
      problems.push(
        `${connection.id}: ${plural(connection.quarantined, 'row')} in quarantine: tendril quarantine list --connection ${connection.id}`,
      );
  }
  for (const sub of snapshot.agent.subscriptions) {
    if (!sub.enabled) continue;
    switch (sub.state) {
      case 'active':
        break;
      case 'unreachable':
        problems.push(
          `subscription ${sub.id}: unreachable: ${sub.reason ?? 'the endpoint does not answer; deliveries wait and resume when it does'}`,
        );
        break;
      case 'paused':
      case 'disabled':
        problems.push(
          `subscription ${sub.id}: ${sub.state}: ${sub.reason ?? 'fix the receiver, then tendril deliveries resume'} (--subscription ${sub.id})`,
        );
        break;
      default:
        sub.state satisfies never;
    }
  }
  const dead = snapshot.agent.deliveries.dead;
  if (dead !== null && dead > 0)
    problems.push(
      `${plural(dead, 'dead letter')}: tendril deliveries list --status dead, then retry or replay`,
    );
  const live = snapshot.agent.state === 'starting' || snapshot.agent.state === 'running';
  const serving = snapshot.agent.state === 'running' && snapshot.store.ok;
  const status = !serving ? 'down' : problems.length > 0 ? 'degraded' : 'ok';
  return {
    status,
    live,
    ready: status === 'ok',
    uptimeSeconds: snapshot.agent.uptimeSeconds,
    streams,
    problems,
  };
}
