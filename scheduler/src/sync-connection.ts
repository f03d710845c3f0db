import { connectorForSite, type ConnectionConfig, type ConnectorDefinition } from '@tendril/core';
import { trackMappingWarnings, type MappingWarningCount } from './mapping-warnings.js';
import { syncStream, type StreamSyncDeps, type StreamSyncResult } from './sync-stream.js';

export interface ConnectionSyncResult {
  readonly id: string;
  readonly streams: readonly StreamSyncResult[];
}

/** The streams of a connection to run: the configured subset, or all in declaration order. */
export function streamsOf(
  connection: ConnectionConfig,
  connector: ConnectorDefinition,
  only?: string,
): string[] {
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
): Promise<{
  result: ConnectionSyncResult;
  errors: { stream: string; error: unknown }[];
  /** Streams skipped because `tendril discover` paused them (schema drift), with the reason. */
  paused?: { stream: string; reason: string }[];
  /** Values dropped with a warning code while mapping, per stream (docs/errors.md, "Warning codes"). */
  warnings?: (MappingWarningCount & { stream: string })[];
}> {
  const results: StreamSyncResult[] = [];
  const errors: { stream: string; error: unknown }[] = [];
  const paused: { stream: string; reason: string }[] = [];
  const logger = deps.logger.child({ connectionId: input.connection.id });
  // This site's table names (connections[].tableMap); without overrides the declared connector.
  const connector = connectorForSite(input.connector, input.connection.tableMap);
  // Streams run one after the other, so what is counted between two `take`s belongs to one stream.
  const tracker = trackMappingWarnings(deps.logger, new Set([input.connection.id]));
  const warnings: (MappingWarningCount & { stream: string })[] = [];
  try {
    for (const stream of streamsOf(input.connection, input.connector, input.stream)) {
      try {
        const pause = (await deps.store.getStreamState(input.connection.id, stream))?.paused;
        if (pause) {
          logger.warn(
            { stream, reason: pause.reason },
            'stream paused by discover (schema drift); skipped until discover finds it fitting',
          );
          paused.push({ stream, reason: pause.reason });
          continue;
        }
        results.push(
          await syncStream(
            { ...deps, logger },
            {
              connection: input.connection,
              connector,
              stream,
              ...(input.full ? { full: true } : {}),
              ...(input.onProgress ? { onProgress: (read: number) => input.onProgress!(stream, read) } : {}),
            },
          ),
        );
      } catch (error) {
        errors.push({ stream, error });
      }
      for (const count of tracker.take(input.connection.id)) warnings.push({ stream, ...count });
    }
  } finally {
    tracker.stop();
  }
  return {
    result: { id: input.connection.id, streams: results },
    errors,
    ...(paused.length > 0 ? { paused } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
