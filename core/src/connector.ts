import type { z } from 'zod';
import { TendrilError } from './errors.js';
import type { TableDefinition } from './sdk.js';
import type { WritebackDefinition } from './writeback-declare.js';

export interface VerificationLevel {
  readonly level: 'real-schema' | 'real-columns' | 'provisional';
  readonly against: string;
}

export interface ConnectorDefinition<O extends z.ZodType = z.ZodType> {
  readonly id: string;
  readonly displayName: string;
  readonly dialects: readonly ('mysql' | 'mssql' | 'postgres' | 'sqlite' | 'odbc')[];
  readonly versions: readonly string[];
  readonly verification: VerificationLevel;
  /** Connector-specific connection options (`connections[].options`), validated with the config. */
  readonly optionsSchema: O;
  /** Stream name → table. Stream names are stable: they key cursors in the store. */
  readonly streams: Readonly<Record<string, TableDefinition>>;
  /** Writeback commands (docs/writeback.md), declared with `defineWriteback`. Absent: read-only. */
  readonly writeback?: WritebackDefinition;
}

function problem(message: string, details: Record<string, unknown>): TendrilError {
  return new TendrilError('TENDRIL_E_CONNECTOR_DEFINITION', message, { details });
}

const CONNECTOR_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const STREAM_NAME = /^[a-z][a-z0-9-]*$/;

/** Declares a connector plugin: a data sheet of streams, checked once when it loads. */
export function defineConnector<O extends z.ZodType>(
  definition: ConnectorDefinition<O>,
): ConnectorDefinition<O> {
  if (!CONNECTOR_ID.test(definition.id)) {
    throw problem(`connector id "${definition.id}" must be kebab-case`, { connector: definition.id });
  }
  for (const name of Object.keys(definition.streams)) {
    if (!STREAM_NAME.test(name)) {
      throw problem(`connector ${definition.id}: stream name "${name}" must be lower-case kebab-case`, {
        name,
      });
    }
  }
  // The writeback reads and writes through streams by name: they must be this connector's streams.
  for (const [name, table] of Object.entries(definition.writeback?.streams ?? {})) {
    if (definition.streams[name] !== table) {
      throw problem(`connector ${definition.id}: writeback stream "${name}" is not the connector's stream`, {
        name,
      });
    }
  }
  return Object.freeze(definition);
}
