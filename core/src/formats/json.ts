import type { EventEnvelope, StoredEvent } from '../events.js';

/**
 * The `json` output format (docs/standard-model.md, "Output formats"): the event envelope exactly as stored.
 * It is the lossless format, so nothing is added, dropped or reordered; the same object is returned.
 */
export function toJsonEvent(event: StoredEvent): EventEnvelope {
  return event.envelope;
}
