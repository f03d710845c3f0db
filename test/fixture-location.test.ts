import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixturePath, fixturesDir } from '@tendril/testing';
import { REPO_ROOT } from './support/paths.js';

/** The one file allowed to know where the shared fixtures are (docs/testing.md, "Fixture schemas"). */
const RULE_FILE = 'packages/testing/src/fixtures.ts';

function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', '.git', 'test-results'].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs|cjs|sh)$/.test(entry.name)) found.push(path);
  }
  return found;
}

describe('one fixture-location rule', () => {
  it('no source file but the rule names the shared fixtures folder or its variable', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(REPO_ROOT)) {
      const name = relative(REPO_ROOT, file);
      if (name === RULE_FILE || name === 'test/fixture-location.test.ts') continue;
      const text = readFileSync(file, 'utf8');
      // A path literal into the shared folder, an absolute path to this machine's copy, or the
      // variable read directly: each is a second rule.
      if (/['"][^'"\n]*shared\/fixtures/.test(text))
        offenders.push(`${name}: a path literal into shared/fixtures`);
      if (/\/work\/shared/.test(text)) offenders.push(`${name}: an absolute path to /work/shared`);
      if (/TENDRIL_FIXTURES_DIR/.test(text)) offenders.push(`${name}: reads TENDRIL_FIXTURES_DIR itself`);
    }
    expect(offenders).toEqual([]);
  });

  it('resolves ../shared/fixtures from the repository root, whatever the working directory', async () => {
    const expected = resolve(REPO_ROOT, '..', 'shared', 'fixtures');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['TENDRIL_FIXTURES_DIR'];
    expect(fixturesDir(env)).toBe(expected);
    // The built package, from another folder: the rule does not depend on the cwd.
    const script = `import { fixturesDir } from ${JSON.stringify(join(REPO_ROOT, 'packages/testing/dist/index.js'))}; console.log(fixturesDir());`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: '/',
      env,
    });
    expect(stdout.trim()).toBe(expected);
  });

  it('TENDRIL_FIXTURES_DIR overrides it; a missing fixture names the path and the rule', () => {
    expect(fixturesDir({ TENDRIL_FIXTURES_DIR: '/elsewhere/fixtures' })).toBe('/elsewhere/fixtures');
    expect(() => fixturePath('no-such-vendor', 'schema.sql')).toThrow(
      /fixture missing: .*no-such-vendor\/schema\.sql; put the shared fixtures in \.\.\/shared\/fixtures beside the checkout or set TENDRIL_FIXTURES_DIR/,
    );
    // The fixtures this repository's tests read are found by the rule on this machine.
    expect(fixturePath('opendental', 'opendental_24.3_schema.sql')).toContain('opendental_24.3_schema.sql');
  });
});
