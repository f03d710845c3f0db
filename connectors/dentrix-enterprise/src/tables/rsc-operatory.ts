import { defineTable, t } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { RSC_TYPE } from '../vocabularies.js';
import { activeStatus, resourceName, RSC_COLUMNS } from './rsc-columns.js';

/**
 * Dentrix Enterprise operatories: `DDB_RSC_BASE` rows with `RSCTYPE` {@link RSC_TYPE.operatory}
 * (**A**: the code is not public; see `vocabularies.ts` for the query that checks it). They share
 * the Location type with clinics but not a key collision: both come from the same table and key.
 * The chair's clinic is not mapped: `DefaultClinic` has no matching `…DB` column (A).
 */
export const operatoryTable = defineTable({
  resourceType: 'Location',
  table: 'DDB_RSC_BASE',
  evidence: EVIDENCE.replicaAssumedCode,
  key: ['URSCID', 'RSCDB'],
  columns: RSC_COLUMNS,
  cursor: { mode: 'snapshot' },
  where: { RSCTYPE: RSC_TYPE.operatory },
  constants: { kind: 'operatory' },
  fields: {
    name: t.compute(['NAME_LAST', 'RSCID'], ([name, code]) => resourceName(name, code)),
    status: t.compute(['ActiveFlag'], ([flag]) => activeStatus(flag)),
    bookable: t.compute(['ActiveFlag'], ([flag]) => {
      const status = activeStatus(flag);
      return status === undefined ? undefined : status === 'active';
    }),
  },
});
