import { defineConnector, type ConnectorDefinition } from '@tendril/core';
import { z } from 'zod';
import { PROVISIONAL_NOTE } from './provisional.js';
import { appointmentTypesTable } from './tables/appointment-types.js';
import { appointmentsTable } from './tables/appointments.js';
import { coverageTable } from './tables/coverage.js';
import { officesTable } from './tables/offices.js';
import { patientsTable } from './tables/patients.js';
import { providersTable } from './tables/providers.js';

/** What differs between the products that share the provisional map. */
export interface ProvisionalOrthoProduct {
  /** The connector id (kebab-case, stable: it names the connector in configs). */
  readonly id: string;
  readonly displayName: string;
}

/**
 * The one provisional table map of the SQL Server orthodontic practice systems with no public
 * schema (Dolphin Management, Orthotrac). Every name in it is a placeholder (provisional.ts): what
 * is known about both products is the same (SQL Server, presumably; a `Main_OMS` database), so
 * they share one definition and each connector folder holds only its id and name. A site's real
 * names come from `tendril discover` + `tendril map` (connections[].tableMap). Reads need SELECT
 * only (`tendril grants --connector <id> --dialect mssql`), not the db_owner other vendors request.
 * Stream names key the cursors in the store: never rename them.
 */
export function provisionalOrthoConnector(product: ProvisionalOrthoProduct): ConnectorDefinition {
  return defineConnector({
    id: product.id,
    displayName: product.displayName,
    dialects: ['mssql'],
    versions: ['unknown'],
    verification: { level: 'provisional', against: PROVISIONAL_NOTE },
    optionsSchema: z.object({}).strict(),
    streams: {
      patients: patientsTable,
      practitioners: providersTable,
      offices: officesTable,
      'appointment-types': appointmentTypesTable,
      appointments: appointmentsTable,
      coverage: coverageTable,
    },
  });
}

export { APPOINTMENT_STATUS, PROVISIONAL_NOTE } from './provisional.js';
