import { defineTable, t } from '@tendril/core';
import { LOOKUPS, SYSTEMS } from '../vocabularies.js';

/**
 * OpenEMR `form_encounter`: one row per visit. `last_update` is a `TIMESTAMP … ON UPDATE
 * CURRENT_TIMESTAMP`, read in a `+00:00` session: `db-utc`. OpenEMR has no encounter status; a
 * visit exists once it is documented, so every encounter is `finished` (deciding by comparing
 * `date` with today would make the mapping depend on the clock). `date` and `date_end` are office
 * local wall times. Other tables (billing, issue links) point at the `encounter` number, not `id`.
 */
export const formEncounterTable = defineTable({
  resourceType: 'Encounter',
  table: 'form_encounter',
  key: ['id'],
  columns: {
    id: 'bigint(20)',
    date: 'datetime',
    date_end: 'datetime',
    facility_id: 'int(11)',
    pid: 'bigint(20)',
    encounter: 'bigint(20)',
    pc_catid: 'int(11)',
    provider_id: 'int(11)',
    supervisor_id: 'int(11)',
    class_code: 'varchar(10)',
    last_update: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'last_update', clock: 'db-utc', precision: 0 },
  constants: { status: 'finished' },
  fields: {
    class: t.compute(['class_code'], ([code], ctx) => ({
      system: SYSTEMS.actCode,
      code: (t.str()(code, ctx) as string | undefined) ?? 'AMB',
    })),
    type: t.compute(['pc_catid'], ([catid], ctx) => {
      const coding = t.siteCoding(LOOKUPS.calendarCategory)(catid, ctx);
      return coding ? { coding: [coding] } : undefined;
    }),
    patientId: t.ref('Patient', 'pid'),
    practitionerIds: t.refs('Practitioner', ['provider_id', 'supervisor_id']),
    locationId: t.ref('Location', 'facility_id'),
    'period.start': t.col('date', t.localInstant()),
    'period.end': t.col('date_end', t.localInstant()),
    identifiers: t.compute(['encounter'], ([encounter], ctx) => {
      const value = t.str()(encounter, ctx);
      return value === undefined ? undefined : [{ system: 'urn:tendril:openemr:encounter', value }];
    }),
  },
});
