// Test support for Open Dental: a deterministic practice generator, the reference data it draws
// on, patient edits for incremental polls, and a FAKE of the Open Dental API. Exported as
// `@tendril/connector-open-dental/testing` for tests, `tendril seed` and `tendril demo`; the
// connector's main entry never imports it, so production paths never load it.
import { connectorSeeding } from '@tendril/testing';
import { openDental } from '../index.js';
import { seedOpenDental } from './generator.js';

export * from './generator.js';
export * from './edit-patients.js';
export * from './api-fake.js';
export * as openDentalReference from './reference.js';

/** `tendril seed --connector open-dental` and the demo: tables from the declarations (MyISAM, as Open Dental installs them), rows from {@link seedOpenDental}. */
export const seeding = connectorSeeding({
  tables: Object.values(openDental.streams),
  seed: (knex, request) => seedOpenDental(knex, request),
});
