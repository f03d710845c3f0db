import { defineTable, t, type Identifier } from '@tendril/core';
import { EVIDENCE } from '../evidence.js';
import { RSC_TYPE, SYSTEMS } from '../vocabularies.js';
import { activeStatus, resourceName, RSC_COLUMNS } from './rsc-columns.js';

/** A US NPI: ten digits. */
const NPI = /^\d{10}$/;

/**
 * Dentrix Enterprise clinics (offices): `DDB_RSC_BASE` rows with `RSCTYPE` 0 (E). Snapshot, like
 * every resource stream (see `rsc-practitioner.ts`). The office zone is the connection's: the
 * values of `TimeZoneID` are not public (A), so it is not read.
 */
export const officeTable = defineTable({
  resourceType: 'Location',
  table: 'DDB_RSC_BASE',
  evidence: EVIDENCE.replica,
  key: ['URSCID', 'RSCDB'],
  columns: RSC_COLUMNS,
  cursor: { mode: 'snapshot' },
  where: { RSCTYPE: RSC_TYPE.clinic },
  constants: { kind: 'office' },
  fields: {
    name: t.compute(['NAME_LAST', 'RSCID'], ([name, code]) => resourceName(name, code)),
    address: t.address({
      line: ['STREET', 'STREET2'],
      city: 'CITY',
      state: 'STATE',
      postalCode: 'ZIP',
      country: 'COUNTRY',
    }),
    telecom: t.contactPoints([
      { column: 'PHONE', system: 'phone', use: 'work' },
      { column: 'Fax', system: 'fax', use: 'work' },
    ]),
    timezone: t.compute([], (_values, ctx) => ctx.timezone),
    status: t.compute(['ActiveFlag'], ([flag]) => activeStatus(flag)),
    identifiers: t.compute(['ClinicNPI'], ([npi], ctx) => {
      const value = t.str()(npi, ctx) as string | undefined;
      if (value === undefined) return undefined;
      return [
        NPI.test(value) ? { system: SYSTEMS.npi, value, type: 'NPI' } : { system: SYSTEMS.clinicNpi, value },
      ] satisfies Identifier[];
    }),
  },
});
