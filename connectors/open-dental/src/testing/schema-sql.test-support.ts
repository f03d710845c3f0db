import { readFileSync } from 'node:fs';
import { fixturePath } from '@tendril/testing';

/** Open Dental's real 24.3 schema, read at test time from the shared fixtures (`fixturePath`). */
export function openDentalSchemaSql(): string {
  return readFileSync(fixturePath('opendental', 'opendental_24.3_schema.sql'), 'utf8');
}
