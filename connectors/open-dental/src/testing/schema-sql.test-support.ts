import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Open Dental's real 24.3 schema, read at test time from the checkout's sibling `shared/fixtures`. */
export function openDentalSchemaSql(): string {
  const dir =
    process.env.TENDRIL_FIXTURES_DIR ??
    fileURLToPath(new URL('../../../../../shared/fixtures', import.meta.url));
  const file = join(dir, 'opendental', 'opendental_24.3_schema.sql');
  if (!existsSync(file))
    throw new Error(`fixture missing: ${file} (set TENDRIL_FIXTURES_DIR to the shared fixtures folder)`);
  return readFileSync(file, 'utf8');
}
