import { TendrilError } from '@tendril/core';
import type { CommandRegistrar } from '../cli-context.js';
import { SCAFFOLD_DIALECTS, type ScaffoldDialect } from '../scaffold/connector-template.js';
import { findWorkspaceRoot, newConnector, type NewConnectorResult } from '../scaffold/register-connector.js';

interface NewConnectorOptions {
  dialect: string;
  name?: string;
  root?: string;
  lockfile?: boolean;
}

/** Title case of a kebab-case id, for a default display name (`acme-ehr` → `Acme Ehr`). */
function titleOf(id: string): string {
  return id
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

export function renderNewConnector(id: string, result: NewConnectorResult): string {
  return [
    `connector ${id} scaffolded in ${result.root}`,
    ...result.files.map((f) => `  created  ${f}`),
    ...result.registered.map((f) => `  updated  ${f}`),
    result.lockfile === 'updated'
      ? '  updated  pnpm-lock.yaml'
      : result.lockfile === 'failed'
        ? '  pnpm-lock.yaml not updated (pnpm install --lockfile-only --offline failed): run pnpm install'
        : '  pnpm-lock.yaml not updated (--no-lockfile): run pnpm install',
    '',
    'Next:',
    `  pnpm build && npx vitest run connectors/${id}      # builds, and the scaffold's tests pass as they are`,
    `  tendril seed --connector ${id} --url <db-url> --patients 50 --from-declarations   # rows for a first sync`,
    `  replace connectors/${id}/fixtures/ with the vendor's DDL and src/tables/ with its tables`,
    '  (docs/adding-a-connector.md, docs/mapping-language.md); tendril map helps on a live schema.',
  ].join('\n');
}

/** `tendril new connector <id> --dialect <d>`. */
export const registerNewCommand: CommandRegistrar = (program, ctx) => {
  const create = program.command('new').description('scaffold new parts of Tendril in this repository');
  create
    .command('connector <id>')
    .description(
      'scaffold a registered connector that builds and passes its tests untouched: folder, registry entry, agent dependency, tsconfig references, schema and golden tests',
    )
    .requiredOption('--dialect <dialect>', `the EHR database engine: ${SCAFFOLD_DIALECTS.join(' | ')}`)
    .option('--name <displayName>', 'the display name (default: the id in title case)')
    .option('--root <dir>', 'the repository root (default: found upwards from the current folder)')
    .option('--no-lockfile', 'do not run pnpm install --lockfile-only --offline afterwards')
    .action(async (id: string, opts: NewConnectorOptions) => {
      if (!(SCAFFOLD_DIALECTS as readonly string[]).includes(opts.dialect)) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `--dialect ${opts.dialect} is not supported; use one of ${SCAFFOLD_DIALECTS.join(', ')}`,
        );
      }
      const root = opts.root ?? findWorkspaceRoot(process.cwd());
      const result = newConnector(
        { id, displayName: opts.name ?? titleOf(id), dialect: opts.dialect as ScaffoldDialect },
        { root, lockfile: opts.lockfile !== false },
      );
      ctx.write(renderNewConnector(id, result));
    });
};
