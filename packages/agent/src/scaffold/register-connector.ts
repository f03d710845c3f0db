import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { TendrilError } from '@tendril/core';
import {
  connectorConstName,
  connectorFiles,
  SCAFFOLD_OPTIONS_JSON_SCHEMA,
  type ConnectorScaffold,
} from './connector-template.js';

/**
 * `tendril new connector`: writes a connector's files and registers it everywhere the workspace
 * needs it (docs/adding-a-connector.md, "2. Registration"). Each step is one of the steps an engineer
 * used to do by hand, in the same order:
 * 1. the folder (`connectors/<id>`) with its package, tables, schema fixture and tests;
 * 2. `CONNECTOR_LOADERS` in `packages/agent/src/registry.ts`;
 * 3. the dependency in `packages/agent/package.json` (without it every `tendril` command fails);
 * 4. the project references in the root `tsconfig.json` and `packages/agent/tsconfig.json`;
 * 5. the connector in the checked-in JSON Schema of tendril.yaml (`packages/agent/tendril.schema.json`:
 *    its id, its name, its options), as `tendril config schema` would print it once built;
 * 6. the workspace links pnpm would make (`node_modules` of the new package and of the agent), so
 *    it builds at once, offline; then `pnpm install --lockfile-only --offline` records the new
 *    package in `pnpm-lock.yaml` (skipped with `lockfile: false`).
 */

const CONNECTOR_ID = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export interface NewConnectorResult {
  readonly root: string;
  readonly files: readonly string[];
  /** Files changed to register the connector. */
  readonly registered: readonly string[];
  readonly lockfile: 'updated' | 'skipped' | 'failed';
}

function usage(message: string): TendrilError {
  return new TendrilError('TENDRIL_E_USAGE', message);
}

/** The workspace root: the nearest folder upwards holding `pnpm-workspace.yaml` and `connectors/`. */
export function findWorkspaceRoot(from: string): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) && existsSync(join(dir, 'connectors'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw usage(
        `no Tendril workspace (pnpm-workspace.yaml with connectors/) at or above ${from}; run it in the repository or pass --root`,
      );
    dir = parent;
  }
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Adds `{ path }` to a tsconfig's references unless it is there. */
function addReference(file: string, path: string): void {
  const config = readJson(file);
  const references = (config['references'] as { path: string }[] | undefined) ?? [];
  if (!references.some((r) => r.path === path)) references.push({ path });
  config['references'] = references;
  writeJson(file, config);
}

/** Inserts the loader line before the end of `CONNECTOR_LOADERS`. */
function addLoader(registryFile: string, id: string): void {
  const text = readFileSync(registryFile, 'utf8');
  const end = text.indexOf('} as const satisfies Record<string, () => Promise<ConnectorDefinition>>;');
  if (end < 0)
    throw new TendrilError(
      'TENDRIL_E_INTERNAL',
      `${registryFile}: CONNECTOR_LOADERS not found; add the connector there by hand`,
    );
  const key = id.includes('-') ? `'${id}'` : id;
  const line = `  ${key}: async () => (await import('@tendril/connector-${id}')).${connectorConstName(id)},\n`;
  writeFileSync(registryFile, `${text.slice(0, end)}${line}${text.slice(end)}`);
}

/**
 * Adds the connector to the checked-in config schema the way `configJsonSchema` (core) lays it
 * out: its id at the end of the `connector` enum and description, and an `if`/`then` block for its
 * options. Edited in place rather than regenerated, so it needs no build and keeps connectors
 * scaffolded before it that are not built yet.
 */
function addToConfigSchema(file: string, scaffold: ConnectorScaffold): void {
  const fail = () =>
    new TendrilError(
      'TENDRIL_E_INTERNAL',
      `${file}: not the layout tendril config schema writes; after pnpm build, regenerate it: node packages/agent/dist/bin.js config schema --output packages/agent/tendril.schema.json`,
    );
  const schema = readJson(file) as {
    properties?: { connections?: { items?: { properties?: Record<string, unknown>; allOf?: unknown[] } } };
  };
  const connection = schema.properties?.connections?.items;
  const connector = connection?.properties?.['connector'] as
    { enum?: string[]; description?: string } | undefined;
  if (!connection || !Array.isArray(connection.allOf) || !connector?.enum || !connector.description)
    throw fail();
  connector.enum.push(scaffold.id);
  connector.description = `${connector.description}; ${scaffold.id} = ${scaffold.displayName}`;
  connection.allOf.push({
    if: { properties: { connector: { const: scaffold.id } }, required: ['connector'] },
    then: { properties: { options: SCAFFOLD_OPTIONS_JSON_SCHEMA } },
  });
  writeJson(file, schema);
}

/** A relative symlink `link` → `target`, as pnpm lays out workspace packages. */
function linkPackage(link: string, target: string): void {
  if (existsSync(link)) return;
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(relative(dirname(link), target), link, 'dir');
}

/** Where an existing package's dependency link points (to reuse the same store folder). */
function linkTargetOf(link: string): string {
  return resolve(dirname(link), readlinkSync(link));
}

export function newConnector(
  scaffold: ConnectorScaffold,
  options: { root: string; lockfile?: boolean },
): NewConnectorResult {
  const { id } = scaffold;
  if (!CONNECTOR_ID.test(id))
    throw usage(`connector id "${id}" must be kebab-case: lower-case letters and digits, words joined by -`);
  const root = options.root;
  const dir = join(root, 'connectors', id);
  if (existsSync(dir)) throw usage(`connectors/${id} already exists; choose another id`);
  const registryFile = join(root, 'packages/agent/src/registry.ts');
  if (readFileSync(registryFile, 'utf8').includes(`@tendril/connector-${id}'`))
    throw usage(`connector ${id} is already registered in packages/agent/src/registry.ts`);

  // 1. The folder.
  const files = connectorFiles(scaffold);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  // 2–4. Registry, the agent's dependency, project references.
  addLoader(registryFile, id);
  const agentPackage = join(root, 'packages/agent/package.json');
  const agent = readJson(agentPackage);
  agent['dependencies'] = {
    ...(agent['dependencies'] as Record<string, string>),
    [`@tendril/connector-${id}`]: 'workspace:*',
  };
  writeJson(agentPackage, agent);
  addReference(join(root, 'tsconfig.json'), `connectors/${id}`);
  addReference(join(root, 'packages/agent/tsconfig.json'), `../../connectors/${id}`);
  // 5. The config schema.
  addToConfigSchema(join(root, 'packages/agent/tendril.schema.json'), scaffold);

  // 6. Links, as pnpm makes them for a workspace package: its own dependencies, and the agent's link to it.
  linkPackage(join(dir, 'node_modules/@tendril/core'), join(root, 'core'));
  const zod = join(root, 'core/node_modules/zod');
  if (existsSync(zod)) linkPackage(join(dir, 'node_modules/zod'), linkTargetOf(zod));
  linkPackage(join(root, 'packages/agent/node_modules/@tendril', `connector-${id}`), dir);
  let lockfile: NewConnectorResult['lockfile'] = 'skipped';
  if (options.lockfile !== false) {
    try {
      execFileSync('pnpm', ['install', '--lockfile-only', '--offline'], { cwd: root, stdio: 'ignore' });
      lockfile = 'updated';
    } catch {
      lockfile = 'failed';
    }
  }
  return {
    root,
    files: Object.keys(files),
    registered: [
      'packages/agent/src/registry.ts',
      'packages/agent/package.json',
      'tsconfig.json',
      'packages/agent/tsconfig.json',
      'packages/agent/tendril.schema.json',
    ],
    lockfile,
  };
}
