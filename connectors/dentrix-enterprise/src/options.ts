import { TendrilError, type MappingContext } from '@tendril/core';
import { z } from 'zod';
import { BROKEN_APPOINTMENT_STATUSES } from './vocabularies.js';

/**
 * Connection options of the Dentrix Enterprise connector (`connections[].options`). Strict, so a
 * typo in the config file is an error instead of a silently ignored setting; every option has a
 * default.
 */
export const dentrixEnterpriseOptionsSchema = z
  .object({
    /** What a broken appointment (STATUS 100) is: `cancelled` (default) or `noshow`. */
    brokenAppointmentStatus: z.enum(BROKEN_APPOINTMENT_STATUSES).default('cancelled'),
  })
  .strict();

export type DentrixEnterpriseOptions = z.infer<typeof dentrixEnterpriseOptionsSchema>;

const parsed = new WeakMap<object, DentrixEnterpriseOptions>();

/**
 * The connection's options with their defaults, parsed once per options object, so mappings hold
 * whether the caller stored the parsed (defaulted) value or the raw config.
 */
export function optionsOf(ctx: Pick<MappingContext, 'options'>): DentrixEnterpriseOptions {
  const cached = parsed.get(ctx.options);
  if (cached) return cached;
  const result = dentrixEnterpriseOptionsSchema.safeParse(ctx.options);
  if (!result.success) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'the dentrix-enterprise connection options are invalid; fix connections[].options (allowed: brokenAppointmentStatus: cancelled | noshow)',
      { details: { issues: result.error.issues.map((issue) => issue.path.join('.')) } },
    );
  }
  parsed.set(ctx.options, result.data);
  return result.data;
}
