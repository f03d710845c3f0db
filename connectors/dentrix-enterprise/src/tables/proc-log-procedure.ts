import { cellText, defineTable, t } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { CHART_STATUS } from '../vocabularies.js';
import { procedureConcept } from './procedure-code.js';
import { PROC_LOG_COLUMNS, PROC_LOG_CURSOR, PROC_LOG_JOINS } from './proc-log-columns.js';

/** The surfaces a tooth can have, as the model spells them. */
const SURFACES = ['M', 'O', 'D', 'B', 'F', 'L', 'I'] as const;

/**
 * `TOOTH_RANGE_START`/`END` as one tooth: only when the range is a single tooth (END empty, 0 or
 * equal). A range (a quadrant, a bridge) has no single ADA tooth and is left out (A: the columns'
 * meaning is read from their names).
 */
export function singleTooth(start: unknown, end: unknown): string | undefined {
  const first = Number(start);
  if (!Number.isInteger(first) || first <= 0) return undefined;
  const last = cellText(end).trim() === '' ? 0 : Number(end);
  return last === 0 || last === first ? String(first) : undefined;
}

/**
 * `SURF_STRING` as surfaces when it is made of surface letters only (`MOD`); any other shape is
 * left out (A: the column's format is not public).
 */
export function surfaceLetters(value: unknown): (typeof SURFACES)[number][] | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toUpperCase();
  if (text === '' || ![...text].every((c) => (SURFACES as readonly string[]).includes(c))) return undefined;
  return [...new Set(text)] as (typeof SURFACES)[number][];
}

/**
 * Completed procedures: `DDB_PROC_LOG_BASE` rows with `CHART_STATUS` 102 (public queries). The
 * code comes from `DDB_PROC_CODE_BASE` (`ADACODE`, CDT); `AMOUNT` is in cents. A procedure that
 * leaves status 102 is no longer read, so reconciliation deletes it.
 */
export const procedureTable = defineTable({
  resourceType: 'Procedure',
  table: 'DDB_PROC_LOG_BASE',
  evidence: EVIDENCE.publicQueries,
  key: ['PROC_LOGID', 'PROC_LOGDB'],
  columns: PROC_LOG_COLUMNS,
  joins: PROC_LOG_JOINS,
  cursor: PROC_LOG_CURSOR,
  where: { CHART_STATUS: CHART_STATUS.completedProcedure },
  constants: { status: 'completed' },
  fields: {
    code: t.compute(['pc.ADACODE', 'pc.DESCRIPTION'], ([code, description], ctx) =>
      procedureConcept(code, description, ctx),
    ),
    patientId: t.ref('Patient', ['PATID', 'PATDB']),
    practitionerId: t.ref('Practitioner', ['PROVID', 'PROVDB']),
    locationId: t.ref('Location', ['clinic.URSCID', 'clinic.RSCDB']),
    performedDate: t.col('PLDATE', t.date()),
    tooth: t.compute(['TOOTH_RANGE_START', 'TOOTH_RANGE_END'], ([start, end]) => singleTooth(start, end)),
    surfaces: t.col('SURF_STRING', surfaceLetters),
    fee: t.col('AMOUNT', t.money.cents()),
  },
});
