import { parentPort } from 'node:worker_threads';
import {
  connectorForSite,
  isTendrilError,
  mappingContext,
  subscribeMappingWarnings,
  TendrilError,
  type ConnectorDefinition,
  type MappingContext,
  type MappingWarningMessage,
  type TableDefinition,
} from '@tendril/core';
import { mapPageRows, tableSignature } from './map-page.js';
import type { MapPageError, MapPageReply, MapPageRequest, MapTableSpec } from './map-pool.js';

/**
 * A thread of the map pool (map-pool.ts): maps the pages it is sent with the engine's own
 * {@link mapPageRows} and posts the result back. A table definition holds functions (the field
 * transforms), which cannot cross threads, so the worker builds the table itself from the
 * connector registry module the pool was given, with the connection's `tableMap` applied.
 */

if (!parentPort) throw new Error('map-worker.ts runs as a worker thread of the map pool');
const port = parentPort;

interface LoadedTable {
  readonly table: TableDefinition;
  readonly ctx: MappingContext;
  readonly signature: string;
}

const connectorModules = new Map<
  string,
  Promise<{ loadConnector(id: string): Promise<ConnectorDefinition> }>
>();
const tables = new Map<string, Promise<LoadedTable>>();

async function loadTable(spec: MapTableSpec): Promise<LoadedTable> {
  let registry = connectorModules.get(spec.connectorModule);
  if (!registry) {
    registry = import(spec.connectorModule) as Promise<{
      loadConnector(id: string): Promise<ConnectorDefinition>;
    }>;
    connectorModules.set(spec.connectorModule, registry);
  }
  const connector = connectorForSite(await (await registry).loadConnector(spec.connectorId), spec.tableMap);
  const table = connector.streams[spec.stream];
  if (!table) {
    throw new TendrilError(
      'TENDRIL_E_STREAM_UNKNOWN',
      `connector ${spec.connectorId} has no stream "${spec.stream}" in the map pool's connector registry`,
    );
  }
  return { table, ctx: mappingContext(spec.context), signature: tableSignature(table) };
}

function tableFor(spec: MapTableSpec): Promise<LoadedTable> {
  // One table and mapping context per spec: its reference-id memory lives as long as the worker.
  const key = JSON.stringify(spec);
  let loaded = tables.get(key);
  if (!loaded) {
    loaded = loadTable(spec);
    tables.set(key, loaded);
  }
  return loaded;
}

/** Mapping warnings published while a page is mapped: the engine re-publishes them on its thread. */
let published: MappingWarningMessage[] = [];
subscribeMappingWarnings((message) => published.push(message));

function replyError(error: unknown): MapPageError {
  if (isTendrilError(error)) {
    return {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.details ? { details: error.details } : {}),
    };
  }
  const named = error instanceof Error ? error : new Error(String(error));
  return { name: named.name, message: named.message, ...(named.stack ? { stack: named.stack } : {}) };
}

port.on('message', (request: MapPageRequest) => {
  tableFor(request.table).then(
    ({ table, ctx, signature }) => {
      // Mapping is synchronous: the warnings collected here are this page's alone.
      published = [];
      let reply: MapPageReply;
      try {
        const page = mapPageRows(table, ctx, request.rows, request.syncedAt);
        // As JSON text: a string crosses the thread as one copy, and JSON.parse on the engine's
        // thread costs about half what deserializing the structured clone of the objects does.
        // The resources are JSON by construction (the model's schemas just validated them).
        reply = { id: request.id, pageJson: JSON.stringify(page), published, signature };
      } catch (error) {
        reply = { id: request.id, error: replyError(error), published };
      }
      published = [];
      port.postMessage(reply);
    },
    (error: unknown) => {
      const reply: MapPageReply = { id: request.id, error: replyError(error), published: [] };
      port.postMessage(reply);
    },
  );
});
