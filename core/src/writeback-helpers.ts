import type { WritebackContext, WritebackInput, WritebackOutcome } from './writeback.js';

/**
 * Pieces every writeback handler needs, whatever the vendor: a coded failure, a framework id
 * resolved to its source key, and the standard model's contact points and addresses laid out in
 * vendor columns.
 */

export type WritebackFailure = Extract<WritebackOutcome, { ok: false }>;

/** A failed outcome with its public error code (writeback.md §4). */
export function writebackFailure(
  code: WritebackFailure['code'],
  message: string,
  details?: Record<string, unknown>,
): WritebackFailure {
  return { ok: false, code, message, ...(details ? { details } : {}) };
}

/** The vendor key of a framework id, or `not_found` naming the input field. */
export async function resolveSourceId(
  ctx: WritebackContext,
  type: Parameters<WritebackContext['sourceIdOf']>[0],
  id: string,
  field: string,
): Promise<string | WritebackFailure> {
  const sourceId = await ctx.sourceIdOf(type, id);
  return (
    sourceId ??
    writebackFailure(
      'not_found',
      `${field} is not a known ${type} of this connection (not yet polled, or deleted)`,
      {
        field,
      },
    )
  );
}

/** A vendor's contact columns: e-mail, and phones by use; phones of any other use go to `mobile`. */
export interface ContactColumnNames {
  readonly email: string;
  readonly home: string;
  readonly work: string;
  readonly mobile: string;
}

/** Contact points → vendor columns, the first value of each kind winning (the order the read mapping ranks them). */
export function contactColumns(
  telecom: WritebackInput<'Patient.create'>['telecom'],
  names: ContactColumnNames,
): Record<string, string> {
  const columns: Record<string, string> = {};
  for (const point of telecom) {
    if (point.system === 'email') columns[names.email] ??= point.value;
    else if (point.use === 'home') columns[names.home] ??= point.value;
    else if (point.use === 'work') columns[names.work] ??= point.value;
    else columns[names.mobile] ??= point.value;
  }
  return columns;
}

/** The address a single-address EHR keeps: the home one (or one without a use), else the first. */
export function primaryAddress(
  addresses: WritebackInput<'Patient.create'>['addresses'],
): WritebackInput<'Patient.create'>['addresses'][number] | undefined {
  return addresses.find((a) => a.use === undefined || a.use === 'home') ?? addresses[0];
}
