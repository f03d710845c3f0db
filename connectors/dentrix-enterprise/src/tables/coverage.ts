import { defineTable, t, type TableDefinition } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { PATIENT_CURSOR } from './pat-base.js';

/** Which of the patient's two dental coverages a stream reads. */
export interface CoverageSlot {
  /** `order` of the Coverage: 1 primary, 2 secondary. */
  readonly order: 1 | 2;
  /** The `DDB_PAT_BASE` columns pointing at `DDB_INSURED_BASE`: `PRINSUREDID/DB` or `SCINSUREDID/DB`. */
  readonly insuredId: 'PRINSUREDID' | 'SCINSUREDID';
  readonly insuredDb: 'PRINSUREDDB' | 'SCINSUREDDB';
  /** Key prefix of the sourceId (`pri:12345:1`), so both slots of one patient stay distinct. */
  readonly prefix: 'pri' | 'sec';
}

/**
 * One of a patient's dental coverages: `DDB_PAT_BASE` (replica) → `DDB_INSURED_BASE` (the
 * subscriber's coverage: member id `IDNUM`, group number `IDNUM2`, dates) → `DDB_INSURANCE_BASE`
 * (the carrier `INSCONAME`), both known from public queries only. A patient without that coverage
 * (`…INSUREDID` 0 or NULL) is not read.
 *
 * Change detection follows the patient's stamp: no stamp of the insured or carrier tables appears
 * in public queries, so an edit there alone is picked up by the nightly reconciliation's rolling
 * re-hash, not by the 10-minute poll (A). `status` is `active` while the patient points at the
 * coverage; an expiration date is reported as `period.end`, not compared with today. The
 * subscriber as a patient and the relationship (`PRINSREL`, codes not public) are not mapped.
 */
export function coverageTable(slot: CoverageSlot): TableDefinition<'Coverage'> {
  return defineTable({
    resourceType: 'Coverage',
    table: 'DDB_PAT_BASE',
    evidence: EVIDENCE.coverage,
    key: ['PATID', 'PATDB'],
    sourceIdPrefix: slot.prefix,
    columns: {
      PATID: 'int',
      PATDB: 'int',
      [slot.insuredId]: 'int',
      [slot.insuredDb]: 'int',
      EntryDateTime: 'datetime',
      DDB_LAST_MOD: 'datetime',
    },
    joins: [
      {
        table: 'DDB_INSURED_BASE',
        alias: 'ins',
        on: { INSUREDID: slot.insuredId, INSUREDDB: slot.insuredDb },
        key: ['INSUREDID', 'INSUREDDB'],
        columns: {
          INSUREDID: 'int',
          INSUREDDB: 'int',
          INSID: 'int',
          INSDB: 'int',
          IDNUM: 'varchar(255)',
          IDNUM2: 'varchar(255)',
          EffectiveDate: 'datetime',
          ExpirationDate: 'datetime',
        },
      },
      {
        table: 'DDB_INSURANCE_BASE',
        alias: 'car',
        on: { INSID: 'ins.INSID', INSDB: 'ins.INSDB' },
        key: ['INSID', 'INSDB'],
        columns: { INSID: 'int', INSDB: 'int', INSCONAME: 'varchar(255)' },
      },
    ],
    // `notIn` also excludes NULL: patients without this coverage.
    where: { [slot.insuredId]: { notIn: [0] } },
    cursor: PATIENT_CURSOR,
    constants: { status: 'active', type: 'dental', order: slot.order },
    fields: {
      beneficiaryId: t.ref('Patient', ['PATID', 'PATDB']),
      subscriberId: t.col('ins.IDNUM', t.str()),
      groupNumber: t.col('ins.IDNUM2', t.str()),
      // "No date" is 1753-03-02 (public queries): before 1800, so core omits it.
      'period.start': t.col('ins.EffectiveDate', t.date()),
      'period.end': t.col('ins.ExpirationDate', t.date()),
      payorName: t.col('car.INSCONAME', t.str()),
    },
  });
}

export const primaryCoverageTable = coverageTable({
  order: 1,
  insuredId: 'PRINSUREDID',
  insuredDb: 'PRINSUREDDB',
  prefix: 'pri',
});

export const secondaryCoverageTable = coverageTable({
  order: 2,
  insuredId: 'SCINSUREDID',
  insuredDb: 'SCINSUREDDB',
  prefix: 'sec',
});
