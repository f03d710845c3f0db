import type { WritebackConnectionConfig } from './writeback-config.js';
import { writebackFailure, type WritebackFailure } from './writeback.js';

/**
 * Preconditions of a writeback command, written as data: what the vendor cannot take (a field it
 * has no column for, more practitioners than it books) and what the connection must configure.
 * Each rule fails with `validation_failed`, names the field in `details.field`, and says the fix.
 * Checked before anything is read from the EHR, first failing rule first.
 */
export type InputRule =
  | { readonly kind: 'absent'; readonly field: string; readonly why: string }
  | { readonly kind: 'required'; readonly field: string; readonly why: string }
  | { readonly kind: 'notNull'; readonly field: string; readonly why: string }
  | { readonly kind: 'maxItems'; readonly field: string; readonly max: number; readonly why: string }
  | {
      readonly kind: 'setting';
      readonly setting: 'cancelStatus' | 'confirmStatus';
      /** The setting must be given. */
      readonly required?: boolean;
      /** When given, it must match (whole value). */
      readonly pattern?: RegExp;
      /** When given, it must be one of these. */
      readonly oneOf?: readonly string[];
      /** When given, it must not be one of these. */
      readonly notIn?: readonly string[];
      readonly why: string;
    };

/** The vendor has no place for this field: leave it out. */
export const absent = (field: string, why: string): InputRule => ({ kind: 'absent', field, why });
/** The vendor needs this optional field. */
export const required = (field: string, why: string): InputRule => ({ kind: 'required', field, why });
/** The field may be left out but not cleared (`null`). */
export const notNull = (field: string, why: string): InputRule => ({ kind: 'notNull', field, why });
/** At most `max` entries in a list field. */
export const maxItems = (field: string, max: number, why: string): InputRule => ({
  kind: 'maxItems',
  field,
  max,
  why,
});
/** A connection setting the command needs, and the form it must have. */
export const setting = (
  name: 'cancelStatus' | 'confirmStatus',
  check: { required?: boolean; pattern?: RegExp; oneOf?: readonly string[]; notIn?: readonly string[] },
  why: string,
): InputRule => ({ kind: 'setting', setting: name, ...check, why });

function broken(
  rule: InputRule,
  input: Readonly<Record<string, unknown>>,
  settings: WritebackConnectionConfig,
): string | undefined {
  switch (rule.kind) {
    case 'absent':
      return input[rule.field] === undefined ? undefined : `${rule.field}: ${rule.why}`;
    case 'required':
      return input[rule.field] === undefined ? `${rule.field} is required: ${rule.why}` : undefined;
    case 'notNull':
      return input[rule.field] === null ? `${rule.field}: ${rule.why}` : undefined;
    case 'maxItems': {
      const value = input[rule.field];
      return Array.isArray(value) && value.length > rule.max ? `${rule.field}: ${rule.why}` : undefined;
    }
    case 'setting': {
      const value = settings[rule.setting];
      if (value === undefined) return rule.required ? rule.why : undefined;
      if (rule.pattern && !new RegExp(`^(?:${rule.pattern.source})$`).test(value)) return rule.why;
      if (rule.oneOf && !rule.oneOf.includes(value)) return rule.why;
      return rule.notIn?.includes(value) ? rule.why : undefined;
    }
    default:
      return rule satisfies never;
  }
}

/** The first rule the input or the settings break, as a failure; undefined when all hold. */
export function checkRules(
  rules: readonly InputRule[],
  input: Readonly<Record<string, unknown>>,
  settings: WritebackConnectionConfig,
): WritebackFailure | undefined {
  for (const rule of rules) {
    const message = broken(rule, input, settings);
    if (message === undefined) continue;
    const field = rule.kind === 'setting' ? undefined : rule.field;
    return writebackFailure('validation_failed', message, field === undefined ? undefined : { field });
  }
  return undefined;
}
