import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './support/paths.js';

/** docs/toolchain.md: one place names the pnpm version, one catalog names shared dependency versions. */
const rootManifest = JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as {
  packageManager: string;
};
const pinnedPnpm = rootManifest.packageManager.replace(/^pnpm@/, '');
const trackedFiles = execFileSync('git', ['ls-files'], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);

describe('toolchain', () => {
  it('names the pnpm version in package.json, and every other mention agrees with it', () => {
    expect(pinnedPnpm).toMatch(/^\d+\.\d+\.\d+$/);
    const mentions: string[] = [];
    for (const file of trackedFiles) {
      if (file === 'pnpm-lock.yaml' || file === 'package.json' || file.endsWith('.snap')) continue;
      if (!/\.(md|ts|mjs|js|json|yaml|yml|sh)$|^\.ci\//.test(file)) continue;
      const text = readFileSync(resolve(REPO_ROOT, file), 'utf8');
      for (const match of text.matchAll(/pnpm@(\d+\.\d+\.\d+)/g)) {
        if (match[1] !== pinnedPnpm) mentions.push(`${file}: pnpm@${match[1]}`);
      }
    }
    expect(mentions).toEqual([]);
  });

  it('declares each dependency shared by several packages once, in the catalog', () => {
    const workspace = parse(readFileSync(resolve(REPO_ROOT, 'pnpm-workspace.yaml'), 'utf8')) as {
      catalog: Record<string, string>;
    };
    const declaredBy = new Map<string, Set<string>>();
    for (const file of trackedFiles.filter((f) => f.endsWith('package.json'))) {
      const manifest = JSON.parse(readFileSync(resolve(REPO_ROOT, file), 'utf8')) as Record<
        string,
        Record<string, string> | undefined
      >;
      for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
        for (const [name, spec] of Object.entries(manifest[field] ?? {})) {
          if (spec.startsWith('workspace:')) continue;
          if (spec === 'catalog:') {
            expect(
              workspace.catalog[name],
              `${file}: ${name} says catalog: but the catalog lacks it`,
            ).toBeDefined();
            continue;
          }
          const versions = declaredBy.get(name) ?? new Set<string>();
          versions.add(file);
          declaredBy.set(name, versions);
        }
      }
    }
    const sharedOutsideCatalog = [...declaredBy]
      .filter(([, files]) => files.size > 1)
      .map(([name, files]) => `${name}: ${[...files].join(', ')}`);
    expect(sharedOutsideCatalog).toEqual([]);
  });
});
