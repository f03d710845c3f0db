import { formatEvent, OUTPUT_FORMATS, TendrilError, type OutputFormat, type StoredEvent } from '@tendril/core';
import type { Cradle } from '../container.js';

export interface EventsOptions {
  format: OutputFormat;
  limit: number;
  connection?: string;
}

export function parseFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) {
    throw new TendrilError('TENDRIL_E_USAGE', `--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return value as OutputFormat;
}

/** The newest `limit` outbox events, oldest first, rendered in the requested format. */
export async function readEvents(cradle: Cradle, options: EventsOptions): Promise<unknown[]> {
  const events: StoredEvent[] = await cradle.store.listEvents({
    ...(options.connection ? { connectionId: options.connection } : {}),
    limit: options.limit,
    newestFirst: true,
  });
  const clientIds = new Map(cradle.config.connections.map((c) => [c.id, c.clientId ?? c.id]));
  return events.reverse().map((event) => {
    const clientId = clientIds.get(event.envelope.connectionId) ?? event.envelope.connectionId;
    return formatEvent(event, options.format, { clientId });
  });
}
