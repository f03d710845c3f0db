import type { ConnectionConfig, ConnectorDefinition, TendrilConfig } from '@tendril/core';
import type { SqlClient } from '@tendril/sql';
import type { Store } from '@tendril/store';
import type { Logger } from 'pino';

/**
 * The services the composition root (container.ts) wires, as the parts of the agent that use
 * them see them. Kept apart from the container so those parts (the runtime, the dispatcher and
 * writeback factories) never import the module that constructs them.
 */
export interface AgentServices {
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
