import { t, type CodeableConcept, type Coding, type MappingContext } from '@tendril/core';
import { LOOKUPS, SYSTEMS } from '../vocabularies.js';

/** A CDT code: `D` and four digits (D0120, D2391). */
const CDT_CODE = /^D\d{4}$/;

/**
 * `DDB_PROC_CODE_BASE.ADACODE` as a Coding: a CDT-shaped code in the CDT system, any other code
 * (a site's own codes) in the site system `urn:tendril:dentrix-enterprise:<connection>:procedure-code`.
 * The code's first character decides the candidate system (`t.lookupPrefix`); the shape check keeps
 * a site code that merely starts with `D` out of CDT.
 */
export function procedureCoding(code: unknown, ctx: MappingContext): Coding | undefined {
  const value = t.str()(code, ctx) as string | undefined;
  if (value === undefined) return undefined;
  const candidate = t.lookupPrefix({ D: SYSTEMS.cdt })(value, ctx) as string | undefined;
  return candidate !== undefined && CDT_CODE.test(value)
    ? { system: candidate, code: value }
    : (t.siteCoding(LOOKUPS.procedureCode)(value, ctx) as Coding);
}

/** The code as a CodeableConcept, its description (`DESCRIPTION`) as `text`. */
export function procedureConcept(
  code: unknown,
  description: unknown,
  ctx: MappingContext,
): CodeableConcept | undefined {
  const coding = procedureCoding(code, ctx);
  if (coding === undefined) return undefined;
  const text = t.str()(description, ctx) as string | undefined;
  return { coding: [coding], ...(text ? { text } : {}) };
}
