import { TendrilError, type MappingContext } from '@tendril/core';
import { z } from 'zod';
import { BROKEN_APPOINTMENT_STATUSES } from './vocabularies.js';

/**
 * Connection options of the Open Dental connector (`connections[].options`). Strict, so a typo in
 * the config file is an error instead of a silently ignored setting; every option has a default.
 */
export const openDentalOptionsSchema = z
  .object({
    /**
     * What a broken appointment (AptStatus 5, "shows with a big X") is: offices use "broken" both
     * for late cancellations and for no-shows, so each connection decides. Default `cancelled`.
     */
    brokenAppointmentStatus: z.enum(BROKEN_APPOINTMENT_STATUSES).default('cancelled'),
  })
  .strict();

export type OpenDentalOptions = z.infer<typeof openDentalOptionsSchema>;

const parsed = new WeakMap<object, OpenDentalOptions>();

/**
 * The connection's options with their defaults, parsed once per options object. Mappings read
 * options through this rather than `ctx.options` directly, so they hold whether or not the caller
 * stored the parsed (defaulted) value or the raw config.
 */
export function optionsOf(ctx: Pick<MappingContext, 'options'>): OpenDentalOptions {
  const cached = parsed.get(ctx.options);
  if (cached) return cached;
  const result = openDentalOptionsSchema.safeParse(ctx.options);
  if (!result.success) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'the open-dental connection options are invalid; fix connections[].options (allowed: brokenAppointmentStatus: cancelled | noshow)',
      { details: { issues: result.error.issues.map((issue) => issue.path.join('.')) } },
    );
  }
  parsed.set(ctx.options, result.data);
  return result.data;
}
