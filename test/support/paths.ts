import { fileURLToPath } from 'node:url';
import { relative, resolve } from 'node:path';
import { fixturePath, fixturesDir } from '@tendril/testing';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Real vendor schemas, read at test time by the one rule of `fixturesDir()` (never copied in). */
export const FIXTURES = fixturesDir();
export const OPEN_DENTAL_SCHEMA = resolve(FIXTURES, 'opendental/opendental_24.3_schema.sql');
export const CLI = resolve(REPO_ROOT, 'packages/agent/dist/bin.js');

/** `path` (inside {@link FIXTURES}) when it exists; else the error that names the rule and the fix. */
export function requireFixture(path: string): string {
  return fixturePath(relative(FIXTURES, path));
}
