import { defineTable, t } from '@tendril/core';
import { CONDITION_VERIFICATION, parseDiagnosis } from '../vocabularies.js';

/**
 * OpenEMR `lists` rows of `type = 'medical_problem'`: the problem list (the same table holds
 * allergies, medications, surgeries…). `diagnosis` holds the codes as `ICD10:E11.9;SNOMED-CT:…`.
 * `activity = 0` is OpenEMR's delete flag. `modifydate` is a `TIMESTAMP … ON UPDATE`: `db-utc`.
 * A problem with an end date is resolved; `begdate`/`enddate` are dates written as datetimes.
 */
export const medicalProblemTable = defineTable({
  resourceType: 'Condition',
  table: 'lists',
  key: ['id'],
  columns: {
    id: 'bigint(20)',
    date: 'datetime',
    type: 'varchar(255)',
    title: 'varchar(255)',
    begdate: 'datetime',
    enddate: 'datetime',
    diagnosis: 'varchar(255)',
    activity: 'tinyint(4)',
    pid: 'bigint(20)',
    verification: 'varchar(36)',
    modifydate: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'modifydate', clock: 'db-utc', precision: 0 },
  where: { type: 'medical_problem' },
  deletedWhen: { activity: 0 },
  constants: { category: 'problem-list-item' },
  fields: {
    code: t.compute(['diagnosis', 'title'], ([diagnosis, title], ctx) => {
      const coding = parseDiagnosis(diagnosis, ctx);
      const text = t.str()(title, ctx) as string | undefined;
      if (coding.length === 0) return undefined;
      return text ? { coding, text } : { coding };
    }),
    clinicalStatus: t.compute(['enddate'], ([end], ctx) =>
      t.date()(end, ctx) === undefined ? 'active' : 'resolved',
    ),
    verificationStatus: t.col(
      'verification',
      t.lookup(Object.fromEntries(CONDITION_VERIFICATION.map((v) => [v, v]))),
    ),
    patientId: t.ref('Patient', 'pid'),
    onsetDate: t.col('begdate', t.date()),
    abatementDate: t.col('enddate', t.date()),
    recordedDate: t.col('date', t.date()),
  },
});
