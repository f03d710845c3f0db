import type { ColumnDeclarations, JoinSpec } from '@tendril/core';

/**
 * `procedurelog` columns and its join to `procedurecode`, shared by the `procedures` and `charges`
 * streams: both read the same rows, so both declare exactly the same columns.
 */
export const PROCEDURELOG_COLUMNS = {
  ProcNum: 'bigint(20)',
  PatNum: 'bigint(20)',
  AptNum: 'bigint(20)',
  ProcDate: 'date',
  ProcFee: 'double',
  Surf: 'varchar(10)',
  ToothNum: 'varchar(2)',
  ProcStatus: 'tinyint',
  ProvNum: 'bigint(20)',
  DateEntryC: 'date',
  ClinicNum: 'bigint(20)',
  CodeNum: 'bigint(20)',
  UnitQty: 'int(11)',
  BaseUnits: 'int(11)',
  DateTStamp: 'timestamp',
  DateComplete: 'date',
} as const satisfies ColumnDeclarations;

/** `procedurecode` (alias `pc`): the code, its description and its treatment area. */
export const PROCEDURECODE_JOIN: JoinSpec = {
  table: 'procedurecode',
  alias: 'pc',
  on: { CodeNum: 'CodeNum' },
  key: ['CodeNum'],
  columns: {
    CodeNum: 'bigint(20)',
    ProcCode: 'varchar(15)',
    Descript: 'varchar(255)',
    TreatArea: 'tinyint',
  },
};
