import type { Coding, MappingContext } from '@tendril/core';
import { LANGUAGES, LOOKUPS, SYSTEMS } from './vocabularies.js';

const BCP47_TAGS = new Set(Object.values(LANGUAGES));

/**
 * `patient.Language` as a Coding: a BCP 47 tag when the value is a listed ISO 639 code (three- or
 * two-letter, any case), otherwise the text as Open Dental stores it in the vendor system (custom
 * languages such as "Tahitian"). Empty means unknown.
 */
export function languageCoding(value: unknown, ctx: Pick<MappingContext, 'connectorId'>): Coding | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  const code = text.toLowerCase();
  const tag = Object.hasOwn(LANGUAGES, code) ? LANGUAGES[code] : BCP47_TAGS.has(code) ? code : undefined;
  if (tag) return { system: SYSTEMS.bcp47, code: tag };
  return { system: `urn:tendril:${ctx.connectorId}:${LOOKUPS.language}`, code: text };
}
