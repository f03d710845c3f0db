import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
// Tests run against sources, so a package under test never needs a fresh build of its dependencies.
const packageDirs: Record<string, string> = {
  core: 'core',
  scheduler: 'scheduler',
  sql: 'packages/sql',
  store: 'packages/store',
  testing: 'packages/testing',
  agent: 'packages/agent',
  delivery: 'packages/delivery',
  api: 'packages/api',
  'ortho-provisional': 'packages/ortho-provisional',
  hub: 'packages/hub',
};

export default defineConfig({
  resolve: {
    alias: [
      // Test support (`*.test-support.ts`, never compiled into a package's dist) is imported across
      // packages as `@tendril/<package>/test-support/<path>` → `<package>/src/<path>.test-support.ts`.
      {
        find: /^@tendril\/connector-([a-z0-9-]+)\/test-support\/(.+)$/,
        replacement: `${root}connectors/$1/src/$2.test-support.ts`,
      },
      ...Object.entries(packageDirs).map(([name, dir]) => ({
        find: new RegExp(`^@tendril/${name}/test-support/(.+)$`),
        replacement: `${root}${dir}/src/$1.test-support.ts`,
      })),
      // A connector's test support for tests and the demo (generators, reference data, API fakes).
      {
        find: /^@tendril\/connector-([a-z0-9-]+)\/testing$/,
        replacement: `${root}connectors/$1/src/testing/index.ts`,
      },
      { find: /^@tendril\/connector-([a-z0-9-]+)$/, replacement: `${root}connectors/$1/src/index.ts` },
      ...Object.entries(packageDirs).map(([name, dir]) => ({
        find: new RegExp(`^@tendril/${name}$`),
        replacement: `${root}${dir}/src/index.ts`,
      })),
    ],
  },
  test: {
    include: ['{core,scheduler,connectors,packages}/**/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/bench/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The JSON report is what .ci/run sums into its closing "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
