import { readFile } from 'node:fs/promises';
import {
  configError,
  TendrilError,
  validateConfig,
  type ConfigProblem,
  type TendrilConfig,
} from '@tendril/core';
import { parse as parseYaml } from 'yaml';
import { deliveryConfigValidators } from '@tendril/delivery';
import { connectorCatalog, loadAllConnectors } from './registry.js';
import { readSecretsFile, secretsFileFor } from './secrets/secrets-file.js';
import { loadSiteKey, SITE_KEY_ENV, SITE_KEY_FILE_ENV } from './secrets/site-key.js';

const ENV_REFERENCE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;

/**
 * Replaces `${NAME}` in string values with environment variables, so passwords live in the
 * service's environment rather than in the YAML. A missing variable is a config problem.
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: string[] = [],
  problems: ConfigProblem[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_match, name: string) => {
      const found = env[name];
      if (found === undefined) {
        problems.push({
          path: path.join('.') || '(root)',
          message: `environment variable ${name} is not set; set it or write the value in the file`,
        });
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value))
    return value.map((item, i) => substituteEnv(item, env, [...path, String(i)], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], problems)]),
    );
  }
  return value;
}

/** Reads, substitutes and validates a config file; throws one error listing every problem. */
export async function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TendrilConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_NOT_FOUND',
      `cannot read config file ${file}; check the path (tendril init writes tendril.yaml)`,
      { cause },
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw configError(file, [
      { path: '(file)', message: `is not valid YAML: ${(cause as Error).message.split('\n')[0]}` },
    ]);
  }
  return validateRawConfig(file, raw, env, { secretsFile: secretsFileFor(file) });
}

export async function validateRawConfig(
  label: string,
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  options: { secretsFile?: string } = {},
): Promise<TendrilConfig> {
  const problems: ConfigProblem[] = [];
  const withEnv = substituteEnv(raw, env, [], problems);
  const substituted = await resolveSecretReferences(withEnv, env, options.secretsFile, problems);
  // deliveryConfigValidators: subscription policies (parseDeliveryPolicy) and whsec_ secrets.
  const result = validateConfig(
    substituted,
    connectorCatalog(await loadAllConnectors()),
    deliveryConfigValidators,
  );
  const all = [...problems, ...(result.ok ? [] : result.problems)];
  if (all.length > 0 || !result.ok) throw configError(label, all);
  return result.config;
}

const SECRET_REFERENCE = /\$\{secret:([^}]*)\}/g;

function collectSecretReferences(
  value: unknown,
  path: string[],
  out: { path: string; name: string }[],
): void {
  if (typeof value === 'string') {
    for (const match of value.matchAll(SECRET_REFERENCE))
      out.push({ path: path.join('.') || '(root)', name: match[1]! });
  } else if (Array.isArray(value))
    value.forEach((item, i) => collectSecretReferences(item, [...path, String(i)], out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) collectSecretReferences(v, [...path, k], out);
}

function replaceSecretReferences(value: unknown, secrets: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string')
    return value.replace(SECRET_REFERENCE, (_m, name: string) => secrets[name] ?? '');
  if (Array.isArray(value)) return value.map((item) => replaceSecretReferences(item, secrets));
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, replaceSecretReferences(v, secrets)]),
    );
  return value;
}

/**
 * Replaces `${secret:NAME}` with the value from the encrypted secrets file beside the config
 * (`secrets.enc`, written by `tendril init`), decrypted with the site key from TENDRIL_SITE_KEY or
 * TENDRIL_SITE_KEY_FILE. A missing key, a wrong key or a missing secret is a config problem listed
 * with the others; values never appear in a problem. The file is only opened when referenced.
 */
export async function resolveSecretReferences(
  value: unknown,
  env: NodeJS.ProcessEnv,
  secretsFile: string | undefined,
  problems: ConfigProblem[],
): Promise<unknown> {
  const references: { path: string; name: string }[] = [];
  collectSecretReferences(value, [], references);
  if (references.length === 0) return value;
  const first = references[0]!.path;
  if (secretsFile === undefined) {
    problems.push({
      path: first,
      message: 'uses ${secret:…}, which needs a config file with secrets.enc beside it',
    });
    return value;
  }
  let secrets: Record<string, string>;
  try {
    const siteKey = await loadSiteKey(env);
    if (!siteKey) {
      problems.push({
        path: first,
        message: `uses \${secret:…} but no site key is given; set ${SITE_KEY_ENV} to the key \`tendril init\` showed, or ${SITE_KEY_FILE_ENV} to a file (mode 0600) holding it`,
      });
      return value;
    }
    secrets = await readSecretsFile(secretsFile, siteKey.key);
  } catch (error) {
    if (!(error instanceof TendrilError)) throw error;
    problems.push({ path: first, message: error.message });
    return value;
  }
  for (const { path, name } of references) {
    if (secrets[name] === undefined) {
      problems.push({
        path,
        message: `secret "${name}" is not in ${secretsFile}; names there: ${Object.keys(secrets).sort().join(', ') || '(none)'}`,
      });
    }
  }
  return replaceSecretReferences(value, secrets);
}
