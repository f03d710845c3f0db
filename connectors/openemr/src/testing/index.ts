// Test support for OpenEMR: a deterministic clinic generator (with Synthea problems when the
// shared sample is present). Exported as `@tendril/connector-openemr/testing` for tests and
// `tendril seed`; the connector's main entry never imports it.
import { connectorSeeding } from '@tendril/testing';
import { openEmr } from '../index.js';
import { seedOpenEmr } from './generator.js';

export * from './generator.js';

/** `tendril seed --connector openemr`: tables from the declarations (InnoDB, as OpenEMR installs them), rows from {@link seedOpenEmr}. */
export const seeding = connectorSeeding({
  tables: Object.values(openEmr.streams),
  mysqlEngine: 'InnoDB',
  seed: (knex, request) => seedOpenEmr(knex, request),
});
