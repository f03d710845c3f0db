import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDental } from '@tendril/connector-open-dental';
import { seedOpenDental } from '@tendril/connector-open-dental/testing';
import {
  ConnectionConfig,
  subscribeMappingWarnings,
  TendrilError,
  type ConnectorDefinition,
  type MappingWarningMessage,
} from '@tendril/core';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createMapPool,
  silentLogger,
  syncStream,
  type MapPool,
  type PoolMappedPage,
} from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';
import { REPO_ROOT } from './support/paths.js';

/**
 * The map pool (docs/sync.md, "The map pool"): a backload whose pages are mapped in worker threads
 * while the engine commits the page before must write exactly what the inline path writes — the
 * same events byte for byte (ids, hashes, sequences, order), the same shadow, quarantine, counts
 * and mapping warnings — on the real Open Dental schema. The worker runs the built code: `pnpm
 * build` first (a worker thread cannot run the TypeScript sources).
 */
const STREAMS = ['patients', 'appointments'] as const;
/** Every run's clocks: the engine's `now` and the store's (event sequences start from it). */
const NOW = new Date('2026-12-01T09:00:00Z');
const PAGE_SIZE = 100;

/** What one backload of the streams wrote, in a comparable form. */
interface Written {
  readonly results: unknown[];
  /** Each stored envelope as the JSON text it is stored as (the store's JSON.stringify of it). */
  readonly envelopes: string[];
  readonly quarantine: unknown[];
  readonly shadow: unknown[];
  readonly warnings: MappingWarningMessage[];
}

describe('map pool', () => {
  let db: TestDatabase;
  let sql: SqlClient;
  let connection: ConnectionConfig;
  let pool: MapPool;
  let pagesThroughPool = 0;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_map_pool');
    await loadOpenDentalSchema(db);
    sql = createSqlClient({ url: db.url });
    await seedOpenDental(sql.knex, {
      patients: 240,
      seed: 'map-pool',
      dialect: 'mysql',
      now: new Date('2026-11-15T00:00:00Z'),
      stamp: new Date('2026-11-20T12:00:00Z'),
    });
    const ehr = await db.connect();
    // A row for quarantine (an unknown AptStatus) and one for a mapping warning (a 7-digit phone),
    // stamped like the rest, so every run reads the same rows whenever it starts.
    await ehr.query(
      "UPDATE appointment SET AptStatus = 99, DateTStamp = '2026-11-20 12:00:00' WHERE AptNum = (SELECT MIN(AptNum) FROM (SELECT AptNum FROM appointment) a)",
    );
    await ehr.query(
      "UPDATE patient SET HmPhone = '555-1234', WirelessPhone = '', DateTStamp = '2026-11-20 12:00:00' WHERE PatNum = (SELECT MIN(PatNum) FROM (SELECT PatNum FROM patient) p)",
    );
    await ehr.end();
    connection = ConnectionConfig.parse({
      id: 'pool-dental',
      connector: 'open-dental',
      timezone: 'America/New_York',
      database: { url: db.url },
      streams: [...STREAMS],
      sync: { settleSeconds: 0, overlapSeconds: 0, pageSize: PAGE_SIZE },
    });
    const counting = createMapPool({
      connectorModule: pathToFileURL(resolve(REPO_ROOT, 'packages/agent/dist/registry.js')).href,
      threads: 2,
    });
    pool = {
      ...counting,
      mapPage: (table, rows, syncedAt) => {
        pagesThroughPool += 1;
        return counting.mapPage(table, rows, syncedAt);
      },
    };
  });

  afterAll(async () => {
    await pool?.close();
    await sql?.close();
    await db?.drop();
  });

  async function backload(
    connector: ConnectorDefinition,
    mapPool?: MapPool,
    given?: { store: Store; afterPageCommit?: (page: number) => void },
  ): Promise<Written> {
    const store = given?.store ?? openSqliteStore(':memory:', { now: () => NOW });
    if (!given) await store.migrate();
    const warnings: MappingWarningMessage[] = [];
    const stop = subscribeMappingWarnings((message) => warnings.push(message));
    try {
      const deps = { sql, store, logger: silentLogger, ...(mapPool ? { mapPool } : {}) };
      const results: unknown[] = [];
      for (const stream of STREAMS) {
        const { durationMs: _varies, ...result } = await syncStream(deps, {
          connection,
          connector,
          stream,
          full: true,
          now: () => NOW,
          ...(given?.afterPageCommit ? { afterPageCommit: given.afterPageCommit } : {}),
        });
        results.push(result);
      }
      const events = await store.listEvents({ connectionId: connection.id, limit: 100_000 });
      const sourceIds = events.map((e) => e.sourceId);
      const shadow = [
        ...(await store.getShadow(connection.id, 'Patient', sourceIds)).entries(),
        ...(await store.getShadow(connection.id, 'Appointment', sourceIds)).entries(),
      ];
      return {
        results,
        envelopes: events.map((e) => JSON.stringify(e.envelope)),
        quarantine: await store.listQuarantine({ connectionId: connection.id, limit: 1_000 }),
        shadow,
        warnings,
      };
    } finally {
      stop();
      if (!given) await store.close();
    }
  }

  /** The pool, with `onPage` run on each page's mapping (the first page is page 1). */
  function steered(
    onPage: (page: number, mapping: Promise<PoolMappedPage>) => Promise<PoolMappedPage>,
  ): MapPool {
    let pages = 0;
    return {
      ...pool,
      mapPage: (table, rows, syncedAt) => onPage(++pages, pool.mapPage(table, rows, syncedAt)),
    };
  }

  it('maps a backload in worker threads into exactly the events, shadow, quarantine and counts of the inline path', async () => {
    const inline = await backload(openDental);
    const before = pagesThroughPool;
    const pooled = await backload(openDental, pool);
    // Every full page went through the pool (a page below its minimum is mapped inline).
    expect(pagesThroughPool - before).toBeGreaterThanOrEqual(4);
    expect(inline.envelopes.length).toBeGreaterThan(400);
    expect(pooled.envelopes).toEqual(inline.envelopes);
    expect(pooled.shadow).toEqual(inline.shadow);
    expect(pooled.results).toEqual(inline.results);
    expect(inline.quarantine).toHaveLength(1);
    expect(pooled.quarantine).toEqual(inline.quarantine);
    expect(inline.warnings.map((w) => w.code)).toContain('TENDRIL_W_PHONE_UNPARSEABLE');
    expect(pooled.warnings).toEqual(inline.warnings);
  });

  it('commits pages in read order when a later page is mapped first', async () => {
    const inline = await backload(openDental);
    // Page 1's mapping comes back after page 2's: page 1 must still commit first.
    const pooled = await backload(
      openDental,
      steered(async (page, mapping) => {
        if (page === 1) await sleep(300);
        return mapping;
      }),
    );
    expect(pooled.envelopes).toEqual(inline.envelopes);
    expect(pooled.results).toEqual(inline.results);
  });

  it("surfaces a page's mapping failure after the pages before it committed, and a rerun completes the backload", async () => {
    const inline = await backload(openDental);
    const store = openSqliteStore(':memory:', { now: () => NOW });
    await store.migrate();
    try {
      const committed: number[] = [];
      const failing = steered(async (page, mapping) => {
        if (page !== 2) return mapping;
        await mapping;
        throw new TendrilError('TENDRIL_E_INTERNAL', 'a map pool thread stopped while mapping a page');
      });
      await expect(
        backload(openDental, failing, { store, afterPageCommit: (page) => void committed.push(page) }),
      ).rejects.toMatchObject({ code: 'TENDRIL_E_INTERNAL' });
      // Page 1 (mapped first) committed; page 2 (whose mapping failed) and what follows did not.
      expect(committed).toEqual([1]);
      // Exactly the inline backload's first page of events: same ids, sequences and bodies.
      const firstPage = (await store.listEvents({ connectionId: connection.id, limit: 100_000 })).map((e) =>
        JSON.stringify(e.envelope),
      );
      expect(firstPage.length).toBeGreaterThan(PAGE_SIZE / 2);
      expect(firstPage.length).toBeLessThanOrEqual(PAGE_SIZE);
      expect(firstPage).toEqual(inline.envelopes.slice(0, firstPage.length));
      const rerun = await backload(openDental, pool, { store });
      const key = (envelope: string) => {
        const { resourceId, data } = JSON.parse(envelope) as {
          resourceId: string;
          data: { meta: { hash: string } };
        };
        return `${resourceId} ${data.meta.hash}`;
      };
      expect(rerun.envelopes.map(key).sort()).toEqual(inline.envelopes.map(key).sort());
    } finally {
      await store.close();
    }
  });

  it('maps a table its connector registry does not give (built by hand) on the engine thread', async () => {
    // The same connector without `gender` (every seeded patient has one): the pool's workers would map the registry's table.
    const { gender: _dropped, ...fields } = openDental.streams['patients']!.fields;
    const handBuilt: ConnectorDefinition = {
      ...openDental,
      streams: { ...openDental.streams, patients: { ...openDental.streams['patients']!, fields } },
    };
    const inline = await backload(handBuilt);
    const pooled = await backload(handBuilt, pool);
    expect(pooled.envelopes).toEqual(inline.envelopes);
    expect(pooled.envelopes.some((e) => e.includes('"gender"'))).toBe(false);
    expect(pooled.results).toEqual(inline.results);
  });

  it('rejects pages once closed, and closing twice is harmless', async () => {
    const spare = createMapPool({
      connectorModule: pathToFileURL(resolve(REPO_ROOT, 'packages/agent/dist/registry.js')).href,
      threads: 1,
    });
    const spec = {
      connectorId: 'open-dental',
      stream: 'patients',
      context: { connectionId: 'x', connectorId: 'open-dental', timezone: 'UTC' },
    };
    const mapped = await spare.mapPage(spec, [], '2026-12-01T09:00:00Z');
    expect(mapped.page.mapped).toEqual([]);
    await spare.close();
    await spare.close();
    await expect(spare.mapPage(spec, [], '2026-12-01T09:00:00Z')).rejects.toMatchObject({
      code: 'TENDRIL_E_INTERNAL',
    });
  });
});
