import { defineTable, t, type ColumnDeclarations, type MappingContext } from '@tendril/core';
import { APPT_STATUS_CONFIRMED, appointmentStatus, LOOKUPS } from '../vocabularies.js';

/** `pc_eventDate` + a `time` column as an instant, in the office's (the connection's) zone. */
function localStart(date: unknown, time: unknown, ctx: MappingContext): string | undefined {
  if (typeof date !== 'string' || typeof time !== 'string' || time.trim() === '') return undefined;
  return t.localInstant()(`${date.trim()} ${time.trim()}`, ctx) as string | undefined;
}

/**
 * OpenEMR `openemr_postcalendar_events`: the calendar. No column is a reliable change stamp
 * (`pc_time` is not touched by status-only updates), so the stream runs in `window` mode on
 * `pc_eventDate`: every poll re-reads the appointments from 30 days back to 90 days ahead plus
 * every new `pc_eid`, and sees hard deletes inside that window (docs/sync-semantics.md, "Change-detection modes").
 *
 * Events without a patient (`pc_pid` empty or 0: lunch, "in office", "out of office") are
 * provider calendar entries, not appointments (they would be busy Slots: not yet emitted).
 *
 * Not yet: a recurring series (`pc_recurrtype` ≠ 0) is one row in OpenEMR and is emitted as ONE
 * appointment at its first date (`pc_eventDate`); its later occurrences are not expanded into
 * `pc_eid:YYYY-MM-DD` resources, and a series that started before the window is not re-read.
 */
export const postcalendarEventsTable = defineTable({
  resourceType: 'Appointment',
  table: 'openemr_postcalendar_events',
  key: ['pc_eid'],
  columns: {
    pc_eid: 'int(11) unsigned',
    pc_catid: 'int(11)',
    pc_aid: 'varchar(30)',
    pc_pid: 'varchar(11)',
    pc_title: 'varchar(150)',
    pc_time: 'datetime',
    pc_hometext: 'text',
    pc_eventDate: 'date',
    pc_duration: 'bigint(20)',
    pc_recurrtype: 'int(1)',
    pc_startTime: 'time',
    pc_endTime: 'time',
    pc_alldayevent: 'int(1)',
    pc_apptstatus: 'varchar(15)',
    pc_facility: 'int(11)',
    pc_room: 'varchar(20)',
  },
  joins: [
    {
      table: 'openemr_postcalendar_categories',
      alias: 'cat',
      on: { pc_catid: 'pc_catid' },
      key: ['pc_catid'],
      columns: { pc_catid: 'int(11) unsigned', pc_catname: 'varchar(100)' },
    },
  ],
  cursor: { mode: 'window', dateColumn: 'pc_eventDate', pastDays: 30, futureDays: 90 },
  excludeWhen: { pc_pid: { in: ['', '0'] } },
  fields: {
    status: t.col('pc_apptstatus', (v) => appointmentStatus(v)),
    sourceStatus: t.col('pc_apptstatus', t.siteCoding(LOOKUPS.apptStatus)),
    confirmed: t.compute(['pc_apptstatus'], ([code]) =>
      typeof code === 'string' && APPT_STATUS_CONFIRMED.includes(code.trim()) ? true : undefined,
    ),
    start: t.compute(['pc_eventDate', 'pc_startTime'], ([date, time], ctx) => localStart(date, time, ctx)),
    end: t.compute(
      ['pc_eventDate', 'pc_startTime', 'pc_endTime', 'pc_duration'],
      ([date, startTime, endTime, duration], ctx) => {
        const start = localStart(date, startTime, ctx);
        const end = localStart(date, endTime, ctx);
        if (start !== undefined && end !== undefined && end > start) return end;
        const seconds = Number(duration);
        if (start === undefined || !Number.isFinite(seconds) || seconds <= 0) return undefined;
        return new Date(Date.parse(start) + seconds * 1000).toISOString().replace('.000Z', 'Z');
      },
    ),
    // pc_duration is in seconds.
    minutesDuration: t.compute(['pc_duration'], ([duration]) => {
      const seconds = Number(duration);
      return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds / 60) : undefined;
    }),
    patientId: t.ref('Patient', 'pc_pid'),
    practitionerIds: t.refs('Practitioner', ['pc_aid']),
    locationId: t.ref('Location', 'pc_facility'),
    appointmentType: t.compute(['pc_catid', 'cat.pc_catname'], ([catid, name], ctx) => {
      const coding = t.siteCoding(LOOKUPS.calendarCategory)(catid, ctx) as
        { system: string; code: string } | undefined;
      const display = t.str()(name, ctx) as string | undefined;
      return coding && display ? { ...coding, display } : coding;
    }),
    note: t.col('pc_hometext', t.str()),
  },
});

/**
 * The `openemr_postcalendar_events` columns writeback sends that polling does not read, with their
 * types in database.sql (`schema.int.test.ts` checks them): every NOT NULL column without a
 * default, and what OpenEMR's own insert sets.
 */
export const postcalendarEventsWriteOnly = {
  pc_multiple: 'int(10) unsigned',
  pc_informant: 'varchar(20)',
  pc_recurrspec: 'text',
  pc_recurrfreq: 'int(3)',
  pc_prefcatid: 'int(11)',
  pc_eventstatus: 'int(11)',
  pc_sharing: 'int(11)',
  pc_billing_location: 'smallint(6)',
  uuid: 'binary(16)',
} as const satisfies ColumnDeclarations;

/** `pc_recurrspec` of a non-recurring event, exactly as OpenEMR serialises it. */
const NO_RECURRENCE =
  'a:5:{s:17:"event_repeat_freq";s:1:"0";s:22:"event_repeat_freq_type";s:1:"0";s:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";s:20:"event_repeat_on_freq";s:1:"0";}';

/**
 * What OpenEMR's own insert gives every new event: category 5 "Office Visit" (database.sql's
 * default), not recurring, not all day, status "-" (none), active and shared.
 */
export const postcalendarEventsInsertDefaults = {
  pc_catid: 5,
  pc_multiple: 0,
  pc_recurrtype: 0,
  pc_recurrspec: NO_RECURRENCE,
  pc_recurrfreq: 0,
  pc_alldayevent: 0,
  pc_apptstatus: '-',
  pc_prefcatid: 0,
  pc_eventstatus: 1,
  pc_sharing: 1,
  pc_room: '',
} as const;
