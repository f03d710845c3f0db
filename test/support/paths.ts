import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Real vendor schemas, read at test time from the checkout's sibling `shared/` (never copied in). */
export const FIXTURES = resolve(REPO_ROOT, '../shared/fixtures');
export const OPEN_DENTAL_SCHEMA = resolve(FIXTURES, 'opendental/opendental_24.3_schema.sql');
export const CLI = resolve(REPO_ROOT, 'packages/agent/dist/bin.js');

export function requireFixture(path: string): string {
  if (!existsSync(path))
    throw new Error(`fixture missing: ${path} (tests read ../shared/fixtures beside the checkout)`);
  return path;
}
