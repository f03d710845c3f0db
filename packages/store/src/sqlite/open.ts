import Database from 'better-sqlite3';
import { Kysely } from 'kysely';
import { CoreStore } from '../core-store.js';
import type { DeliveryRoute } from '../delivery-types.js';
import { plainPayloads, sealedPayloads } from '../payloads.js';
import { StoreRuntime } from '../runtime.js';
import type { StoreTables } from '../tables.js';
import type { Store } from '../types.js';
import { sqliteDialect, sqliteStoreError } from './dialect.js';
import { SqliteStoreDialect, type SqliteDatabase } from './driver.js';
import { secureSideFiles, secureStoreFile } from './file-modes.js';

export interface SqliteStoreOptions {
  /** Clock for stored timestamps, run ids and the first sequence of a connection. Tests pin it. */
  readonly now?: () => Date;
  /** How long a writer waits for another process holding the write lock (ms). Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * The enabled subscriptions' filters: `commitPage` writes one delivery row per matching
   * subscription in the page's transaction (docs/sync-semantics.md, "The commit rule" step 3). None: no delivery rows.
   */
  readonly deliveryRoutes?: readonly DeliveryRoute[];
  /**
   * The site key's 32 bytes: the outbox's and the writeback queue's payloads are sealed with a key
   * derived from it, and a plain store is sealed in place at its first open with a key
   * (docs/security.md, "PHI at rest"). None: payloads stay plain text.
   */
  readonly siteKey?: Buffer;
}

/** WAL pages (4 KiB each) between automatic checkpoints: 64 MiB, where SQLite's default is 4 MiB. */
export const WAL_AUTOCHECKPOINT_PAGES = 16_000;
/** The WAL file is truncated back to this after a checkpoint, so it does not keep its largest size. */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

const OPEN_FIX = 'Check that the data directory exists, is writable and has free space.';

/**
 * Opens (creating if needed) the embedded SQLite store at `path` (`:memory:` for a throwaway
 * store), or takes an already-opened database (better-sqlite3, or better-sqlite3-multiple-ciphers
 * after its key pragma); the store then owns it and `close()` closes it. WAL journal,
 * `synchronous = NORMAL`, a checkpoint every {@link WAL_AUTOCHECKPOINT_PAGES} pages, a busy
 * timeout so that several agent processes can share one file, and foreign keys on.
 *
 * The schema is created or upgraded by {@link Store.migrate}; any other method migrates first if
 * that has not happened yet, so a forgotten `migrate()` cannot write into a missing table.
 */
export function openSqliteStore(source: string | SqliteDatabase, options: SqliteStoreOptions = {}): Store {
  let database: SqliteDatabase;
  const file =
    typeof source === 'string' && source !== ':memory:' && !source.startsWith('file:') ? source : undefined;
  try {
    if (typeof source === 'string') {
      // 0700 folder, 0600 file, before SQLite creates anything (docs/security.md, "PHI at rest").
      if (file !== undefined) secureStoreFile(file);
      database = new Database(source);
    } else {
      database = source;
    }
  } catch (error) {
    throw sqliteStoreError('open', error, OPEN_FIX);
  }
  try {
    // busy_timeout first: switching to WAL itself needs a lock another process may hold.
    database.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    // Checkpoint less often than SQLite's 1,000 pages: a page commit dirties index pages all over
    // the random-keyed B-trees (event ids, resource ids), and each checkpoint copies every page
    // dirtied since the last one, so a checkpoint per commit copies the same pages again and again
    // (docs/performance.md, "Backload"). The WAL file is cut back to the same size after one.
    database.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    database.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    database.pragma('foreign_keys = ON');
    if (file !== undefined) secureSideFiles(file);
  } catch (error) {
    database.close();
    throw sqliteStoreError('open', error, OPEN_FIX);
  }
  const kyselyDialect = new SqliteStoreDialect(database);
  const db = new Kysely<StoreTables>({ dialect: kyselyDialect });
  const runtime = new StoreRuntime(
    db,
    sqliteDialect(kyselyDialect.statements),
    options.now ?? (() => new Date()),
    async () => {
      kyselyDialect.statements.clear();
      kyselyDialect.leave();
      database.close();
    },
    options.siteKey === undefined ? plainPayloads() : sealedPayloads(options.siteKey),
  );
  return new CoreStore(runtime, options.deliveryRoutes ?? []);
}
