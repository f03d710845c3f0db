import {
  t,
  type ColumnDeclarations,
  type FieldMapping,
  type JoinSpec,
  type MappingContext,
} from '@tendril/core';
import { codeOfType, SERVICE_CODE_TYPES } from '../vocabularies.js';

/**
 * What the `procedures` and `charges` streams share: OpenEMR `billing` lines of a service code type
 * (CPT4, HCPCS…; the ICD10 lines of the same table are the claim's diagnoses), with the encounter
 * they belong to. `billing` has no change stamp and its edits do not touch
 * `form_encounter.last_update` reliably, so both streams run as `snapshot` scans (hash-diffed
 * against the shadow store, deletes confirmed by lookup). The vendor note's faster plan — re-read
 * by `encounter` when the encounter's stamp moves, plus `id > max` — is not built yet.
 */
export const BILLING_COLUMNS = {
  id: 'int(11)',
  date: 'datetime',
  code_type: 'varchar(15)',
  code: 'varchar(20)',
  pid: 'bigint(20)',
  provider_id: 'int(11)',
  encounter: 'int(11)',
  code_text: 'longtext',
  billed: 'tinyint(1)',
  activity: 'tinyint(1)',
  modifier: 'varchar(12)',
  units: 'int(11)',
  fee: 'decimal(12,2)',
} as const satisfies ColumnDeclarations;

/** The visit of a line: `billing.encounter` is `form_encounter.encounter` (a per-site sequence number), not its `id`. */
export const ENCOUNTER_JOIN: JoinSpec = {
  table: 'form_encounter',
  alias: 'fe',
  on: { encounter: 'encounter', pid: 'pid' },
  key: ['id'],
  columns: {
    id: 'bigint(20)',
    encounter: 'bigint(20)',
    pid: 'bigint(20)',
    date: 'datetime',
    facility_id: 'int(11)',
  },
};

export const BILLING_WHERE = { code_type: { in: SERVICE_CODE_TYPES } } as const;

/** `code_type` + `code` (+ `modifier`) as a CodeableConcept, `code_text` as its text. */
export const billingCode: FieldMapping = t.compute(
  ['code_type', 'code', 'code_text'],
  ([type, code, text], ctx: MappingContext) => {
    const typeText = t.str()(type, ctx) as string | undefined;
    const codeText = t.str()(code, ctx) as string | undefined;
    if (!typeText || !codeText) return undefined;
    const label = t.str()(text, ctx) as string | undefined;
    const coding = codeOfType(typeText.toUpperCase(), codeText, ctx);
    return label ? { coding: [coding], text: label } : { coding: [coding] };
  },
);
