import type { z } from 'zod';
import {
  Appointment,
  AppointmentType,
  ChargeItem,
  Condition,
  Coverage,
  Encounter,
  Location,
  Organization,
  Patient,
  Payment,
  Practitioner,
  Procedure,
} from './resources.js';

export * from './datatypes.js';
export * from './resources.js';

/** Every resource type of the standard model, with its validating schema. */
export const RESOURCE_SCHEMAS = {
  Organization,
  Location,
  Practitioner,
  Patient,
  Appointment,
  AppointmentType,
  Encounter,
  Condition,
  Procedure,
  ChargeItem,
  Coverage,
  Payment,
} as const;

export type ResourceType = keyof typeof RESOURCE_SCHEMAS;
export const RESOURCE_TYPES = Object.keys(RESOURCE_SCHEMAS) as ResourceType[];
export type Resource = { [K in ResourceType]: z.infer<(typeof RESOURCE_SCHEMAS)[K]> }[ResourceType];
export type ResourceOf<T extends ResourceType> = z.infer<(typeof RESOURCE_SCHEMAS)[T]>;

export function isResourceType(value: string): value is ResourceType {
  return Object.hasOwn(RESOURCE_SCHEMAS, value);
}

/**
 * Field names that can carry patient data. Log redaction is derived from this list, so adding a PHI
 * field to the model means adding it here — the log-scan test fails otherwise.
 */
export const PHI_FIELD_NAMES = [
  'name',
  'preferredName',
  'birthDate',
  'telecom',
  'addresses',
  'address',
  'deceasedDate',
  'identifiers',
  'subscriberId',
  'note',
  'cancellationReason',
  'data',
  'resource',
  'row',
  'rows',
  'values',
  'input',
] as const;
