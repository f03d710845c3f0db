import type { ConnectionConfig, ConnectorDefinition } from '@tendril/core';
import { syncStream, type StreamSyncDeps, type StreamSyncResult } from './sync-stream.js';

export interface ConnectionSyncResult {
  readonly id: string;
  readonly streams: readonly StreamSyncResult[];
}

/** The streams of a connection to run: the configured subset, or all in declaration order. */
export function streamsOf(connection: ConnectionConfig, connector: ConnectorDefinition, only?: string): string[] {
  const all = Object.keys(connector.streams);
  const configured = connection.streams ?? all;
  return only ? configured.filter((s) => s === only) : configured;
}

/** Polls (or backloads) each stream of one connection in turn; one failing stream does not stop the others. */
export async function syncConnection(
  deps: StreamSyncDeps,
  input: {
    connection: ConnectionConfig;
    connector: ConnectorDefinition;
    stream?: string;
    full?: boolean;
    onProgress?: (stream: string, read: number) => void;
  },
): Promise<{ result: ConnectionSyncResult; errors: { stream: string; error: unknown }[] }> {
  const results: StreamSyncResult[] = [];
  const errors: { stream: string; error: unknown }[] = [];
  const logger = deps.logger.child({ connectionId: input.connection.id });
  for (const stream of streamsOf(input.connection, input.connector, input.stream)) {
    try {
      results.push(
        await syncStream(
          { ...deps, logger },
          {
            connection: input.connection,
            connector: input.connector,
            stream,
            ...(input.full ? { full: true } : {}),
            ...(input.onProgress ? { onProgress: (read: number) => input.onProgress!(stream, read) } : {}),
          },
        ),
      );
    } catch (error) {
      errors.push({ stream, error });
    }
  }
  return { result: { id: input.connection.id, streams: results }, errors };
}
