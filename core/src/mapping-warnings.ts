import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { WarningCode } from './errors.js';
import type { ResourceType } from './model/index.js';

/**
 * Mapping warnings leave core through a Node diagnostics channel: core does no I/O and has no
 * logger, and a channel costs nothing while nobody listens. The engine subscribes, counts and logs
 * (docs/errors.md, "Warning codes"); `mapRow` also returns each row's warnings to its caller.
 */
export const MAPPING_WARNING_CHANNEL = 'tendril:mapping-warning';

/** One dropped value. Names only: never the value, which can be PHI. */
export interface MappingWarning {
  readonly code: WarningCode;
  /** The model field path whose value was dropped (`birthDate`, `addresses`). */
  readonly field: string;
}

/** What the channel carries: a warning with where it happened. */
export interface MappingWarningMessage extends MappingWarning {
  readonly connectionId: string;
  readonly connectorId: string;
  readonly table: string;
  readonly resourceType: ResourceType;
  /** The row's `sourceId` is NOT included: a vendor key can be a chart number. */
}

const warnings = channel(MAPPING_WARNING_CHANNEL);

/** True when someone listens: publishing is skipped otherwise. */
export function mappingWarningsObserved(): boolean {
  return warnings.hasSubscribers;
}

export function publishMappingWarning(message: MappingWarningMessage): void {
  if (warnings.hasSubscribers) warnings.publish(message);
}

/** Listens to every mapping warning of this process until the returned function is called. */
export function subscribeMappingWarnings(listener: (message: MappingWarningMessage) => void): () => void {
  const handler = (message: unknown) => listener(message as MappingWarningMessage);
  subscribe(MAPPING_WARNING_CHANNEL, handler);
  return () => void unsubscribe(MAPPING_WARNING_CHANNEL, handler);
}
