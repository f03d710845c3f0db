import { z } from 'zod';
import { TendrilError } from './errors.js';
import { isValidTimeZone } from './time.js';

const Slug = z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be 1–64 characters of a-z, 0-9 and -');

/** A database given by URL (`mysql://user:pass@host:3306/db`) or by parts. */
const DatabaseByUrl = z.object({ url: z.string().min(1) }).strict();
const DatabaseByParts = z
  .object({
    dialect: z.enum(['mysql', 'mssql', 'postgres', 'sqlite']),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    instance: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    filename: z.string().min(1).optional(),
    domain: z.string().min(1).optional(),
    encrypt: z.boolean().optional(),
    trustServerCertificate: z.boolean().optional(),
  })
  .strict();
export const DatabaseConfig = z.union([DatabaseByUrl, DatabaseByParts]);
export type DatabaseConfig = z.infer<typeof DatabaseConfig>;

export const SyncConfig = z
  .object({
    settleSeconds: z.number().int().min(0).max(86_400).default(120),
    overlapSeconds: z.number().int().min(0).max(7 * 86_400).default(900),
    pageSize: z.number().int().min(1).max(100_000).default(1000),
  })
  .strict();

export const ConnectionConfig = z
  .object({
    id: Slug,
    connector: z.string().min(1),
    /** `client_id` in the `flat` format; defaults to the connection id. */
    clientId: z.string().min(1).optional(),
    timezone: z.string().min(1),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').default('USD'),
    database: DatabaseConfig,
    sync: SyncConfig.default({ settleSeconds: 120, overlapSeconds: 900, pageSize: 1000 }),
    streams: z.array(z.string().min(1)).optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ConnectionConfig = z.infer<typeof ConnectionConfig>;

export const StoreConfig = z.union([
  z.object({ sqlite: z.string().min(1) }).strict(),
  z.object({ postgres: z.string().min(1) }).strict(),
]);

export const TendrilConfig = z
  .object({
    store: StoreConfig.default({ sqlite: './.tendril/tendril.db' }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    connections: z.array(ConnectionConfig).min(1, 'add at least one connection'),
  })
  .strict();
export type TendrilConfig = z.infer<typeof TendrilConfig>;

export interface ConfigProblem {
  /** Dotted path of the offending key, e.g. `connections.0.timezone`. */
  readonly path: string;
  readonly message: string;
}

/** What the config validator needs to know about installed connectors, passed in (core has no registry). */
export interface ConnectorCatalog {
  has(connectorId: string): boolean;
  ids(): readonly string[];
  optionsSchema(connectorId: string): z.ZodType | undefined;
  streamNames(connectorId: string): readonly string[];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(root)';
}

/**
 * Validates a parsed config file once, collecting every problem (schema, cross-field, connector
 * options) before anything runs. The result is frozen.
 */
export function validateConfig(
  raw: unknown,
  connectors: ConnectorCatalog,
): { ok: true; config: TendrilConfig } | { ok: false; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const parsed = TendrilConfig.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push({ path: pathOf(issue.path), message: issue.message });
  }
  // Cross-field checks run on the raw shape too, so one pass reports schema and semantic problems together.
  const connections = Array.isArray((raw as { connections?: unknown })?.connections)
    ? ((raw as { connections: unknown[] }).connections as Record<string, unknown>[])
    : [];
  const seen = new Map<string, number>();
  const parsedOptions = new Map<number, Record<string, unknown>>();
  connections.forEach((connection, index) => {
    if (!connection || typeof connection !== 'object') return;
    const id = connection['id'];
    if (typeof id === 'string') {
      if (seen.has(id)) {
        problems.push({ path: `connections.${index}.id`, message: `duplicate connection id (also connections.${seen.get(id)}.id); ids must be unique` });
      } else seen.set(id, index);
    }
    const timezone = connection['timezone'];
    if (typeof timezone === 'string' && !isValidTimeZone(timezone)) {
      problems.push({ path: `connections.${index}.timezone`, message: 'is not an IANA time zone; use a name such as America/New_York' });
    }
    const connector = connection['connector'];
    if (typeof connector === 'string') {
      if (!connectors.has(connector)) {
        problems.push({
          path: `connections.${index}.connector`,
          message: `unknown connector; installed connectors are: ${connectors.ids().join(', ')}`,
        });
      } else {
        const schema = connectors.optionsSchema(connector);
        const options = connection['options'] ?? {};
        const result = schema?.safeParse(options);
        if (result?.success) parsedOptions.set(index, result.data as Record<string, unknown>);
        if (result && !result.success) {
          for (const issue of result.error.issues) {
            problems.push({ path: `connections.${index}.options.${pathOf(issue.path)}`, message: issue.message });
          }
        }
        const streams = connection['streams'];
        if (Array.isArray(streams)) {
          const known = connectors.streamNames(connector);
          streams.forEach((stream, s) => {
            if (typeof stream === 'string' && !known.includes(stream)) {
              problems.push({ path: `connections.${index}.streams.${s}`, message: `unknown stream; ${connector} has: ${known.join(', ')}` });
            }
          });
        }
      }
    }
  });
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  // The connector's parse applies its defaults; keep that result, not the raw options.
  parsed.data.connections.forEach((connection, index) => {
    const options = parsedOptions.get(index);
    if (options) connection.options = options;
  });
  return { ok: true, config: deepFreeze(parsed.data) };
}

/** The error a CLI raises for an invalid config: every problem, one per line. */
export function configError(file: string, problems: readonly ConfigProblem[]): TendrilError {
  const lines = problems.map((p) => `  - ${p.path}: ${p.message}`);
  return new TendrilError(
    'TENDRIL_E_CONFIG_INVALID',
    `${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
    { details: { problems } },
  );
}
