import { defineTable, t, type Identifier } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { RSC_TYPE, SYSTEMS } from '../vocabularies.js';
import { RSC_COLUMNS } from './rsc-columns.js';

/**
 * Dentrix Enterprise providers: `DDB_RSC_BASE` rows with `RSCTYPE` 1 (E). A small reference table,
 * read as a snapshot (docs/sync-semantics.md, "Change-detection modes" row 5): a full scan also catches rows whose
 * `DDB_LAST_MOD` is NULL (the column is nullable) and rows whose type changed.
 */
export const practitionerTable = defineTable({
  resourceType: 'Practitioner',
  table: 'DDB_RSC_BASE',
  evidence: EVIDENCE.replica,
  key: ['URSCID', 'RSCDB'],
  columns: RSC_COLUMNS,
  cursor: { mode: 'snapshot' },
  where: { RSCTYPE: RSC_TYPE.provider },
  fields: {
    name: t.humanName({ family: 'NAME_LAST', given: ['NAME_FIRST', 'NAME_INITIAL'], suffix: 'Suffix' }),
    telecom: t.contactPoints([
      { column: 'PHONE', system: 'phone', use: 'work' },
      { column: 'Fax', system: 'fax', use: 'work' },
      { column: 'Email', system: 'email', use: 'work' },
    ]),
    identifiers: t.compute(['STATEID'], ([stateId], ctx) => {
      const value = t.str()(stateId, ctx) as string | undefined;
      return value === undefined ? undefined : ([{ system: SYSTEMS.stateId, value }] satisfies Identifier[]);
    }),
    // A: ActiveFlag 1 = active, 0 = inactive.
    active: t.col('ActiveFlag', t.bool()),
  },
});
