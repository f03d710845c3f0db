import type { WritebackApiOptions } from '@tendril/api';
import {
  connectorForSite,
  TendrilError,
  type ConnectionConfig,
  type ConnectorDefinition,
  type VendorApi,
} from '@tendril/core';
import {
  createHttpVendorApi,
  createWritebackWorker,
  type Logger as EngineLogger,
  type WritebackWorker,
} from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import type { AgentServices } from '../agent-services.js';

/** The writeback worker and the API's writeback options of a loaded agent, sharing one kick. */
export interface WritebackParts {
  readonly worker: WritebackWorker;
  readonly api: WritebackApiOptions;
  /** Closes the write logins' pools. */
  close(): Promise<void>;
}

/**
 * Builds writeback for `tendril run` and the demo: the worker reads back through the polling
 * clients (same query and mapper as polling) and writes through each connection's own write login
 * (`connections[].writeback.database`), opened on first use. Connectors carry the site's tableMap.
 */
export function writebackFor(
  cradle: Pick<AgentServices, 'config' | 'store' | 'logger' | 'connectors' | 'sqlClients'>,
  overrides: { concurrency?: number; now?: () => Date } = {},
): WritebackParts {
  const { config, store, logger, connectors, sqlClients } = cradle;
  const site = new Map<string, ConnectorDefinition>();
  const connectorFor = (connection: ConnectionConfig): ConnectorDefinition => {
    let connector = site.get(connection.id);
    if (!connector) {
      const base = connectors.get(connection.connector);
      if (!base)
        throw new TendrilError(
          'TENDRIL_E_CONNECTOR_UNKNOWN',
          `connection ${connection.id}: unknown connector ${connection.connector}`,
        );
      connector = connectorForSite(base, connection.tableMap);
      site.set(connection.id, connector);
    }
    return connector;
  };
  const writers = new Map<string, SqlClient>();
  const writeClient = (connection: ConnectionConfig): SqlClient => {
    let client = writers.get(connection.id);
    if (!client) {
      const database = connection.writeback?.database;
      if (!database) {
        throw new TendrilError(
          'TENDRIL_E_CONFIG_INVALID',
          `connection ${connection.id}: set writeback.database (the write login) to write by SQL`,
        );
      }
      client = createSqlClient(database, { pool: { min: 0, max: 8 } });
      writers.set(connection.id, client);
    }
    return client;
  };
  // The vendor-api path (Open Dental API): one client per connection, headers from the connector.
  const apis = new Map<string, VendorApi>();
  const vendorApi = (connection: ConnectionConfig): VendorApi | undefined => {
    const api = connection.writeback?.api;
    const headers = connectorFor(connection).writeback?.apiHeaders;
    if (!api || !headers) return undefined;
    let client = apis.get(connection.id);
    if (!client) {
      client = createHttpVendorApi({ baseUrl: api.url, headers: headers(api) });
      apis.set(connection.id, client);
    }
    return client;
  };
  const worker = createWritebackWorker({
    store,
    logger: (logger as unknown as EngineLogger).child({ component: 'writeback' }),
    connections: config.connections,
    connectorFor,
    readClient: (connection) => sqlClients.get(connection),
    writeClient,
    vendorApi,
    ...(overrides.concurrency ? { concurrency: overrides.concurrency } : {}),
    ...(overrides.now ? { now: overrides.now } : {}),
  });
  return {
    worker,
    api: {
      store,
      connections: config.connections,
      connectorFor,
      kick: () => worker.kick(),
      whenFinished: (id, timeoutMs, signal) => worker.whenFinished(id, timeoutMs, signal),
      ...(overrides.now ? { now: overrides.now } : {}),
    },
    async close() {
      await Promise.all([...writers.values()].map((c) => c.close()));
      writers.clear();
    },
  };
}
