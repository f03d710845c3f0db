/**
 * OpenEMR's lists and code systems, as data. Values are taken from the `list_options` and
 * `code_types` rows that `sql/database.sql` installs (fixture `fixtures/openemr`, version
 * 8.2.0-dev); the line of each list is named so a reviewer can check it.
 */
import type { Appointment, Coding, MappingContext } from '@tendril/core';

/** Code systems the connector writes (docs/standard-model.md, "Conventions"). */
export const SYSTEMS = {
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  icd9cm: 'http://hl7.org/fhir/sid/icd-9-cm',
  snomed: 'http://snomed.info/sct',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  nucc: 'http://nucc.org/provider-taxonomy',
  bcp47: 'urn:ietf:bcp:47',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  /** `patient_data.pubpid`: the chart number users see (the MRN). */
  pubpid: 'urn:tendril:openemr:pubpid',
  stateLicense: 'urn:tendril:openemr:state-license',
  federalTaxId: 'urn:tendril:openemr:federal-tax-id',
} as const;

/** Lookup names of vendor codings (`urn:tendril:openemr[:<connectionId>]:<lookup>`). */
export const LOOKUPS = {
  /** `list_options` list `apptstat`: editable per site. */
  apptStatus: 'apptstat',
  /** `openemr_postcalendar_categories.pc_catid`: per site. */
  calendarCategory: 'calendar-category',
  sex: 'sex',
  language: 'language',
  /** `billing.code_type` / `lists.diagnosis` prefixes without a standard system. */
  code: 'code',
} as const;

/**
 * `openemr_postcalendar_events.pc_apptstatus` → Appointment.status, for every `apptstat` row of
 * database.sql (lines 4458–4475). Sites may add statuses; an unknown one maps to `booked` (the
 * appointment still stands) and keeps its code in `sourceStatus`.
 */
export const APPT_STATUS: Readonly<Record<string, Appointment['status']>> = {
  '-': 'booked', // - None
  '*': 'booked', // * Reminder done
  '+': 'booked', // + Chart pulled
  x: 'cancelled', // x Canceled
  '?': 'noshow', // ? No show
  '@': 'arrived', // @ Arrived
  '~': 'arrived', // ~ Arrived late
  '!': 'cancelled', // ! Left w/o visit: the visit did not happen, though the patient came
  '#': 'booked', // # Ins/fin issue
  '<': 'checked-in', // < In exam room
  '>': 'fulfilled', // > Checked out
  $: 'fulfilled', // $ Coding done
  '%': 'cancelled', // % Canceled < 24h
  '^': 'pending', // ^ Pending
  AVM: 'booked', // AVM Confirmed
  SMS: 'booked', // SMS Confirmed
  EMAIL: 'booked', // EMAIL Confimed [sic]
  CALL: 'booked', // Callback requested
};

/** `apptstat` codes that say the patient confirmed (by voice mail, text or e-mail). */
export const APPT_STATUS_CONFIRMED: readonly string[] = ['AVM', 'SMS', 'EMAIL'];

export function appointmentStatus(code: unknown): Appointment['status'] {
  const key = typeof code === 'string' ? code.trim() : '';
  return Object.hasOwn(APPT_STATUS, key) ? APPT_STATUS[key]! : 'booked';
}

/** `patient_data.sex`, list `sex` (lines 3918–3920; option ids are the words themselves). */
export const SEX: Readonly<Record<string, 'male' | 'female' | 'unknown'>> = {
  male: 'male',
  female: 'female',
  unk: 'unknown',
};

/**
 * `patient_data.language` option ids → BCP 47, from the `notes` column of list `language`
 * (ISO 639-1) for the languages most US practices see. Other ids stay a vendor coding.
 */
export const LANGUAGE: Readonly<Record<string, string>> = {
  english: 'en',
  spanish: 'es',
  chinese: 'zh',
  vietnamese: 'vi',
  tagalog: 'tl',
  arabic: 'ar',
  french: 'fr',
  korean: 'ko',
  russian: 'ru',
  german: 'de',
  hindi: 'hi',
  portuguese: 'pt',
  italian: 'it',
  polish: 'pl',
  japanese: 'ja',
};

export function languageCoding(value: unknown, ctx: MappingContext): Coding | undefined {
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '' || text === 'decline_to_specify') return undefined;
  const code = LANGUAGE[text.toLowerCase()];
  return code
    ? { system: SYSTEMS.bcp47, code }
    : { system: `urn:tendril:${ctx.connectorId}:${LOOKUPS.language}`, code: text };
}

/** `insurance_data.subscriber_relationship`, list `sub_relation` (lines 4386–4389). */
export const RELATIONSHIP: Readonly<Record<string, 'self' | 'spouse' | 'child' | 'other'>> = {
  self: 'self',
  spouse: 'spouse',
  child: 'child',
  other: 'other',
};

/** `insurance_data.type` → Coverage.order. */
export const COVERAGE_ORDER: Readonly<Record<string, number>> = { primary: 1, secondary: 2, tertiary: 3 };

/** `lists.verification`, list `condition-verification` (lines 6878–6881). */
export const CONDITION_VERIFICATION = ['confirmed', 'unconfirmed', 'refuted', 'entered-in-error'] as const;

/**
 * Code type prefixes (`code_types.ct_key`, lines 10618–10635) with a standard system. Used for
 * `lists.diagnosis` (`ICD10:E11.9;SNOMED-CT:44054006`) and `billing.code_type`.
 */
export const CODE_TYPE_SYSTEMS: Readonly<Record<string, string>> = {
  ICD10: SYSTEMS.icd10cm,
  ICD9: SYSTEMS.icd9cm,
  SNOMED: SYSTEMS.snomed,
  'SNOMED-CT': SYSTEMS.snomed,
  'SNOMED-PR': SYSTEMS.snomed,
  CPT4: SYSTEMS.cpt,
  HCPCS: SYSTEMS.hcpcs,
};

/** `billing.code_type` values that are services (`ct_proc = 1` and `ct_fee = 1`): procedures and charges. */
export const SERVICE_CODE_TYPES = ['CPT4', 'HCPCS', 'ICD9-SG', 'ICD10-PCS', 'SNOMED-PR'] as const;

/** One coding for a code of an OpenEMR code type; types without a standard system keep a vendor system. */
export function codeOfType(type: string, code: string, ctx: MappingContext): Coding {
  const system = CODE_TYPE_SYSTEMS[type];
  return system
    ? { system, code }
    : {
        system: `urn:tendril:${ctx.connectorId}:${ctx.connectionId}:${LOOKUPS.code}:${type.toLowerCase()}`,
        code,
      };
}

/**
 * Codings of a `lists.diagnosis` value: `TYPE:CODE` entries separated by `;` (OpenEMR writes
 * `ICD10:E11.9;SNOMED-CT:44054006`). Order is kept; duplicates and entries without a type or a
 * code are dropped.
 */
export function parseDiagnosis(value: unknown, ctx: MappingContext): Coding[] {
  if (typeof value !== 'string') return [];
  const out: Coding[] = [];
  const seen = new Set<string>();
  for (const entry of value.split(';')) {
    const colon = entry.indexOf(':');
    if (colon <= 0) continue;
    const type = entry.slice(0, colon).trim().toUpperCase();
    const code = entry.slice(colon + 1).trim();
    if (type === '' || code === '') continue;
    const coding = codeOfType(type, code, ctx);
    const key = `${coding.system}|${coding.code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(coding);
  }
  return out;
}
