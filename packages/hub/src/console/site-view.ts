/**
 * What the console shows of an agent's last status (docs/hub.md, "The console"), derived from the
 * `status` frame the hub keeps: freshness, the worst stream, quarantined rows, uptime.
 */
export interface StatusStream {
  readonly stream: string;
  readonly status: string;
  readonly stale: boolean;
  readonly lagSeconds: number | null;
  readonly lastSuccessAt: string | null;
  readonly lastErrorCode: string | null;
}
export interface StatusConnection {
  readonly id: string;
  readonly streams: readonly StatusStream[];
  readonly pendingWritebacks: number | null;
  readonly outboxEvents: number | null;
  readonly quarantined?: number | null;
}

/** The schedule a stream's lag is measured against (a poll every 10 minutes). */
export const SCHEDULE_SECONDS = 600;

export function connectionsOf(
  status: Readonly<Record<string, unknown>> | null | undefined,
): StatusConnection[] {
  const list = status?.['connections'];
  return Array.isArray(list) ? (list as StatusConnection[]) : [];
}

/**
 * Seconds since the oldest last successful read across the site's streams; null when a stream
 * has never been read (or no status came yet).
 */
export function freshnessSeconds(
  status: Readonly<Record<string, unknown>> | null | undefined,
  now: Date,
): number | null {
  const oldest = oldestSuccessAt(status);
  return oldest === null ? null : Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000));
}

/**
 * The oldest last successful read across the site's streams (what freshness counts from); null
 * when a stream has never been read or no status came yet. Stored as `hub_sites.oldest_success_at`
 * with each status so the sites list can sort by freshness in the database.
 */
export function oldestSuccessAt(status: Readonly<Record<string, unknown>> | null | undefined): Date | null {
  const streams = connectionsOf(status).flatMap((c) => c.streams);
  if (streams.length === 0) return null;
  let oldest = Infinity;
  for (const s of streams) {
    const at = s.lastSuccessAt ? Date.parse(s.lastSuccessAt) : Number.NaN;
    if (Number.isNaN(at)) return null;
    oldest = Math.min(oldest, at);
  }
  return new Date(oldest);
}

/** How bad each stream state is (the agent reports `unknown` before a stream's first poll). */
const RANK: Record<string, number> = {
  ok: 0,
  healthy: 0,
  unknown: 1,
  stale: 1,
  degraded: 1,
  unhealthy: 2,
  down: 3,
};

/** The worst stream state of the site (`ok` when all are fine), with how many are not fine. */
export function worstStream(status: Readonly<Record<string, unknown>> | null | undefined): {
  state: string;
  unhealthy: number;
} {
  let worst = 'ok';
  let unhealthy = 0;
  for (const s of connectionsOf(status).flatMap((c) => c.streams)) {
    const state = s.stale && (RANK[s.status] ?? 1) < 2 ? 'stale' : s.status;
    const rank = RANK[state] ?? 1;
    if (rank > 0) unhealthy += 1;
    if (rank > (RANK[worst] ?? 0)) worst = state;
  }
  return { state: worst, unhealthy };
}

export function quarantinedOf(status: Readonly<Record<string, unknown>> | null | undefined): number | null {
  let total: number | null = null;
  for (const c of connectionsOf(status))
    if (typeof c.quarantined === 'number') total = (total ?? 0) + c.quarantined;
  return total;
}

/** Plain words for the error codes an agent reports per stream (docs/errors.md has them all). */
export function plainError(code: string | null): string {
  if (!code) return '';
  const words: Record<string, string> = {
    TENDRIL_E_DB_CONNECT: 'the EHR database could not be reached',
    TENDRIL_E_DB_AUTH: 'the EHR database refused the login',
    TENDRIL_E_DB_PERMISSION: 'the database user lacks a right it needs',
    TENDRIL_E_DB_QUERY: 'a query against the EHR database failed',
    TENDRIL_E_STREAM_PAUSED: 'paused: the live schema no longer fits (run tendril discover)',
    TENDRIL_E_MAPPING: 'a row could not be mapped',
    TENDRIL_E_STORE: 'the agent store failed',
    TENDRIL_E_CLOCK: 'the database clock could not be read',
  };
  return `${words[code] ?? 'failed'} (${code})`;
}

/** "3 min", "2 h 5 min", "4 d 1 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
