/**
 * What the status page, `/v1/status`, `/healthz` and `/metrics` show. The agent builds it from the
 * store and the scheduler on every request; the API only renders it. A number that Tendril cannot
 * know yet (dead letters before delivery exists, writebacks before writeback exists) is `null`
 * and shown as "n/a", never as 0.
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
  };
  readonly connections: readonly ConnectionStatus[];
}

export const AGENT_STATES = ['starting', 'running', 'stopping'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export interface AgentStatus {
  readonly version: string;
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
  readonly writebackWorker: 'running' | 'not-yet';
}

export interface RunCountsStatus {
  readonly read: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
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
  readonly deadLetters: number | null;
  readonly pendingWritebacks: number | null;
  readonly scripts: readonly {
    readonly name: string;
    readonly element: string;
    readonly lastRunAt?: string;
    readonly lastError?: { readonly code: string; readonly message: string };
  }[];
  readonly streams: readonly StreamStatus[];
}

/** The overall verdict, for `/healthz` and the page header. */
export interface HealthVerdict {
  /** `down`: not ready (store failing, starting or stopping). `degraded`: serving, but a stream fails or is stale. */
  readonly status: 'ok' | 'degraded' | 'down';
  readonly live: true;
  readonly ready: boolean;
  readonly uptimeSeconds: number;
  readonly streams: {
    readonly healthy: number;
    readonly unhealthy: number;
    readonly unknown: number;
    readonly stale: number;
  };
  readonly problems: readonly string[];
}

/** Liveness (the process answers) and readiness (running with a working store), plus stream health. */
export function healthOf(snapshot: StatusSnapshot): HealthVerdict {
  const streams = { healthy: 0, unhealthy: 0, unknown: 0, stale: 0 };
  const problems: string[] = [];
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
  }
  if (!snapshot.store.ok) problems.unshift(`store: ${snapshot.store.error?.code ?? 'failing'}`);
  if (snapshot.agent.state !== 'running') problems.unshift(`agent is ${snapshot.agent.state}`);
  const ready = snapshot.agent.state === 'running' && snapshot.store.ok;
  const status = !ready ? 'down' : streams.unhealthy > 0 || streams.stale > 0 ? 'degraded' : 'ok';
  return { status, live: true, ready, uptimeSeconds: snapshot.agent.uptimeSeconds, streams, problems };
}
