import { defineTable, t } from '@tendril/core';

/**
 * `sourceId` prefix of operatories: they share the Location type with offices, and OperatoryNum 1
 * and ClinicNum 1 must not collide. Appointments use it to reference their operatory.
 */
export const OPERATORY_SOURCE_ID_PREFIX = 'op';

/** Open Dental `operatory`: one chair, a column of the Appointments module. */
export const operatoryTable = defineTable({
  resourceType: 'Location',
  table: 'operatory',
  key: ['OperatoryNum'],
  sourceIdPrefix: OPERATORY_SOURCE_ID_PREFIX,
  columns: {
    OperatoryNum: 'bigint(20)',
    OpName: 'varchar(255)',
    IsHidden: 'tinyint',
    ClinicNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  constants: { kind: 'operatory' },
  fields: {
    name: t.col('OpName', t.str()),
    // "0 if no clinic": the chair belongs to the default office.
    partOfId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }),
    // "Used instead of deleting to hide an op that is no longer used."
    status: t.col('IsHidden', t.bool(), t.lookup({ true: 'inactive', false: 'active' })),
    // Every visible chair takes appointments. IsWebSched is not used: it only narrows which chairs
    // Open Dental's own Web Sched searches, and an office without Web Sched would have none bookable.
    bookable: t.col('IsHidden', t.bool(), t.not()),
  },
});
