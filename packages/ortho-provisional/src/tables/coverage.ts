import { defineTable, t } from '@tendril/core';

/** PLACEHOLDER names (provisional.ts): a patient's insurance policies. Confirm with `tendril discover`. */
export const coverageTable = defineTable({
  resourceType: 'Coverage',
  table: 'PatientInsurance',
  key: ['PatientInsuranceId'],
  columns: {
    PatientInsuranceId: 'int',
    PatientId: 'int',
    SubscriberPatientId: 'int',
    Ordinal: 'int',
    CarrierName: 'varchar(100)',
    PayerId: 'varchar(20)',
    MemberId: 'varchar(40)',
    GroupNumber: 'varchar(40)',
    GroupName: 'varchar(100)',
    EffectiveDate: 'date',
    TermDate: 'date',
    LastModified: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  constants: { status: 'active', type: 'dental' },
  fields: {
    beneficiaryId: t.ref('Patient', 'PatientId'),
    subscriberPatientId: t.ref('Patient', 'SubscriberPatientId'),
    subscriberId: t.col('MemberId', t.str()),
    order: t.col('Ordinal', t.nullIf(0), t.int()),
    'period.start': t.col('EffectiveDate', t.date()),
    'period.end': t.col('TermDate', t.date()),
    payorName: t.col('CarrierName', t.str()),
    payerElectronicId: t.col('PayerId', t.str()),
    groupNumber: t.col('GroupNumber', t.str()),
    groupName: t.col('GroupName', t.str()),
  },
});
