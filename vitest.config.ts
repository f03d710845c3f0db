import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{core,scheduler,connectors,packages}/**/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/bench/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
