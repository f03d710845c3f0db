import { defineTable, isSentinelDate, t } from '@tendril/core';
import { optionsOf } from '../options.js';
import { patternMinutes } from '../pattern.js';
import {
  APT_STATUS,
  APT_STATUS_NOT_APPOINTMENT,
  appointmentStatus,
  DELETED_OBJECT_TYPE_APPOINTMENT,
  LOOKUPS,
  type AppointmentAptStatus,
} from '../vocabularies.js';
import { OPERATORY_SOURCE_ID_PREFIX } from './operatory.js';

/** A `datetime` column that holds a real moment (Open Dental writes `0001-01-01 00:00:00` for none). */
function isSet(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '' && !isSentinelDate(value.trim());
}

/**
 * Open Dental `appointment`. Hard deletes are logged in `deletedobject` (ObjectType 0); planned
 * appointments and patient notes live in the same table but are not appointments.
 * `AptDateTime`, `DateTimeArrived`, `DateTimeDismissed` and `SecDateTEntry` are office local time.
 */
export const appointmentTable = defineTable({
  resourceType: 'Appointment',
  table: 'appointment',
  key: ['AptNum'],
  columns: {
    AptNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    AptStatus: 'tinyint',
    Pattern: 'varchar(255)',
    Op: 'bigint(20)',
    Note: 'text',
    ProvNum: 'bigint(20)',
    ProvHyg: 'bigint(20)',
    AptDateTime: 'datetime',
    IsNewPatient: 'tinyint',
    ClinicNum: 'bigint(20)',
    DateTStamp: 'timestamp',
    DateTimeArrived: 'datetime',
    DateTimeDismissed: 'datetime',
    AppointmentTypeNum: 'bigint(20)',
    SecDateTEntry: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  excludeWhen: { AptStatus: { in: APT_STATUS_NOT_APPOINTMENT } },
  deleteLog: {
    table: 'deletedobject',
    key: ['DeletedObjectNum'],
    columns: {
      DeletedObjectNum: 'bigint(20)',
      ObjectNum: 'bigint(20)',
      ObjectType: 'int(11)',
      DateTStamp: 'timestamp',
    },
    cursor: { column: 'DateTStamp', clock: 'db-utc', precision: 0 },
    deletedKeyColumn: 'ObjectNum',
    // enum DeletedObjectType: 0 Appointment.
    where: { ObjectType: DELETED_OBJECT_TYPE_APPOINTMENT },
  },
  fields: {
    status: t.compute(['AptStatus', 'DateTimeArrived'], ([status, arrived], ctx) =>
      appointmentStatus(
        Number(status) as AppointmentAptStatus,
        isSet(arrived),
        optionsOf(ctx).brokenAppointmentStatus,
      ),
    ),
    sourceStatus: t.col('AptStatus', t.vendorCoding(LOOKUPS.aptStatus, APT_STATUS)),
    start: t.col('AptDateTime', t.localInstant()),
    minutesDuration: t.col('Pattern', patternMinutes),
    end: t.compute(['AptDateTime', 'Pattern'], ([when, pattern], ctx) => {
      const start = t.localInstant()(when, ctx) as string | undefined;
      const minutes = patternMinutes(pattern);
      if (start === undefined || minutes === undefined) return undefined;
      return new Date(Date.parse(start) + minutes * 60_000).toISOString().replace('.000Z', 'Z');
    }),
    patientId: t.ref('Patient', 'PatNum'),
    // Dentist first, then the hygienist ("only used if a hygienist is assigned").
    practitionerIds: t.refs('Practitioner', ['ProvNum', 'ProvHyg']),
    locationId: t.ref('Location', 'ClinicNum', { zeroMeans: '0' }),
    operatoryId: t.ref('Location', 'Op', { prefix: OPERATORY_SOURCE_ID_PREFIX }),
    appointmentTypeId: t.ref('AppointmentType', 'AppointmentTypeNum'),
    // `confirmed` is left out on purpose: `Confirmed` is a per-site definition (DefCat 2
    // ApptConfirmed, free-text names such as "Left Message" or "Arrived"), so no fixed rule can
    // say which values mean confirmed.
    checkedInAt: t.col('DateTimeArrived', t.localInstant()),
    checkedOutAt: t.col('DateTimeDismissed', t.localInstant()),
    isNewPatient: t.col('IsNewPatient', t.bool()),
    note: t.col('Note', t.str()),
    createdAt: t.col('SecDateTEntry', t.localInstant()),
  },
});
