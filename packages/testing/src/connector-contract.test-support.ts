/**
 * The connector contract suite (issue 3): what every plugin must satisfy on a database that has
 * its tables. Test-only (vitest); not part of the package build.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionConfig,
  RESOURCE_SCHEMAS,
  tablesRead,
  type ConnectorDefinition,
  type StoredEvent,
} from '@tendril/core';
import { silentLogger, syncStream } from '@tendril/scheduler';
import { compareConnector, readLiveSchema, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';

export interface ContractDatabase {
  /** A client on a database holding the connector's tables with rows in every stream. */
  readonly client: SqlClient;
  drop(): Promise<void>;
}

export interface ConnectorContractInput {
  readonly connector: ConnectorDefinition;
  /** Builds (and fills) a fresh database for the suite; dropped in afterAll. */
  readonly makeDatabase: () => Promise<ContractDatabase>;
  /** Time zone of the test connection. Default America/New_York. */
  readonly timezone?: string;
  /** Connector options for the connection. Default `{}`. */
  readonly options?: Record<string, unknown>;
  /** Extra words for the describe title (what the database is: real schema or own declarations). */
  readonly databaseLabel?: string;
}

const AGENT_NOW = () => new Date('2025-01-01T00:00:00.000Z');

/**
 * Declares the suite: declarations load; discovery finds every stream `ok` on the database; every
 * stream backloads with rows; every emitted record validates against the standard model; a second
 * full run is all unchanged.
 */
export function describeConnectorContract(input: ConnectorContractInput): void {
  const { connector } = input;
  describe(`connector contract: ${connector.id}${input.databaseLabel ? ` (${input.databaseLabel})` : ''}`, () => {
    let db: ContractDatabase;
    let store: Store;
    const connection = ConnectionConfig.parse({
      id: `contract-${connector.id}`,
      connector: connector.id,
      timezone: input.timezone ?? 'America/New_York',
      database: { url: 'sqlite::memory:' },
      options: input.options ?? {},
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 113 },
    });
    const first = new Map<string, { read: number; created: number }>();

    beforeAll(async () => {
      db = await input.makeDatabase();
      store = openSqliteStore(':memory:', { now: AGENT_NOW });
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    it('declarations load: streams, keys, columns, tables read, verification level', () => {
      expect(Object.keys(connector.streams).length).toBeGreaterThan(0);
      expect(['real-schema', 'real-columns', 'provisional']).toContain(connector.verification.level);
      expect(connector.verification.against.length).toBeGreaterThan(0);
      for (const [name, table] of Object.entries(connector.streams)) {
        expect(table.key.length, name).toBeGreaterThan(0);
        expect(Object.keys(table.columns).length, name).toBeGreaterThan(0);
        expect(tablesRead(table).length, name).toBeGreaterThan(0);
        expect(Object.keys(RESOURCE_SCHEMAS), name).toContain(table.resourceType);
      }
    });

    it('discovery finds every stream ok on the database', async () => {
      const report = compareConnector(connector, await readLiveSchema(db.client));
      const problems = report.streams.flatMap((s) =>
        s.findings.filter((f) => f.status !== 'note').map((f) => `${s.stream}: ${f.message}`),
      );
      expect(problems).toEqual([]);
      expect(report.ok).toBe(true);
    });

    it('every stream backloads rows, and every emitted record validates against the standard model', async () => {
      for (const stream of Object.keys(connector.streams)) {
        const result = await syncStream(
          { sql: db.client, store, logger: silentLogger },
          { connection, connector, stream, now: AGENT_NOW },
        );
        expect(result.read, stream).toBeGreaterThan(0);
        expect(result.created, stream).toBeGreaterThan(0);
        first.set(stream, { read: result.read, created: result.created });
      }
      const events: StoredEvent[] = await store.listEvents({
        connectionId: connection.id,
        limit: 10_000_000,
      });
      expect(events.length).toBe([...first.values()].reduce((n, s) => n + s.created, 0));
      for (const event of events) {
        const schema = RESOURCE_SCHEMAS[event.envelope.resourceType];
        const parsed = schema.safeParse(event.envelope.data);
        expect(
          parsed.success,
          `${event.envelope.resourceType} ${event.sourceId}: ${parsed.success ? '' : parsed.error.message}`,
        ).toBe(true);
      }
    });

    it('a second full run reads everything again and finds it all unchanged', async () => {
      expect(first.size).toBe(Object.keys(connector.streams).length);
      for (const stream of Object.keys(connector.streams)) {
        const again = await syncStream(
          { sql: db.client, store, logger: silentLogger },
          { connection, connector, stream, full: true, now: AGENT_NOW },
        );
        expect({ stream, created: again.created, updated: again.updated, deleted: again.deleted }).toEqual({
          stream,
          created: 0,
          updated: 0,
          deleted: 0,
        });
        expect(again.unchanged, stream).toBe(again.read);
        expect(again.read, stream).toBeGreaterThanOrEqual(first.get(stream)!.created);
      }
    });
  });
}
