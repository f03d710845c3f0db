/** How a failing stream is retried: exponential from `initialMs`, capped at `maxMs`. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** 15 s, 30 s, 1 min, 2 min, 4 min, then every 10 min (the default poll interval). */
export const DEFAULT_STREAM_BACKOFF: BackoffPolicy = { initialMs: 15_000, maxMs: 600_000 };

/** Delay before retry number `failures` (1-based). Deterministic: no jitter, so tests and operators can predict it. */
export function backoffDelayMs(policy: BackoffPolicy, failures: number): number {
  if (failures <= 0) return 0;
  const exponent = Math.min(failures - 1, 30);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
}

export const STREAM_STATUSES = ['unknown', 'healthy', 'unhealthy'] as const;
/** `unknown` until the first poll of this process ends; `unhealthy` while polls fail and are retried. */
export type StreamStatus = (typeof STREAM_STATUSES)[number];

/** What the scheduler knows about one stream in this process (the store keeps the durable part). */
export interface StreamHealth {
  readonly connectionId: string;
  readonly stream: string;
  status: StreamStatus;
  consecutiveFailures: number;
  /** When a failing stream is tried again (ISO instant). */
  nextRetryAt?: string;
  lastAttemptAt?: string;
  /** Last successful poll's end: from the store at start, then from this process. */
  lastSuccessAt?: string;
  lastError?: { code: string; message: string; at: string; retryable: boolean };
  /** True while no successful read happened for longer than the read-stale threshold. */
  stale: boolean;
  lastNightlyAt?: string;
  lastNightlyError?: { code: string; message: string; at: string };
}
