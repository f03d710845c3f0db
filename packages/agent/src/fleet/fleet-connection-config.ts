import { validateConfig, type ConfigProblem, type ConnectionConfig } from '@tendril/core';
import { deliveryConfigValidators } from '@tendril/delivery';
import { resolveSecretReferences, substituteEnv } from '../config-file.js';
import { connectorCatalog, loadAllConnectors } from '../registry.js';

/** A value that is one whole reference: `${NAME}` or `${secret:NAME}`. */
const WHOLE_REFERENCE = /^\$\{(secret:[^}]+|[A-Z_][A-Z0-9_]*)\}$/;
const ANY_REFERENCE = /\$\{(secret:[^}]*|[A-Z_][A-Z0-9_]*)\}/g;
/** Keys whose string values are credentials. */
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|private[-_]?key|passphrase|whsec/i;
/** camelCase keys ending in `Key` (`developerKey`, `customerKey`): vendor API keys. */
const CAMEL_KEY = /[a-z]Key$/;
/** `scheme://user:password@host…`: the password part of a URL. */
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^@/\s]*)@/i;
/** `PWD=…;` / `Password=…;` in an ODBC connection string. */
const ODBC_PASSWORD = /(?:^|;)\s*(?:pwd|password)\s*=\s*(\{[^}]*\}|[^;]*)/gi;

function isReferenceOrEmpty(value: string): boolean {
  return value === '' || WHOLE_REFERENCE.test(value);
}

/**
 * Where a fleet connection carries a credential in plain text. The fleet table is shared by every
 * worker and readable by whoever can read the store, so credentials must be references (`${ENV}`
 * from each worker's environment, or `${secret:NAME}` from the encrypted secrets file beside the
 * worker's config). Problems name the path only, never the value.
 */
export function plainSecretProblems(raw: unknown, path: string[] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = () => path.join('.') || '(root)';
  if (typeof raw === 'string') {
    const key = path[path.length - 1] ?? '';
    if ((SECRET_KEY.test(key) || CAMEL_KEY.test(key)) && !isReferenceOrEmpty(raw)) {
      problems.push({
        path: at(),
        message:
          'is a credential in plain text; write a reference such as ${secret:OD_PASSWORD} or ${OD_PASSWORD} (fleet connections are stored in the shared PostgreSQL store)',
      });
    }
    const url = URL_PASSWORD.exec(raw);
    if (url && !isReferenceOrEmpty(decodeURIComponent(url[1]!))) {
      problems.push({
        path: at(),
        message:
          'has a password in plain text in the URL; write mysql://user:${secret:NAME}@host/db (or ${NAME} from the environment)',
      });
    }
    for (const match of raw.matchAll(ODBC_PASSWORD)) {
      const quoted = match[1]!.trim();
      // `{…}` is ODBC's quoting of a value; `${…}` is a reference.
      const value = quoted.startsWith('{') && quoted.endsWith('}') ? quoted.slice(1, -1).trim() : quoted;
      if (!isReferenceOrEmpty(value)) {
        problems.push({
          path: at(),
          message: 'has PWD= in plain text; write PWD=${secret:NAME} (or ${NAME} from the environment)',
        });
        break;
      }
    }
  } else if (Array.isArray(raw)) {
    raw.forEach((item, i) => problems.push(...plainSecretProblems(item, [...path, String(i)])));
  } else if (raw && typeof raw === 'object') {
    for (const [key, value] of Object.entries(raw))
      problems.push(...plainSecretProblems(value, [...path, key]));
  }
  return problems;
}

/** Replaces every reference with a harmless placeholder, so the shape can be checked where the secrets are not. */
function withPlaceholders(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(ANY_REFERENCE, 'placeholder');
  if (Array.isArray(value)) return value.map(withPlaceholders);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPlaceholders(v)]));
  return value;
}

async function checkConnection(
  raw: unknown,
  label: string,
): Promise<{ ok: true; connection: ConnectionConfig } | { ok: false; problems: ConfigProblem[] }> {
  const catalog = connectorCatalog(await loadAllConnectors());
  // The same schema, connector options and cross-field checks as a YAML file's connections.
  const result = validateConfig(
    { store: { sqlite: ':memory:' }, connections: [raw] },
    catalog,
    deliveryConfigValidators,
  );
  if (result.ok) return { ok: true, connection: result.config.connections[0]! };
  return {
    ok: false,
    problems: result.problems.map((p) => ({
      path: p.path.startsWith('connections.0') ? `${label}${p.path.slice('connections.0'.length)}` : p.path,
      message: p.message,
    })),
  };
}

/**
 * Checks a connection for the fleet table (`tendril connections add`): no plain-text
 * credentials, and the same validation as a connection in the YAML file (references replaced by
 * placeholders, since the admin's machine need not have the workers' secrets). Every problem at once.
 */
export async function fleetConnectionProblems(raw: unknown): Promise<ConfigProblem[]> {
  const label =
    typeof (raw as { id?: unknown })?.id === 'string'
      ? `connection ${(raw as { id: string }).id}`
      : 'connection';
  const problems = plainSecretProblems(raw, [label]);
  const checked = await checkConnection(withPlaceholders(raw), label);
  return [...problems, ...(checked.ok ? [] : checked.problems)];
}

/**
 * Resolves a stored fleet connection on this worker: `${ENV}` from the worker's environment,
 * `${secret:NAME}` from the secrets file beside its config, then the full validation. Problems
 * name paths only, never values.
 */
export async function resolveFleetConnection(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  secretsFile: string | undefined,
): Promise<{ ok: true; connection: ConnectionConfig } | { ok: false; problems: ConfigProblem[] }> {
  const label = `connection ${String(raw['id'])}`;
  const problems: ConfigProblem[] = [];
  const withEnv = substituteEnv(raw, env, [label], problems);
  const resolved = await resolveSecretReferences(withEnv, env, secretsFile, problems);
  if (problems.length > 0) return { ok: false, problems };
  return checkConnection(resolved, label);
}
