// Lint rules (docs/code-style.md, "Lint"). Three layers of rules:
//  - every TypeScript file: typescript-eslint's recommended rules and the house rules below;
//  - what the build compiles into a package (each package's src, tests excluded): the
//    type-checked rules, which need the package's own tsconfig (found by the project service);
//  - the import graph: no cycle (import-x/no-cycle) and the layering of docs/architecture.md,
//    "Layers" (core imports nothing of ours, a connector only core, nothing imports the agent).
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import tseslint from 'typescript-eslint';

const TEST_FILES = ['**/*.test.ts', '**/*.test-support.ts', '**/*.test-helper.ts', 'test/**'];
const COMPILED = [
  'core/src/**/*.ts',
  'scheduler/src/**/*.ts',
  'connectors/*/src/**/*.ts',
  'packages/*/src/**/*.ts',
];
const OUR_PACKAGES = '@tendril/*';

const CONNECTORS = ['connectors/*/src/**/*.ts', 'packages/ortho-provisional/src/**/*.ts'];

/** A message that says which layer rule was broken and where the rule is written down. */
const layer = (what) => `${what} (docs/architecture.md, "Layers").`;
const CORE_IMPORTS_NOTHING = {
  group: [OUR_PACKAGES],
  message: layer('core imports no other package of this repository'),
};
const CONNECTOR_IMPORTS_CORE = {
  group: [OUR_PACKAGES, '!@tendril/core', '!@tendril/core/*', '!@tendril/ortho-provisional'],
  message: layer('a connector imports only @tendril/core (and the shared provisional ortho factory)'),
};
const NOTHING_IMPORTS_AGENT = {
  group: ['@tendril/agent', '@tendril/agent/*'],
  message: layer('nothing imports the agent: it is the outermost layer'),
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'test-results/**', '.tendril/**', '**/__snapshots__/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` object instead of an enum.' },
      ],
    },
  },
  // Type-checked rules on compiled code.
  {
    files: COMPILED,
    ignores: TEST_FILES,
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `${value satisfies never}` in the default branch is how an exhaustive switch reports the impossible.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNever: true }],
      // An async function without await is how this code implements a Promise-returning interface
      // (kysely drivers, fastify plugins, commander actions): a throw inside it becomes a rejection,
      // which a plain function returning Promise.resolve() would not give.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // No import cycle, within a package or across packages (docs/architecture.md, "Layers").
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true })],
    },
    rules: { 'import-x/no-cycle': 'error' },
  },
  // Layers: one block per layer, each with every pattern that applies to it (a later block's
  // `no-restricted-imports` replaces an earlier one's for the same file, so they must not overlap).
  {
    files: ['core/src/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [CORE_IMPORTS_NOTHING] }] },
  },
  {
    files: CONNECTORS,
    ignores: [...TEST_FILES, 'connectors/*/src/testing/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [CONNECTOR_IMPORTS_CORE] }] },
  },
  {
    files: COMPILED,
    ignores: [...TEST_FILES, 'core/**', ...CONNECTORS, 'packages/agent/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NOTHING_IMPORTS_AGENT] }] },
  },
  {
    files: ['connectors/*/src/testing/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [NOTHING_IMPORTS_AGENT] }] },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'process',
          'console',
          'URL',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'performance',
          'fetch',
          'Buffer',
          'AbortController',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
