import { readFile } from 'node:fs/promises';
import {
  circularReferenceProblems,
  configError,
  TendrilError,
  validateConfig,
  type ConfigProblem,
  type TendrilConfig,
} from '@tendril/core';
import { parseDocument } from 'yaml';
import { deliveryConfigValidators } from '@tendril/delivery';
import { connectorCatalog, loadAllConnectors } from './registry.js';
import { readSecretsFile, secretsFileFor } from './secrets/secrets-file.js';
import { loadSiteKey, SITE_KEY_ENV, SITE_KEY_FILE_ENV } from './secrets/site-key.js';

const ENV_REFERENCE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;

/**
 * Which `${NAME}` / `${secret:NAME}` references a command resolves. `all`: every one (commands
 * that open the EHR database). `store`: all but the EHR credentials — a connection's `database`
 * and its writeback `database` and `api` — so commands that only read the local store (`events`,
 * `deliveries`, `api-key`…) work without the EHR password; those values stay as written and the
 * command cannot open an EHR database (container.ts refuses).
 */
export type SecretScope = 'all' | 'store';

/** Whether `path` (keys from the root) is inside an EHR credential that the `store` scope leaves alone. */
export function isEhrCredentialPath(path: readonly string[]): boolean {
  if (path[0] !== 'connections' || path.length < 3) return false;
  if (path[2] === 'database') return true;
  return path[2] === 'writeback' && (path[3] === 'database' || path[3] === 'api');
}

/**
 * Replaces `${NAME}` in string values with environment variables, so passwords live in the
 * service's environment rather than in the YAML. A missing variable is a config problem.
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: string[] = [],
  problems: ConfigProblem[] = [],
  skip: (path: readonly string[]) => boolean = () => false,
): unknown {
  if (skip(path)) return value;
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
    return value.map((item, i) => substituteEnv(item, env, [...path, String(i)], problems, skip));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], problems, skip)]),
    );
  }
  return value;
}

/** How a config file is loaded. */
export interface LoadConfigOptions {
  /** Default `all`; `store` for commands that only read the local store (see {@link SecretScope}). */
  readonly scope?: SecretScope;
}

/**
 * Parses YAML text into plain data, or lists what is wrong with it: every syntax error with its
 * line and column (never the text around it, which may be a password), and aliases that contain
 * themselves.
 */
export function parseConfigText(
  text: string,
): { ok: true; raw: unknown } | { ok: false; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => {
        const at = error.linePos?.[0];
        return {
          path: at ? `(line ${at.line}, column ${at.col})` : '(file)',
          message: `is not valid YAML: ${error.message
            .split('\n')[0]!
            .replace(/\s*at line \d+, column \d+:?\s*$/, '')
            .replace(/[:\s]+$/, '')}`,
        };
      }),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (cause) {
    return {
      ok: false,
      problems: [
        {
          path: '(file)',
          message: `is not valid YAML: ${(cause as Error).message.split('\n')[0]!.replace(/[:\s]+$/, '')}`,
        },
      ],
    };
  }
  const circular = circularReferenceProblems(raw);
  return circular.length > 0 ? { ok: false, problems: circular } : { ok: true, raw };
}

/** Reads, substitutes and validates a config file; throws one error listing every problem. */
export async function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): Promise<TendrilConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_NOT_FOUND',
      `cannot read config file ${file}; give the file with --config <file> or TENDRIL_CONFIG, or run in the folder that holds tendril.yaml (tendril init writes it)`,
      { cause },
    );
  }
  const parsed = parseConfigText(text);
  if (!parsed.ok) throw configError(file, parsed.problems);
  return validateRawConfig(file, parsed.raw, env, {
    secretsFile: secretsFileFor(file),
    ...(options.scope ? { scope: options.scope } : {}),
  });
}

export async function validateRawConfig(
  label: string,
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  options: { secretsFile?: string; scope?: SecretScope } = {},
): Promise<TendrilConfig> {
  const circular = circularReferenceProblems(raw);
  if (circular.length > 0) throw configError(label, circular);
  const problems: ConfigProblem[] = [];
  const skip = options.scope === 'store' ? isEhrCredentialPath : () => false;
  const withEnv = substituteEnv(raw, env, [], problems, skip);
  const substituted = await resolveSecretReferences(withEnv, env, options.secretsFile, problems, skip);
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
  skip: (path: readonly string[]) => boolean,
): void {
  if (skip(path)) return;
  if (typeof value === 'string') {
    for (const match of value.matchAll(SECRET_REFERENCE))
      out.push({ path: path.join('.') || '(root)', name: match[1]! });
  } else if (Array.isArray(value))
    value.forEach((item, i) => collectSecretReferences(item, [...path, String(i)], out, skip));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) collectSecretReferences(v, [...path, k], out, skip);
}

function replaceSecretReferences(
  value: unknown,
  secrets: Readonly<Record<string, string>>,
  path: string[],
  skip: (path: readonly string[]) => boolean,
): unknown {
  if (skip(path)) return value;
  if (typeof value === 'string')
    return value.replace(SECRET_REFERENCE, (_m, name: string) => secrets[name] ?? '');
  if (Array.isArray(value))
    return value.map((item, i) => replaceSecretReferences(item, secrets, [...path, String(i)], skip));
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, replaceSecretReferences(v, secrets, [...path, k], skip)]),
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
  skip: (path: readonly string[]) => boolean = () => false,
): Promise<unknown> {
  const references: { path: string; name: string }[] = [];
  collectSecretReferences(value, [], references, skip);
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
  return replaceSecretReferences(value, secrets, [], skip);
}
