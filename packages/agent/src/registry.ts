import type { ConnectorCatalog, ConnectorDefinition } from '@tendril/core';
import { TendrilError } from '@tendril/core';

/**
 * Every connector plugin, explicitly. A test fails when a folder under `connectors/` is missing
 * here, so a plugin is never found by naming convention or dynamic require.
 */
export const CONNECTOR_LOADERS = {
  'open-dental': async () => (await import('@tendril/connector-open-dental')).openDental,
  dolphin: async () => (await import('@tendril/connector-dolphin')).dolphin,
  orthotrac: async () => (await import('@tendril/connector-orthotrac')).orthotrac,
  openemr: async () => (await import('@tendril/connector-openemr')).openEmr,
  'dentrix-enterprise': async () => (await import('@tendril/connector-dentrix-enterprise')).dentrixEnterprise,
} as const satisfies Record<string, () => Promise<ConnectorDefinition>>;

export type ConnectorId = keyof typeof CONNECTOR_LOADERS;

/**
 * This module, for the map pool's worker threads (they load connectors with its `loadConnector`).
 * A worker thread cannot run TypeScript: from the sources (tests) it is the built module.
 */
export const CONNECTOR_REGISTRY_MODULE = import.meta.url.endsWith('.ts')
  ? new URL('../dist/registry.js', import.meta.url).href
  : import.meta.url;

export function isConnectorId(id: string): id is ConnectorId {
  return Object.hasOwn(CONNECTOR_LOADERS, id);
}

export async function loadConnector(id: string): Promise<ConnectorDefinition> {
  if (!isConnectorId(id)) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_UNKNOWN',
      `unknown connector "${id}"; installed: ${Object.keys(CONNECTOR_LOADERS).join(', ')}`,
    );
  }
  return CONNECTOR_LOADERS[id]();
}

export async function loadAllConnectors(): Promise<Map<string, ConnectorDefinition>> {
  const entries = await Promise.all(
    Object.keys(CONNECTOR_LOADERS).map(async (id) => [id, await loadConnector(id)] as const),
  );
  return new Map(entries);
}

/** The view of the registry that core's config validation needs. */
export function connectorCatalog(connectors: ReadonlyMap<string, ConnectorDefinition>): ConnectorCatalog {
  return {
    has: (id) => connectors.has(id),
    ids: () => [...connectors.keys()],
    optionsSchema: (id) => connectors.get(id)?.optionsSchema,
    streamNames: (id) => Object.keys(connectors.get(id)?.streams ?? {}),
    streamTable: (id, stream) => connectors.get(id)?.streams[stream],
  };
}
