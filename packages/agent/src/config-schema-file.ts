import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '@tendril/core';
import { loadAllConnectors } from './registry.js';

/**
 * The JSON Schema of tendril.yaml as shipped with the agent (checked in; a test fails when it no
 * longer matches `tendril config schema`). `tendril init` points editors at it.
 */
export const CONFIG_SCHEMA_FILE = fileURLToPath(new URL('../tendril.schema.json', import.meta.url));

/** The schema text `tendril config schema` prints: every installed connector's options included. */
export async function configSchemaText(): Promise<string> {
  const connectors = [...(await loadAllConnectors()).values()].map((c) => ({
    id: c.id,
    displayName: c.displayName,
    optionsSchema: c.optionsSchema,
  }));
  return `${JSON.stringify(configJsonSchema(connectors), null, 2)}\n`;
}
