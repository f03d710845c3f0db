import { defineTable, t } from '@tendril/core';
import { COVERAGE_ORDER, RELATIONSHIP } from '../vocabularies.js';

/**
 * OpenEMR `insurance_data` (a patient's primary/secondary/tertiary policy, by effective `date`)
 * with its payer in `insurance_companies`. Neither table has a change stamp: `snapshot`. OpenEMR
 * keeps empty placeholder rows (no `provider`), which are not coverage. A row with `date_end` is
 * reported with `period.end` and stays `active`; comparing with today would make the mapping
 * depend on the clock.
 */
export const insuranceDataTable = defineTable({
  resourceType: 'Coverage',
  table: 'insurance_data',
  key: ['id'],
  columns: {
    id: 'bigint(20)',
    type: "enum('primary','secondary','tertiary')",
    provider: 'varchar(255)',
    plan_name: 'varchar(255)',
    policy_number: 'varchar(255)',
    group_number: 'varchar(255)',
    subscriber_relationship: 'varchar(255)',
    date: 'date',
    pid: 'bigint(20)',
    date_end: 'date',
  },
  joins: [
    {
      table: 'insurance_companies',
      alias: 'ic',
      on: { id: 'provider' },
      key: ['id'],
      columns: { id: 'int(11)', name: 'varchar(255)', cms_id: 'varchar(15)' },
    },
  ],
  cursor: { mode: 'snapshot' },
  excludeWhen: { provider: { in: ['', '0'] } },
  constants: { status: 'active', type: 'medical' },
  fields: {
    beneficiaryId: t.ref('Patient', 'pid'),
    subscriberId: t.col('policy_number', t.str()),
    relationship: t.col('subscriber_relationship', t.str(), (v) => RELATIONSHIP[String(v).toLowerCase()]),
    order: t.col('type', t.lookup(COVERAGE_ORDER)),
    'period.start': t.col('date', t.date()),
    'period.end': t.col('date_end', t.date()),
    payorName: t.col('ic.name', t.str()),
    payerElectronicId: t.col('ic.cms_id', t.str()),
    groupNumber: t.col('group_number', t.str()),
    planName: t.col('plan_name', t.str()),
  },
});
