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
  hub: 'packages/hub',
};

export default defineConfig({
  resolve: {
    alias: [
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
