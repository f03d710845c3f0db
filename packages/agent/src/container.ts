import { TendrilError, type TendrilConfig } from '@tendril/core';
import { openSqlClient, type SqlClient } from '@tendril/sql';
import { openPostgresStore, openSqliteStore, type Store } from '@tendril/store';
import { deliveryRoutesFromConfig } from '@tendril/delivery';
import { asFunction, asValue, createContainer, InjectionMode, type AwilixContainer } from 'awilix';
import type { Logger } from 'pino';
import type { AgentServices, SqlClientPool } from './agent-services.js';
import { loadAllConnectors } from './registry.js';
import { createAgentRuntime, type AgentRuntime } from './run/agent-runtime.js';

export interface Cradle extends AgentServices {
  /** The long-running agent (`tendril run`): scheduler + local API. Resolved only by `run`. */
  agentRuntime: AgentRuntime;
}

function openStore(config: TendrilConfig, siteKey: Buffer | undefined): Store {
  const store = config.store;
  // With a site key the store seals its payloads (docs/security.md, "PHI at rest").
  const sealing = siteKey === undefined ? {} : { siteKey };
  if ('sqlite' in store) {
    // openSqliteStore makes the folder 0700 and the file 0600 (docs/security.md, "PHI at rest").
    // Enabled subscriptions' filters: commitPage writes their delivery rows in the page's transaction.
    return openSqliteStore(store.sqlite, { deliveryRoutes: deliveryRoutesFromConfig(config), ...sealing });
  }
  // Shared by any number of workers on any number of hosts (docs/postgres-store.md).
  return openPostgresStore(store.postgres, { deliveryRoutes: deliveryRoutesFromConfig(config), ...sealing });
}

/**
 * The composition root: the only place concrete implementations are chosen and wired. Every
 * other module takes its dependencies as plain parameters.
 */
export async function createAgentContainer(
  config: TendrilConfig,
  logger: Logger,
  options: {
    /** False for commands that only read the local store: their config's EHR credentials are unresolved. */
    ehr?: boolean;
    /** The site key's bytes (TENDRIL_SITE_KEY / TENDRIL_SITE_KEY_FILE); none: the store stays plain text. */
    siteKey?: Buffer;
    /** False for `tendril demo`: its output says the store is plain text, so the runtime does not warn. */
    plaintextStoreWarning?: boolean;
  } = {},
): Promise<AwilixContainer<Cradle>> {
  const ehr = options.ehr ?? true;
  const container = createContainer<Cradle>({ injectionMode: InjectionMode.PROXY, strict: true });
  const connectors = await loadAllConnectors();
  container.register({
    config: asValue(config),
    logger: asValue(logger),
    connectors: asValue(connectors),
    store: asFunction(({ config: c }: Cradle) => openStore(c, options.siteKey))
      .singleton()
      .disposer((store) => store.close()),
    sqlClients: asFunction(({ logger }: Cradle): SqlClientPool => {
      const clients = new Map<string, SqlClient>();
      return {
        get(connection) {
          if (!ehr) {
            throw new TendrilError(
              'TENDRIL_E_INTERNAL',
              `this command reads only the local store and may not open the database of ${connection.id}`,
            );
          }
          let client = clients.get(connection.id);
          if (!client) {
            // A URL/parts database opens a knex client; `{ odbc, dialect }` the ODBC adapter.
            // knex's own warnings (a database that is down) go to this connection's log, text only.
            client = openSqlClient(connection.database, {
              logger: logger.child({ connectionId: connection.id }),
            });
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
    // Disposal runs in parallel, so `run` stops the runtime itself before the store and pools close;
    // this disposer is only the safety net.
    agentRuntime: asFunction((cradle: Cradle) =>
      createAgentRuntime(
        cradle,
        options.plaintextStoreWarning === false ? { plaintextStoreWarning: false } : {},
      ),
    )
      .singleton()
      .disposer((runtime) => runtime.stop({ graceMs: 0 }).then(() => undefined)),
  });
  await container.cradle.store.migrate();
  return container;
}
