import { defineTable, t, type Coding, type JoinSpec } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { procedureCoding } from './procedure-code.js';

/**
 * `DDB_PROC_CODE_BASE` (alias `pc`) joined to a row that carries `PROC_CODEID`/`PROC_CODEDB` under
 * the given names: the code (`ADACODE`) and its description. Keyed like the replica table.
 */
export function procedureCodeJoin(idColumn: string, dbColumn: string): JoinSpec {
  return {
    table: 'DDB_PROC_CODE_BASE',
    alias: 'pc',
    on: { PROC_CODEID: idColumn, PROC_CODEDB: dbColumn },
    key: ['PROC_CODEID', 'PROC_CODEDB'],
    columns: {
      PROC_CODEID: 'int',
      PROC_CODEDB: 'int',
      ADACODE: 'varchar(255)',
      DESCRIPTION: 'varchar(255)',
    },
  };
}

/**
 * Dentrix Enterprise procedure codes (`DDB_PROC_CODE_BASE`, in the replica) as the appointment
 * types a scheduler offers: each code is bookable with its default length. A small reference table
 * read as a snapshot (`DDB_LAST_MOD` is nullable). `MINLEN` in minutes and `IsActive` 1 = active
 * are assumptions (A).
 */
export const procedureCodeTable = defineTable({
  resourceType: 'AppointmentType',
  table: 'DDB_PROC_CODE_BASE',
  evidence: EVIDENCE.replica,
  key: ['PROC_CODEID', 'PROC_CODEDB'],
  columns: {
    PROC_CODEID: 'int',
    PROC_CODEDB: 'int',
    ADACODE: 'varchar(255)',
    DESCRIPTION: 'varchar(255)',
    MINLEN: 'int',
    IsActive: 'bit',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.col('DESCRIPTION', t.str()),
    durationMinutes: t.col('MINLEN', t.nullIf(0), t.int()),
    coding: t.compute(['ADACODE', 'DESCRIPTION'], ([code, description], ctx) => {
      const coding = procedureCoding(code, ctx);
      const display = t.str()(description, ctx) as string | undefined;
      return coding && display ? ({ ...coding, display } satisfies Coding) : coding;
    }),
    active: t.col('IsActive', t.bool()),
  },
});
