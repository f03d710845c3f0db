import type { ColumnDeclarations, JoinSpec } from '@tendril/core';
import { RSC_TYPE } from '../vocabularies.js';
import { DDB_LAST_MOD_CURSOR } from './pat-base.js';
import { procedureCodeJoin } from './proc-code-base.js';

/**
 * The `DDB_PROC_LOG_BASE` columns the procedure, charge and payment streams read (one table holds
 * procedures and ledger lines). Evidence: public queries only — names exact, T-SQL types inferred
 * (`fixtures/public-query-tables.mariadb.sql` says which), to be confirmed by `tendril discover`.
 * Every stream over this table declares the same columns, so its reads and grants are one set.
 */
export const PROC_LOG_COLUMNS = {
  PROC_LOGID: 'int',
  PROC_LOGDB: 'int',
  PATID: 'int',
  PATDB: 'int',
  PROVID: 'int',
  PROVDB: 'int',
  GUARID: 'int',
  GUARDB: 'int',
  PROC_CODEID: 'int',
  PROC_CODEDB: 'int',
  PLDATE: 'datetime',
  CREATEDATE: 'datetime',
  CHART_STATUS: 'int',
  CLASS: 'int',
  AMOUNT: 'int',
  TOOTH_RANGE_START: 'int',
  TOOTH_RANGE_END: 'int',
  SURF_STRING: 'varchar(255)',
  ClinicAppliedTo: 'int',
  DDB_LAST_MOD: 'datetime',
} as const satisfies ColumnDeclarations;

/**
 * The clinic a line is applied to: `ClinicAppliedTo` holds a clinic's `URSCID` (public queries join
 * it so), but no `…DB` half, so the clinic row is joined by `URSCID` with the constant `RSCTYPE` of
 * a clinic to find its full key (`URSCID`+`RSCDB`). To-one as long as a clinic's `URSCID` is unique
 * among clinics (A).
 */
export const CLINIC_JOIN: JoinSpec = {
  table: 'DDB_RSC_BASE',
  alias: 'clinic',
  on: { URSCID: 'ClinicAppliedTo' },
  onValues: { RSCTYPE: RSC_TYPE.clinic },
  key: ['URSCID', 'RSCDB'],
  columns: { URSCID: 'int', RSCDB: 'int', RSCTYPE: 'int' },
};

export const PROC_LOG_JOINS: readonly JoinSpec[] = [
  procedureCodeJoin('PROC_CODEID', 'PROC_CODEDB'),
  CLINIC_JOIN,
];

/**
 * `DDB_LAST_MOD` as for the replica tables (client clock, 3 digits; its type here is inferred),
 * falling back to `CREATEDATE` for lines never stamped.
 */
export const PROC_LOG_CURSOR = { ...DDB_LAST_MOD_CURSOR, fallback: 'CREATEDATE' } as const;
