import type { ConnectionConfig, ConnectorDefinition } from '@tendril/core';
import type { Store } from '@tendril/store';

/** What the writeback routes and the shared intake need from the agent. */
export interface WritebackApiOptions {
  readonly store: Store;
  readonly connections: readonly ConnectionConfig[];
  /** The connector of a connection (with the site's tableMap), for capabilities. */
  readonly connectorFor: (connection: ConnectionConfig) => ConnectorDefinition;
  /** Wakes the writeback worker after a command is queued (near real time instead of the next tick). */
  readonly kick: () => void;
  readonly now?: () => Date;
  /**
   * Resolves true once the worker of this process has finished the command, false after the
   * timeout or the abort: `GET /v1/writebacks/:id` with `Prefer: wait=N` answers then instead of
   * at once (docs/writeback.md, "Waiting for the outcome"). Absent: `Prefer: wait` is ignored.
   */
  readonly whenFinished?: (id: string, timeoutMs: number, signal: AbortSignal) => Promise<boolean>;
  /** Per API key: at most `burst` requests in any `burst / perSecond` seconds. Default 50/s, bursts of 100. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** Largest accepted request body. Default 64 KiB. */
  readonly bodyLimitBytes?: number;
}
