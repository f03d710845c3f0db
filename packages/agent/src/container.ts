import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ConnectionConfig, ConnectorDefinition, TendrilConfig } from '@tendril/core';
import { TendrilError } from '@tendril/core';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { asFunction, asValue, createContainer, InjectionMode, type AwilixContainer } from 'awilix';
import type { Logger } from 'pino';
import { loadAllConnectors } from './registry.js';

export interface Cradle {
  config: TendrilConfig;
  logger: Logger;
  connectors: Map<string, ConnectorDefinition>;
  store: Store;
  sqlClients: SqlClientPool;
}

/** One SQL client per connection, created on first use and closed with the container. */
export interface SqlClientPool {
  get(connection: ConnectionConfig): SqlClient;
  closeAll(): Promise<void>;
}

function openStore(config: TendrilConfig): Store {
  const store = config.store;
  if ('sqlite' in store) {
    if (store.sqlite !== ':memory:') mkdirSync(dirname(store.sqlite), { recursive: true });
    return openSqliteStore(store.sqlite);
  }
  throw new TendrilError('TENDRIL_E_CONFIG_INVALID', 'store.postgres is not available yet in this version; use store.sqlite (PostgreSQL store: not yet, see the roadmap)');
}

/**
 * The composition root: the only place concrete implementations are chosen and wired. Every
 * other module takes its dependencies as plain parameters.
 */
export async function createAgentContainer(config: TendrilConfig, logger: Logger): Promise<AwilixContainer<Cradle>> {
  const container = createContainer<Cradle>({ injectionMode: InjectionMode.PROXY, strict: true });
  const connectors = await loadAllConnectors();
  container.register({
    config: asValue(config),
    logger: asValue(logger),
    connectors: asValue(connectors),
    store: asFunction(({ config: c }: Cradle) => openStore(c))
      .singleton()
      .disposer((store) => store.close()),
    sqlClients: asFunction((): SqlClientPool => {
      const clients = new Map<string, SqlClient>();
      return {
        get(connection) {
          let client = clients.get(connection.id);
          if (!client) {
            client = createSqlClient(connection.database);
            clients.set(connection.id, client);
          }
          return client;
        },
        async closeAll() {
          await Promise.all([...clients.values()].map((c) => c.close()));
          clients.clear();
        },
      };
    })
      .singleton()
      .disposer((pool) => pool.closeAll()),
  });
  await container.cradle.store.migrate();
  return container;
}
