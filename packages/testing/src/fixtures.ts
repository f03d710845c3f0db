import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TendrilError } from '@tendril/core';

/**
 * The one rule for where the shared vendor fixtures are (docs/testing.md, "Fixture schemas"):
 * `$TENDRIL_FIXTURES_DIR` when set, else `shared/fixtures` beside the checkout — the folder
 * `../shared/fixtures` relative to the repository root (the folder holding `pnpm-workspace.yaml`),
 * wherever the clone is and whatever the working directory. Every test, bench and generator that
 * reads a shared fixture goes through {@link fixturesDir} or {@link fixturePath}; the fixtures are
 * never copied into the repository.
 */
export const FIXTURES_DIR_VARIABLE = 'TENDRIL_FIXTURES_DIR';

/** The repository root: the nearest folder above this module holding `pnpm-workspace.yaml`. */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new TendrilError(
        'TENDRIL_E_NOT_AVAILABLE',
        `no pnpm-workspace.yaml above ${fileURLToPath(import.meta.url)}: the shared fixtures are found from a checkout; set ${FIXTURES_DIR_VARIABLE}`,
      );
    }
    dir = parent;
  }
}

/** The shared fixtures folder, by the rule above (not checked for existence). */
export function fixturesDir(env: NodeJS.ProcessEnv = process.env): string {
  const set = env[FIXTURES_DIR_VARIABLE];
  return set ? resolve(set) : resolve(repositoryRoot(), '..', 'shared', 'fixtures');
}

/**
 * A file or folder inside the shared fixtures (`fixturePath('opendental', 'opendental_24.3_schema.sql')`).
 * Missing: throws, naming the path and the rule, so a clone without the fixtures says how to fix it.
 */
export function fixturePath(...parts: string[]): string {
  const path = join(fixturesDir(), ...parts);
  if (!existsSync(path)) {
    throw new TendrilError(
      'TENDRIL_E_NOT_AVAILABLE',
      `fixture missing: ${path}; put the shared fixtures in ../shared/fixtures beside the checkout or set ${FIXTURES_DIR_VARIABLE} to their folder (docs/testing.md)`,
      { details: { path } },
    );
  }
  return path;
}
