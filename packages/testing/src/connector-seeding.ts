import type { Knex } from 'knex';
import type { TableDefinition } from '@tendril/core';
import type { GeneratorDialect } from './batch-writer.js';
import { createTablesFromDeclarations } from './ddl.js';

/** What `tendril seed` and `tendril demo` ask of a connector's data generator. */
export interface SeedRequest {
  readonly patients: number;
  /** Same seed, same rows. */
  readonly seed: string;
  readonly dialect: GeneratorDialect;
  readonly onProgress?: (done: number, total: number) => void;
}

/** What a generator reports back: rows inserted per vendor table, for `seeded 1,000 patient, …`. */
export interface SeedReport {
  readonly seed: string;
  readonly rows: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

/**
 * The test support a connector offers the agent's `seed` and `demo` commands, exported as
 * `seeding` from `@tendril/connector-<id>/testing`. That subpath is never loaded by a production
 * path: the agent imports it dynamically and says so when a build does not ship it.
 */
export interface ConnectorSeeding {
  /**
   * Creates, in a database that lacks them, the tables the connector's streams read (from its
   * declarations, with the vendor's storage engine on MySQL); returns the names it created.
   */
  createTables(knex: Knex, dialect: GeneratorDialect): Promise<string[]>;
  /** Fills those tables with generated rows. */
  seed(knex: Knex, request: SeedRequest): Promise<SeedReport>;
}

export interface ConnectorSeedingOptions {
  /** The connector's stream declarations (`Object.values(connector.streams)`). */
  readonly tables: readonly TableDefinition[];
  /** The storage engine of the vendor's own MySQL install. Default MyISAM (Open Dental's). */
  readonly mysqlEngine?: 'MyISAM' | 'InnoDB';
  readonly seed: (knex: Knex, request: SeedRequest) => Promise<SeedReport>;
}

/** A connector's {@link ConnectorSeeding}: tables from its declarations, rows from its generator. */
export function connectorSeeding(options: ConnectorSeedingOptions): ConnectorSeeding {
  return {
    createTables: (knex, dialect) =>
      createTablesFromDeclarations(
        knex,
        options.tables,
        dialect,
        options.mysqlEngine ? { mysqlEngine: options.mysqlEngine } : {},
      ),
    seed: options.seed,
  };
}
