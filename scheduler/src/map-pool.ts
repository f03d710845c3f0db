import { Worker } from 'node:worker_threads';
import {
  publishMappingWarning,
  TendrilError,
  type ErrorCode,
  type MappingWarningMessage,
  type Row,
  type TableMap,
} from '@tendril/core';
import type { MappedPageResult } from './map-page.js';

/**
 * A small pool of worker threads that map pages of rows (map → validate → hash) while the engine's
 * thread reads the next page and commits the previous one (docs/sync.md, "The map pool"). Only the
 * mapping moves: classification and the page's one local transaction stay on the engine's thread,
 * in page order (stream-page.ts). Threads start on the first page and stop after a minute idle,
 * so an agent that is only polling holds none; an idle thread never keeps the process alive.
 */

/** What a worker needs to build the table itself: functions cannot cross threads. */
export interface MapTableSpec {
  /** A module (file URL) exporting `loadConnector(id)`: the agent's connector registry. */
  readonly connectorModule: string;
  readonly connectorId: string;
  readonly stream: string;
  /** The connection's `tableMap`, applied as the engine's thread applied it (`connectorForSite`). */
  readonly tableMap?: TableMap;
  /** The mapping context's settings (core's `mappingContext`). */
  readonly context: {
    readonly connectionId: string;
    readonly connectorId: string;
    readonly timezone: string;
    readonly currency?: string;
    readonly options?: Readonly<Record<string, unknown>>;
  };
}

/** A page sent to a worker. */
export interface MapPageRequest {
  readonly id: number;
  readonly table: MapTableSpec;
  readonly rows: readonly Row[];
  readonly syncedAt: string;
}

/** An error as it crosses back from a worker: a TendrilError keeps its code and details; any other is named only. */
export type MapPageError =
  | {
      readonly code: ErrorCode;
      readonly message: string;
      readonly retryable: boolean;
      readonly details?: Record<string, unknown>;
    }
  | { readonly code?: undefined; readonly name: string; readonly message: string; readonly stack?: string };

/** A worker's answer: the mapped page, or the error the inline mapping would have thrown. */
export type MapPageReply =
  | {
      readonly id: number;
      /** The `MappedPageResult`, as JSON text. */
      readonly pageJson: string;
      /** Mapping warnings published while the page was mapped, in order. */
      readonly published: readonly MappingWarningMessage[];
      /** The worker's table, to check against the engine's (map-page.ts `tableSignature`). */
      readonly signature: string;
      readonly error?: undefined;
    }
  | {
      readonly id: number;
      readonly error: MapPageError;
      readonly published: readonly MappingWarningMessage[];
    };

/** A page the pool mapped, and the signature of the table the worker used. */
export interface PoolMappedPage {
  readonly page: MappedPageResult;
  readonly signature: string;
}

export interface MapPool {
  /** How many worker threads at most. */
  readonly threads: number;
  /** The module a worker loads connectors from (`MapTableSpec.connectorModule`). */
  readonly connectorModule: string;
  /**
   * Maps a page in a worker. Mapping warnings are re-published on this thread; an error is the one
   * the inline mapping would have thrown (a TendrilError keeps its code and details).
   */
  mapPage(
    table: Omit<MapTableSpec, 'connectorModule'>,
    rows: readonly Row[],
    syncedAt: string,
  ): Promise<PoolMappedPage>;
  /** Stops every thread; pages in flight are rejected. Idempotent. */
  close(): Promise<void>;
}

export interface MapPoolOptions {
  /** A module (file URL) exporting `loadConnector(id)`, as the agent's registry does. */
  readonly connectorModule: string;
  /** Worker threads at most (at least 1); default 1. */
  readonly threads?: number;
  /** A thread idle this long is stopped (ms); default 60 s. */
  readonly idleMs?: number;
}

/**
 * Threads when `mapThreads` is not set: none, the pool is opt-in. On the 2-core build machine it
 * cost more CPU than it took off the engine's thread and raised the peak RSS by 40–75 MB
 * (docs/performance.md, "The pipeline"); its gain on a machine with spare cores is not measured yet.
 */
export const DEFAULT_MAP_THREADS = 0;

/**
 * The worker's script. Tests run the engine from its TypeScript sources, and a worker thread
 * cannot run TypeScript, so from the sources it is the built one (`pnpm build`).
 */
function workerScript(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../dist/map-worker.js', import.meta.url)
    : new URL('./map-worker.js', import.meta.url);
}

/** A page waiting for its mapping, and how to answer it. */
interface PendingPage {
  readonly id: number;
  readonly resolve: (page: PoolMappedPage) => void;
  readonly reject: (error: Error) => void;
}

interface PoolThread {
  readonly worker: Worker;
  /** The page in flight, if any: one at a time per thread. */
  job?: PendingPage;
  idle?: NodeJS.Timeout;
}

function rebuiltError(error: MapPageError): Error {
  if (error.code !== undefined) {
    return new TendrilError(error.code, error.message, {
      retryable: error.retryable,
      ...(error.details ? { details: error.details } : {}),
    });
  }
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

export function createMapPool(options: MapPoolOptions): MapPool {
  const threads = Math.max(1, options.threads ?? 1);
  const idleMs = options.idleMs ?? 60_000;
  const running: PoolThread[] = [];
  const waiting: { readonly request: MapPageRequest; readonly page: Omit<PendingPage, 'id'> }[] = [];
  let nextId = 1;
  let closed = false;

  const settle = (thread: PoolThread) => {
    thread.job = undefined;
    const next = waiting.shift();
    if (next) return start(thread, next);
    // Idle: the thread must not keep the process alive, and goes after a while.
    thread.worker.unref();
    thread.idle = setTimeout(() => stopThread(thread), idleMs);
    thread.idle.unref();
  };

  const stopThread = (thread: PoolThread) => {
    const at = running.indexOf(thread);
    if (at >= 0) running.splice(at, 1);
    if (thread.idle) clearTimeout(thread.idle);
    void thread.worker.terminate();
  };

  const start = (thread: PoolThread, entry: (typeof waiting)[number]) => {
    if (thread.idle) clearTimeout(thread.idle);
    thread.idle = undefined;
    thread.worker.ref();
    thread.job = { id: entry.request.id, ...entry.page };
    thread.worker.postMessage(entry.request);
  };

  const spawn = (): PoolThread => {
    // A small young generation: a thread's pages are short-lived garbage, and the default (16 MB
    // semi-spaces) added ≈ 25 MB to the process's peak RSS for no CPU saved (docs/performance.md).
    const worker = new Worker(workerScript(), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    const thread: PoolThread = { worker };
    worker.on('message', (reply: MapPageReply) => {
      const job = thread.job;
      if (!job || job.id !== reply.id) return;
      for (const message of reply.published) publishMappingWarning(message);
      if (reply.error) job.reject(rebuiltError(reply.error));
      else job.resolve({ page: JSON.parse(reply.pageJson) as MappedPageResult, signature: reply.signature });
      settle(thread);
    });
    const fail = (cause: unknown) => {
      const job = thread.job;
      thread.job = undefined;
      stopThread(thread);
      job?.reject(
        new TendrilError('TENDRIL_E_INTERNAL', 'a map pool thread stopped while mapping a page', { cause }),
      );
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (thread.job) fail(new Error(`map pool thread exited with code ${code}`));
    });
    running.push(thread);
    return thread;
  };

  return {
    threads,
    connectorModule: options.connectorModule,
    mapPage(table, rows, syncedAt) {
      if (closed) return Promise.reject(new TendrilError('TENDRIL_E_INTERNAL', 'the map pool is closed'));
      return new Promise<PoolMappedPage>((resolve, reject) => {
        const request: MapPageRequest = {
          id: nextId++,
          table: { ...table, connectorModule: options.connectorModule },
          rows,
          syncedAt,
        };
        const free =
          running.find((t) => t.job === undefined) ?? (running.length < threads ? spawn() : undefined);
        const entry = { request, page: { resolve, reject } };
        if (free) start(free, entry);
        else waiting.push(entry);
      });
    },
    async close() {
      closed = true;
      const stopping = running.splice(0);
      const error = new TendrilError('TENDRIL_E_INTERNAL', 'the map pool was closed while mapping a page');
      for (const entry of waiting.splice(0)) entry.page.reject(error);
      await Promise.all(
        stopping.map(async (thread) => {
          if (thread.idle) clearTimeout(thread.idle);
          const job = thread.job;
          thread.job = undefined;
          job?.reject(error);
          await thread.worker.terminate();
        }),
      );
    },
  };
}
