import { defineTable, t } from '@tendril/core';
import { APPOINTMENT_STATUS } from '../provisional.js';

/** PLACEHOLDER names (provisional.ts): scheduled visits, start in office local time. Confirm with `tendril discover`. */
export const appointmentsTable = defineTable({
  resourceType: 'Appointment',
  table: 'Appointments',
  key: ['AppointmentId'],
  columns: {
    AppointmentId: 'int',
    PatientId: 'int',
    ProviderId: 'int',
    OfficeId: 'int',
    AppointmentTypeId: 'int',
    StartTime: 'datetime',
    DurationMinutes: 'int',
    Status: 'varchar(20)',
    Note: 'varchar(255)',
    LastModified: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  fields: {
    status: t.col(
      'Status',
      t.str(),
      (v) => (typeof v === 'string' ? v.toLowerCase().replace(/[^a-z]/g, '') : v),
      t.lookup(APPOINTMENT_STATUS, 'booked'),
    ),
    sourceStatus: t.col('Status', t.vendorCoding('appointment-status')),
    start: t.col('StartTime', t.localInstant()),
    minutesDuration: t.col('DurationMinutes', t.nullIf(0), t.int()),
    end: t.compute(['StartTime', 'DurationMinutes'], ([when, minutes], ctx) => {
      const start = t.localInstant()(when, ctx) as string | undefined;
      const length = Number(minutes);
      if (start === undefined || !Number.isInteger(length) || length <= 0) return undefined;
      return new Date(Date.parse(start) + length * 60_000).toISOString().replace('.000Z', 'Z');
    }),
    patientId: t.ref('Patient', 'PatientId'),
    practitionerIds: t.refs('Practitioner', ['ProviderId']),
    locationId: t.ref('Location', 'OfficeId'),
    appointmentTypeId: t.ref('AppointmentType', 'AppointmentTypeId'),
    note: t.col('Note', t.str()),
  },
});
