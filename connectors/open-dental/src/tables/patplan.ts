import { defineTable, t } from '@tendril/core';
import { COVERAGE_TYPE, RELATIONSHIP } from '../vocabularies.js';

/**
 * Open Dental `patplan` (one patient's link to a plan, `Ordinal` 1 = primary) with its subscriber
 * (`inssub`), plan (`insplan`) and carrier. "Dropping a plan will delete the entry in this table",
 * so a row is current coverage: `status` is always `active`, and a termination date is reported
 * as `period.end` rather than compared with today, which would make the mapping depend on the clock.
 * Dropped plans leave no trace and are found by reconciliation.
 */
export const patPlanTable = defineTable({
  resourceType: 'Coverage',
  table: 'patplan',
  key: ['PatPlanNum'],
  columns: {
    PatPlanNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    Ordinal: 'tinyint',
    Relationship: 'tinyint',
    InsSubNum: 'bigint(20)',
    SecDateTEdit: 'timestamp',
  },
  joins: [
    {
      table: 'inssub',
      alias: 'sub',
      on: { InsSubNum: 'InsSubNum' },
      key: ['InsSubNum'],
      columns: {
        InsSubNum: 'bigint(20)',
        PlanNum: 'bigint(20)',
        Subscriber: 'bigint(20)',
        DateEffective: 'date',
        DateTerm: 'date',
        SubscriberID: 'varchar(255)',
        SecDateTEdit: 'timestamp',
      },
    },
    {
      table: 'insplan',
      alias: 'plan',
      on: { PlanNum: 'sub.PlanNum' },
      key: ['PlanNum'],
      columns: {
        PlanNum: 'bigint(20)',
        GroupName: 'varchar(50)',
        GroupNum: 'varchar(25)',
        CarrierNum: 'bigint(20)',
        IsMedical: 'tinyint',
        SecDateTEdit: 'timestamp',
      },
    },
    {
      table: 'carrier',
      alias: 'car',
      on: { CarrierNum: 'plan.CarrierNum' },
      key: ['CarrierNum'],
      columns: {
        CarrierNum: 'bigint(20)',
        CarrierName: 'varchar(255)',
        ElectID: 'varchar(255)',
        SecDateTEdit: 'timestamp',
      },
    },
  ],
  cursor: {
    mode: 'timestamp',
    column: 'SecDateTEdit',
    clock: 'db-utc',
    precision: 0,
    also: ['sub.SecDateTEdit', 'plan.SecDateTEdit', 'car.SecDateTEdit'],
  },
  constants: { status: 'active' },
  fields: {
    type: t.col('plan.IsMedical', t.lookup(COVERAGE_TYPE)),
    beneficiaryId: t.ref('Patient', 'PatNum'),
    // "Number assigned by insurance company": the member id.
    subscriberId: t.col('sub.SubscriberID', t.str()),
    subscriberPatientId: t.ref('Patient', 'sub.Subscriber'),
    relationship: t.col('Relationship', t.lookup(RELATIONSHIP)),
    // "1, 2, 3, etc. … 0 is not used."
    order: t.col('Ordinal', t.nullIf(0), t.int()),
    'period.start': t.col('sub.DateEffective', t.date()),
    'period.end': t.col('sub.DateTerm', t.date()),
    payorName: t.col('car.CarrierName', t.str()),
    payerElectronicId: t.col('car.ElectID', t.str()),
    groupNumber: t.col('plan.GroupNum', t.str()),
    groupName: t.col('plan.GroupName', t.str()),
  },
});
