import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchWorkspace, type ScratchWorkspace } from './support/scratch-workspace.js';

/*
 * `tendril new connector <id> --dialect <d>` in a scratch copy of this workspace: for every dialect
 * the scaffolded connector is registered everywhere (registry, the agent's dependency, both
 * tsconfig references, the config schema, the pnpm lockfile), the whole workspace builds with `tsc -b`, the
 * connector's own schema and golden tests pass untouched on real MariaDB / PostgreSQL / SQLite,
 * its files are lint- and Prettier-clean, and the built CLI lists it.
 */

const DIALECTS = ['mysql', 'mssql', 'postgres', 'sqlite'] as const;
const node = process.execPath;
const tool = (path: string) => join('node_modules', path);

describe('tendril new connector (scratch copy of the workspace)', () => {
  let scratch: ScratchWorkspace;
  const cli = (...args: string[]) => scratch.run(node, ['packages/agent/dist/bin.js', ...args]);

  beforeAll(() => {
    scratch = createScratchWorkspace();
  });
  afterAll(() => {
    scratch?.remove();
  });

  it('scaffolds and registers one connector per dialect', async () => {
    for (const dialect of DIALECTS) {
      const result = await cli(
        'new',
        'connector',
        `acme-${dialect}`,
        '--dialect',
        dialect,
        '--root',
        scratch.root,
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`created  connectors/acme-${dialect}/src/tables/patients.ts`);
      expect(result.stdout).toContain('updated  pnpm-lock.yaml');
    }
    const read = (path: string) => readFileSync(join(scratch.root, path), 'utf8');
    const registry = read('packages/agent/src/registry.ts');
    const agent = JSON.parse(read('packages/agent/package.json')) as { dependencies: Record<string, string> };
    const rootRefs = JSON.parse(read('tsconfig.json')) as { references: { path: string }[] };
    const agentRefs = JSON.parse(read('packages/agent/tsconfig.json')) as { references: { path: string }[] };
    const lockfile = read('pnpm-lock.yaml');
    for (const dialect of DIALECTS) {
      const id = `acme-${dialect}`;
      const name = `acme${dialect[0]!.toUpperCase()}${dialect.slice(1)}`;
      expect(registry).toContain(
        `  '${id}': async () => (await import('@tendril/connector-${id}')).${name},`,
      );
      expect(agent.dependencies[`@tendril/connector-${id}`]).toBe('workspace:*');
      expect(rootRefs.references).toContainEqual({ path: `connectors/${id}` });
      expect(agentRefs.references).toContainEqual({ path: `../../connectors/${id}` });
      expect(lockfile).toContain(`  connectors/${id}:`);
      expect(existsSync(join(scratch.root, `packages/agent/node_modules/@tendril/connector-${id}`))).toBe(
        true,
      );
    }
    expect(existsSync(join(scratch.root, 'connectors/acme-mssql/src/connector.test.ts'))).toBe(true);
  });

  it('refuses an id that exists, a bad id and an unknown dialect, changing nothing', async () => {
    const registry = readFileSync(join(scratch.root, 'packages/agent/src/registry.ts'), 'utf8');
    const again = await cli('new', 'connector', 'acme-mysql', '--dialect', 'mysql', '--root', scratch.root);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('TENDRIL_E_USAGE: connectors/acme-mysql already exists');
    expect(
      (await cli('new', 'connector', 'Acme_EHR', '--dialect', 'mysql', '--root', scratch.root)).code,
    ).toBe(2);
    const oracle = await cli(
      'new',
      'connector',
      'acme-oracle',
      '--dialect',
      'oracle',
      '--root',
      scratch.root,
    );
    expect(oracle.stderr).toContain('--dialect oracle is not supported');
    expect(readFileSync(join(scratch.root, 'packages/agent/src/registry.ts'), 'utf8')).toBe(registry);
    expect(existsSync(join(scratch.root, 'connectors/acme-oracle'))).toBe(false);
  });

  it('builds with tsc -b, and the scaffolded tests pass untouched', async () => {
    const build = await scratch.run(node, [tool('typescript/bin/tsc'), '-b']);
    expect(build.stdout + build.stderr).toBe('');
    expect(build.code).toBe(0);
    const tests = await scratch.run(node, [
      tool('vitest/vitest.mjs'),
      'run',
      ...DIALECTS.map((d) => `connectors/acme-${d}`),
      'test/registry.test.ts',
    ]);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    // 2 tests per connector (schema + golden), the mssql T-SQL test, the registry test.
    expect(tests.stdout).toMatch(/Tests\s+10 passed \(10\)/);
    // A whole-workspace build and four connectors' tests in child processes: minutes on a busy machine.
  }, 300_000);

  it('writes lint- and Prettier-clean files, and the built CLI lists the new connectors', async () => {
    const files = DIALECTS.map((d) => `connectors/acme-${d}`);
    const lint = await scratch.run(node, [
      tool('eslint/bin/eslint.js'),
      ...files,
      'packages/agent/src/registry.ts',
    ]);
    expect(lint.stdout + lint.stderr).toBe('');
    const pretty = await scratch.run(node, [
      tool('prettier/bin/prettier.cjs'),
      '--check',
      ...files.map((f) => `${f}/**/*.ts`),
      'packages/agent/src/registry.ts',
    ]);
    expect(pretty.code, pretty.stdout + pretty.stderr).toBe(0);
    const listed = await cli('connectors', '--json');
    const ids = (JSON.parse(listed.stdout) as { id: string; verification: string }[]).filter((c) =>
      c.id.startsWith('acme-'),
    );
    expect(ids.map((c) => [c.id, c.verification])).toEqual(DIALECTS.map((d) => [`acme-${d}`, 'provisional']));
    // The checked-in config schema already names them, as the built CLI prints it (test/config-schema.test.ts).
    const schema = await cli('config', 'schema');
    expect(schema.code).toBe(0);
    expect(schema.stdout.trimEnd()).toBe(
      readFileSync(join(scratch.root, 'packages/agent/tendril.schema.json'), 'utf8').trimEnd(),
    );
  });
});
