import { defineTable, t } from '@tendril/core';
import { patternMinutes } from '../pattern.js';
import { LOOKUPS } from '../vocabularies.js';

/** Open Dental `appointmenttype`: per-site types (colour, default pattern, codes). Small: snapshot. */
export const appointmentTypeTable = defineTable({
  resourceType: 'AppointmentType',
  table: 'appointmenttype',
  key: ['AppointmentTypeNum'],
  columns: {
    AppointmentTypeNum: 'bigint(20)',
    AppointmentTypeName: 'varchar(255)',
    IsHidden: 'tinyint(4)',
    Pattern: 'varchar(255)',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.col('AppointmentTypeName', t.str()),
    // Blank when "the pattern should be dynamically calculated via the procedures": then unknown.
    durationMinutes: t.col('Pattern', patternMinutes),
    coding: t.compute(['AppointmentTypeNum', 'AppointmentTypeName'], ([num, name], ctx) => {
      const coding = t.siteCoding(LOOKUPS.appointmentType)(num, ctx) as
        { system: string; code: string } | undefined;
      const display = t.str()(name, ctx) as string | undefined;
      return coding && display ? { ...coding, display } : coding;
    }),
    active: t.col('IsHidden', t.bool(), t.not()),
  },
});
