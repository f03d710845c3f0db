import { readFile } from 'node:fs/promises';
import { configError, TendrilError, validateConfig, type ConfigProblem, type TendrilConfig } from '@tendril/core';
import { parse as parseYaml } from 'yaml';
import { connectorCatalog, loadAllConnectors } from './registry.js';

const ENV_REFERENCE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;

/**
 * Replaces `${NAME}` in string values with environment variables, so passwords live in the
 * service's environment rather than in the YAML. A missing variable is a config problem.
 */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = [], problems: ConfigProblem[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_match, name: string) => {
      const found = env[name];
      if (found === undefined) {
        problems.push({ path: path.join('.') || '(root)', message: `environment variable ${name} is not set; set it or write the value in the file` });
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, [...path, String(i)], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], problems)]));
  }
  return value;
}

/** Reads, substitutes and validates a config file; throws one error listing every problem. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<TendrilConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TendrilError('TENDRIL_E_CONFIG_NOT_FOUND', `cannot read config file ${file}; check the path (tendril init writes tendril.yaml)`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw configError(file, [{ path: '(file)', message: `is not valid YAML: ${(cause as Error).message.split('\n')[0]}` }]);
  }
  return validateRawConfig(file, raw, env);
}

export async function validateRawConfig(label: string, raw: unknown, env: NodeJS.ProcessEnv = process.env): Promise<TendrilConfig> {
  const problems: ConfigProblem[] = [];
  const substituted = substituteEnv(raw, env, [], problems);
  const result = validateConfig(substituted, connectorCatalog(await loadAllConnectors()));
  const all = [...problems, ...(result.ok ? [] : result.problems)];
  if (all.length > 0 || !result.ok) throw configError(label, all);
  return result.config;
}
