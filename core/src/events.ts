import type { ChangeKind } from './classify.js';
import { eventId } from './ids.js';
import type { ResourceType } from './model/index.js';
import type { ReferenceSourceIds } from './mapping.js';

/**
 * The resource type of a custom element event: the rows of a configured nightly SQL script,
 * delivered next to the standard-model resources (custom-element.ts).
 */
export const CUSTOM_ELEMENT_RESOURCE_TYPE = 'CustomElement' as const;
export type CustomElementResourceType = typeof CUSTOM_ELEMENT_RESOURCE_TYPE;

/**
 * What an outbox event is about: a standard-model resource, or a custom element (the rows of a
 * nightly script; custom-element.ts).
 */
export type EventResourceType = ResourceType | CustomElementResourceType;

/** docs/standard-model.md, "Event envelope". */
export interface EventEnvelope {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly connectionId: string;
  readonly resourceType: EventResourceType;
  readonly resourceId: string;
  readonly sequence: number;
  readonly data: Record<string, unknown>;
}

/** An event with what the output formats need besides the envelope. */
export interface StoredEvent {
  readonly envelope: EventEnvelope;
  readonly kind: ChangeKind;
  readonly sourceId: string;
  readonly connectorId: string;
  readonly refs: ReferenceSourceIds;
}

export function eventType(resourceType: ResourceType, kind: ChangeKind): string {
  return `${resourceType[0]!.toLowerCase()}${resourceType.slice(1)}.${kind}`;
}

export function buildEnvelope(input: {
  connectionId: string;
  resourceType: ResourceType;
  resourceId: string;
  sourceId: string;
  kind: ChangeKind;
  hash: string;
  sequence: number;
  data: Record<string, unknown>;
}): EventEnvelope {
  const meta = (input.data['meta'] ?? {}) as { sourceUpdatedAt?: string; syncedAt?: string };
  return {
    id: eventId(input.connectionId, input.resourceType, input.sourceId, input.hash, input.sequence),
    type: eventType(input.resourceType, input.kind),
    occurredAt: meta.sourceUpdatedAt ?? meta.syncedAt ?? new Date().toISOString(),
    connectionId: input.connectionId,
    resourceType: input.resourceType,
    resourceId: input.resourceId,
    sequence: input.sequence,
    data: input.data,
  };
}
