import { defineTable, t } from '@tendril/core';

/** PLACEHOLDER names (provisional.ts): appointment types. Small: read as snapshots. Confirm with `tendril discover`. */
export const appointmentTypesTable = defineTable({
  resourceType: 'AppointmentType',
  table: 'AppointmentTypes',
  key: ['AppointmentTypeId'],
  columns: {
    AppointmentTypeId: 'int',
    TypeName: 'varchar(100)',
    DurationMinutes: 'int',
    Inactive: 'tinyint',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.col('TypeName', t.str()),
    durationMinutes: t.col('DurationMinutes', t.nullIf(0), t.int()),
    coding: t.col('AppointmentTypeId', t.siteCoding('appointment-type')),
    active: t.col('Inactive', t.bool(), t.not()),
  },
});
