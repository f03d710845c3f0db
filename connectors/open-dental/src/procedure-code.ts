import type { CodeableConcept, MappingContext } from '@tendril/core';
import { LOOKUPS, SYSTEMS } from './vocabularies.js';

/** A CDT code: `D` and four digits (D0120, D2391). */
const CDT_CODE = /^D\d{4}$/;

/**
 * `procedurecode.ProcCode` as a CodeableConcept. The column "can hold dental codes, medical codes,
 * custom codes", so only a code shaped like CDT gets the CDT system; any other code is kept in the
 * per-site vendor system. The description (`Descript`) becomes `text`.
 */
export function procedureCode(
  code: unknown,
  description: unknown,
  ctx: Pick<MappingContext, 'connectorId' | 'connectionId'>,
): CodeableConcept | undefined {
  if (typeof code !== 'string' || code.trim() === '') return undefined;
  const value = code.trim();
  const system = CDT_CODE.test(value)
    ? SYSTEMS.cdt
    : `urn:tendril:${ctx.connectorId}:${ctx.connectionId}:${LOOKUPS.procedureCode}`;
  const text = typeof description === 'string' && description.trim() !== '' ? description.trim() : undefined;
  return { coding: [{ system, code: value }], ...(text ? { text } : {}) };
}
