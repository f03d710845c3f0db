import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ESM script (also run as `pnpm check:cycles`); its shape is asserted below.
import { findImportCycles } from '../scripts/import-cycles.mjs';
import { REPO_ROOT } from './support/paths.js';

interface ImportCycles {
  filesChecked: number;
  cycles: { files: string[]; path: string[] }[];
}
const find = findImportCycles as (root: string) => ImportCycles;

describe('import cycles', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'tendril-cycles-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function write(path: string, text: string): void {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  }

  it('finds cycles through relative imports, type-only imports, re-exports and package subpaths', () => {
    write('a/package.json', JSON.stringify({ name: '@tendril/a', exports: { '.': './dist/index.js' } }));
    write('a/src/index.ts', "export * from './one.js';\n");
    write('a/src/one.ts', "import type { Two } from './two.js';\nexport type One = Two;\n");
    write('a/src/two.ts', "import { three } from './three.js';\nexport type Two = typeof three;\n");
    write(
      'a/src/three.ts',
      "import type { One } from './one.js';\nexport const three = 3 as unknown as One;\n",
    );
    write(
      'b/package.json',
      JSON.stringify({
        name: '@tendril/b',
        exports: { '.': './dist/index.js', './extra': './dist/extra/index.js' },
      }),
    );
    write('b/src/index.ts', 'export const b = 1;\n');
    write('b/src/extra/index.ts', "import { c } from '@tendril/c';\nexport const extra = c;\n");
    write('c/package.json', JSON.stringify({ name: '@tendril/c', exports: { '.': './dist/index.js' } }));
    write('c/src/index.ts', "export const c = async () => (await import('@tendril/b/extra')).extra;\n");
    write('d/package.json', JSON.stringify({ name: '@tendril/d', exports: { '.': './dist/index.js' } }));
    write('d/src/index.ts', "import { b } from '@tendril/b';\nexport const d = b;\n");

    const { cycles, filesChecked } = find(scratch);
    expect(filesChecked).toBe(8);
    expect(cycles.map((cycle) => cycle.files)).toEqual([
      ['a/src/one.ts', 'a/src/three.ts', 'a/src/two.ts'],
      ['b/src/extra/index.ts', 'c/src/index.ts'],
    ]);
    expect(cycles[0]!.path).toEqual(['a/src/one.ts', 'a/src/two.ts', 'a/src/three.ts', 'a/src/one.ts']);
  });

  it('finds none in the TypeScript sources of this repository', () => {
    const { cycles, filesChecked } = find(REPO_ROOT);
    expect(filesChecked).toBeGreaterThan(300);
    expect(cycles.map((cycle) => cycle.path.join(' → '))).toEqual([]);
  });
});
