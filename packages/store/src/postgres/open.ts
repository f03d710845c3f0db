import type { Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import { CoreStore } from '../core-store.js';
import type { DeliveryRoute } from '../delivery-types.js';
import { plainPayloads, sealedPayloads } from '../payloads.js';
import { StoreRuntime } from '../runtime.js';
import type { StoreTables } from '../tables.js';
import type { Store } from '../types.js';
import { createPostgresKysely, isStoreKysely, type PostgresSource } from './connection.js';
import { postgresDialect } from './dialect.js';

export interface PostgresStoreOptions {
  /** Clock for stored timestamps, run ids and the first sequence of a connection. Tests pin it. */
  readonly now?: () => Date;
  /**
   * The enabled subscriptions' filters: `commitPage` writes one delivery row per matching
   * subscription in the page's transaction (docs/sync-semantics.md, "The commit rule" step 3). None: no delivery rows.
   */
  readonly deliveryRoutes?: readonly DeliveryRoute[];
  /**
   * Keep the store's tables in this schema (created if missing) instead of the user's default
   * search path. Lower-case letters, digits and `_`. Several agents' stores can then share one
   * database. (With a kysely instance, give the schema to {@link createPostgresKysely} instead.)
   */
  readonly schema?: string;
  /** Connections in this process's pool. Default 10. */
  readonly poolSize?: number;
  /**
   * The site key's 32 bytes: the outbox's and the writeback queue's payloads are sealed with a key
   * derived from it, and a plain store is sealed in place at its first open with a key
   * (docs/security.md, "PHI at rest"). None: payloads stay plain text.
   */
  readonly siteKey?: Buffer;
}

/**
 * Opens the PostgreSQL store — the same {@link Store} as the embedded SQLite one, for sites that
 * run several agent workers on several hosts against one store, and for the hub — on:
 * - a server URL (`postgres://user:password@host:5432/database`): the store opens its own pool and
 *   `close()` ends it;
 * - an in-process PGlite database (one connection: queries wait their turn, transactions run
 *   alone); `close()` leaves the PGlite database open for its owner;
 * - a kysely instance made by {@link createPostgresKysely}, shared with the caller's own queries;
 *   `close()` leaves it open.
 *
 * Nothing connects until the first call; the schema is created or upgraded by {@link Store.migrate}
 * (any other method migrates first if that has not happened yet). Concurrency, so that any number of
 * workers share one store safely:
 * - each `commitPage` is one transaction (docs/sync-semantics.md, "The commit rule"); its sequence range is allocated
 *   under the connection's `connection_sequence` row lock, so two processes never hand out one sequence;
 * - delivery leases take due heads with `FOR UPDATE SKIP LOCKED`, so workers never lease one delivery twice;
 * - migrations run under an advisory lock, so workers starting together migrate exactly once.
 */
export function openPostgresStore(
  source: PostgresSource | Kysely<StoreTables>,
  options: PostgresStoreOptions = {},
): Store {
  let db: Kysely<StoreTables>;
  let release: () => Promise<void>;
  if (typeof source === 'string' || !isKysely(source)) {
    db = createPostgresKysely(source, {
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    });
    release = () => db.destroy();
  } else {
    if (!isStoreKysely(source)) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        'The PostgreSQL store needs a kysely instance made by createPostgresKysely (its type parsers), or a URL or PGlite database.',
        { retryable: false, details: { field: 'source' } },
      );
    }
    if (options.schema !== undefined || options.poolSize !== undefined) {
      throw new TendrilError(
        'TENDRIL_E_STORE',
        'schema and poolSize belong to createPostgresKysely when the store is opened on a kysely instance.',
        { retryable: false, details: { field: options.schema !== undefined ? 'schema' : 'poolSize' } },
      );
    }
    db = source.withoutPlugins();
    release = async () => undefined;
  }
  const runtime = new StoreRuntime(
    db,
    postgresDialect(options.schema),
    options.now ?? (() => new Date()),
    release,
    options.siteKey === undefined ? plainPayloads() : sealedPayloads(options.siteKey),
  );
  return new CoreStore(runtime, options.deliveryRoutes ?? []);
}

function isKysely(source: object): source is Kysely<StoreTables> {
  return typeof (source as { selectFrom?: unknown }).selectFrom === 'function';
}
