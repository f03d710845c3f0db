import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { configError, TendrilError, type ConfigProblem } from '@tendril/core';
import { validateHubConfig, type HubConfig } from '@tendril/hub';
import { parse as parseYaml } from 'yaml';
import { substituteEnv } from '../config-file.js';

/**
 * Reads `hub.yaml`: `${NAME}` from the environment (a PostgreSQL password), validated with every
 * problem at once, and relative paths (dataDir, PGlite folder, TLS files) resolved against the
 * file's folder so the hub finds the same files from any working directory.
 */
export async function loadHubConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HubConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_NOT_FOUND',
      `cannot read hub config ${file}; check the path (docs/hub.md shows one)`,
      {
        cause,
      },
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (cause) {
    throw configError(file, [
      { path: '(file)', message: `is not valid YAML: ${(cause as Error).message.split('\n')[0]}` },
    ]);
  }
  const problems: ConfigProblem[] = [];
  const substituted = substituteEnv(raw, env, [], problems);
  const result = validateHubConfig(substituted);
  const all = [...problems, ...(result.ok ? [] : result.problems)];
  if (all.length > 0 || !result.ok) throw configError(file, all);
  const base = dirname(resolve(file));
  const at = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const config = result.config;
  return Object.freeze({
    ...config,
    dataDir: at(config.dataDir),
    ...(config.store && 'pglite' in config.store ? { store: { pglite: at(config.store.pglite) } } : {}),
    ...(config.tls ? { tls: { cert: at(config.tls.cert), key: at(config.tls.key) } } : {}),
    ...(config.releases.publicKey ? { releases: { publicKey: at(config.releases.publicKey) } } : {}),
  });
}
