import { z } from 'zod';
import { TendrilError } from './errors.js';
import { isValidTimeZone } from './time.js';
import type { TableDefinition } from './sdk.js';
import { tableOverrideProblems } from './table-overrides.js';
import {
  DEFAULT_DELIVERY_CONFIG,
  DeliveryConfig,
  SubscriptionConfig,
  subscriptionProblems,
  type ConfigValidators,
} from './subscription-config.js';
import { WritebackConnectionConfig } from './writeback-config.js';
import { FleetSetting } from './fleet-config.js';
import type { ConfigProblem } from './config-problem.js';
import { HubLinkConfig } from './hub-config.js';
import { cellText } from './cell-text.js';

const Slug = z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be 1–64 characters of a-z, 0-9 and -');

/**
 * TLS for a MySQL/MariaDB connection (mysql2's `ssl`). `ca`, `cert` and `key` are paths to PEM
 * files (read when the connection opens). `tls: {}` encrypts and trusts the system's CAs.
 * SQL Server has its own settings (`encrypt`, `trustServerCertificate`).
 */
export const DatabaseTlsConfig = z
  .object({
    /** The CA that signed the server's certificate (a private CA or a self-signed certificate). */
    ca: z.string().min(1).optional(),
    /** Client certificate and key, for servers that require X.509 client authentication. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Check the server's certificate against the CA (default true). False encrypts without knowing who answers. */
    rejectUnauthorized: z.boolean().default(true),
    /** The name expected in the server's certificate, when the host is an IP address or an alias. */
    servername: z.string().min(1).optional(),
  })
  .strict();
export type DatabaseTlsConfig = z.infer<typeof DatabaseTlsConfig>;

/** A database given by URL (`mysql://user:pass@host:3306/db`) or by parts. */
const DatabaseByUrl = z.object({ url: z.string().min(1), tls: DatabaseTlsConfig.optional() }).strict();
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
    tls: DatabaseTlsConfig.optional(),
  })
  .strict();
/**
 * A database reached through unixODBC (legacy EHRs with no native driver): the connection string
 * goes to the driver manager as is; `dialect` is the engine behind it, which decides the SQL.
 */
const DatabaseByOdbc = z
  .object({ odbc: z.string().min(1), dialect: z.enum(['mysql', 'mssql', 'sqlite']) })
  .strict();
export const DatabaseConfig = z.union([DatabaseByUrl, DatabaseByParts, DatabaseByOdbc]);
export type DatabaseConfig = z.infer<typeof DatabaseConfig>;

export const SyncConfig = z
  .object({
    settleSeconds: z.number().int().min(0).max(86_400).default(120),
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(900),
    pageSize: z.number().int().min(1).max(100_000).default(1000),
    /**
     * Nightly reconciliation re-reads one of this many slices of the rows each night (docs/sync-semantics.md,
     * "Nightly reconciliation"); default 7.
     */
    rehashSlices: z.number().int().min(1).max(366).optional(),
    /**
     * A row that fails mapping or validation is quarantined and skipped; when more than this share
     * of a page's rows fail (pages of 10 rows or more), the stream stops instead: the mapping, not
     * the data, is wrong (docs/quarantine.md). 0–1; default 0.5.
     */
    quarantineMaxShare: z.number().min(0).max(1).optional(),
  })
  .strict();

/**
 * Whether `sql` is one read-only SELECT statement, as nightly scripts must be: the problem as a
 * sentence, or undefined when it is fine. A syntactic guard only; the database user's grants are
 * what really keep a script read-only, so give the agent a user with SELECT rights alone.
 */
export function readOnlySelectProblem(sql: string): string | undefined {
  // String literals and quoted names are blanked first, so a keyword or `;` inside them is ignored.
  const bare = sql.replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`[^`]*`|\[[^\]]*\]/g, "''").trim();
  if (/--|\/\*|#/.test(bare)) return 'must not contain comments; describe the script in its name';
  const body = bare.replace(/;\s*$/, '');
  if (body.includes(';')) return 'must be a single statement (no `;` except one at the end)';
  if (!/^select\b/i.test(body)) return 'must be a single SELECT statement';
  const forbidden =
    /\b(into|for\s+update|lock\s+in\s+share\s+mode|for\s+share|insert|update|delete|merge|drop|alter|create|truncate|grant|revoke|exec|execute|call|handler|load|outfile|dumpfile|set)\b/i.exec(
      body,
    );
  if (forbidden) return `must be read-only; remove ${forbidden[1]!.toUpperCase().replace(/\s+/g, ' ')}`;
  return undefined;
}

/** A 5-field cron expression (minute hour day-of-month month day-of-week); the scheduler checks it fully. */
const CronExpression = z
  .string()
  .regex(
    /^\s*[0-9a-zA-Z*,/\-?]+(\s+[0-9a-zA-Z*,/\-?]+){4}\s*$/,
    'must be a 5-field cron expression such as */10 * * * *',
  );

/**
 * When the agent (`tendril run`) polls a connection and runs its nightly jobs (docs/sync-semantics.md,
 * "Scheduling").
 */
export const ScheduleConfig = z
  .object({
    /** Incremental polls, in UTC; each connection is shifted by a stable offset inside the interval. */
    poll: CronExpression.default('*/10 * * * *'),
    /** Nightly reconciliation and scripts, `HH:MM` in the connection's timezone. */
    nightly: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM such as 02:00')
      .default('02:00'),
  })
  .strict();

/** A read-only SELECT run after the nightly reconciliation; its rows are a named custom element. */
export const NightlyScriptConfig = z
  .object({
    name: Slug,
    /** One SELECT statement (no comments, no `;` except at the end). */
    sql: z
      .string()
      .min(1)
      .superRefine((sql, ctx) => {
        const problem = readOnlySelectProblem(sql);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /** The element name receivers see (`flat`: the `element` key), e.g. `recall_list`. */
    element: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be 1–64 characters of a-z, 0-9 and _, starting with a letter'),
  })
  .strict();
export type NightlyScriptConfig = z.infer<typeof NightlyScriptConfig>;

/** One stream's per-site override (`connections[].tableMap.<stream>`), see table-overrides.ts. */
export const TableOverrideConfig = z
  .object({
    table: z.string().min(1).optional(),
    key: z.array(z.string().min(1)).min(1).optional(),
    cursor: z.string().min(1).optional(),
    columns: z.record(z.string(), z.string().min(1)).optional(),
    /** Written by `tendril map` when the engineer confirmed the mapping (table-overrides.ts). */
    verifiedAtInstall: z
      .object({
        at: z.string().min(1),
        by: z.literal('tendril map'),
        sampleRows: z.number().int().nonnegative(),
        failedRows: z.number().int().nonnegative(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ConnectionConfig = z
  .object({
    id: Slug,
    connector: z.string().min(1),
    /** `client_id` in the `flat` format; defaults to the connection id. */
    clientId: z.string().min(1).optional(),
    timezone: z.string().min(1),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
      .default('USD'),
    database: DatabaseConfig,
    sync: SyncConfig.default({ settleSeconds: 120, overlapSeconds: 900, pageSize: 1000 }),
    streams: z.array(z.string().min(1)).optional(),
    options: z.record(z.string(), z.unknown()).default({}),
    /** Per-site table overrides by stream name (table-overrides.ts); checked against the connector. */
    tableMap: z.record(z.string(), TableOverrideConfig).optional(),
    schedule: ScheduleConfig.default({ poll: '*/10 * * * *', nightly: '02:00' }),
    nightlyScripts: z.array(NightlyScriptConfig).default([]),
    /** Writeback settings (docs/writeback.md; writeback-config.ts). Absent: no writes. */
    writeback: WritebackConnectionConfig.optional(),
  })
  .strict();
export type ConnectionConfig = z.infer<typeof ConnectionConfig>;

export const StoreConfig = z.union([
  z.object({ sqlite: z.string().min(1) }).strict(),
  z.object({ postgres: z.string().min(1) }).strict(),
]);

const retentionDays = (fallback: number) => z.number().int().min(1).max(3650).default(fallback);

/** How long the store keeps what it no longer needs, and when `tendril run` prunes it (docs/configuration.md, "Retention"). */
export const RetentionConfig = z
  .object({
    /** Delivered delivery rows and their attempts. */
    deliveredDays: retentionDays(7),
    /** Dead letters and their attempts (not those queued for a redrive). */
    deadLetterDays: retentionDays(14),
    /** Outbox events superseded by a newer event of the same resource, with no delivery left. */
    outboxDays: retentionDays(30),
    /** Finished writebacks and their audit rows: six years, a HIPAA documentation period (docs/writeback.md). */
    auditDays: retentionDays(2190),
    /** Run history (the newest run of each stream stays) and the fleet's run log. */
    runDays: retentionDays(30),
    /** When `tendril run` prunes: HH:MM in the first connection's time zone (UTC without one). */
    pruneAt: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day HH:MM such as 03:30')
      .default('03:30'),
  })
  .strict();
export type RetentionConfig = z.infer<typeof RetentionConfig>;

export const DEFAULT_RETENTION: RetentionConfig = {
  deliveredDays: 7,
  deadLetterDays: 14,
  outboxDays: 30,
  auditDays: 2190,
  runDays: 30,
  pruneAt: '03:30',
};

export const TendrilConfig = z
  .object({
    store: StoreConfig.default({ sqlite: './.tendril/tendril.db' }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Write the log to a file rotated by size and time instead of standard error (docs/running.md):
     * for Windows services, which have no journal. Absent: standard error.
     */
    logFile: z
      .object({
        /** The log file; rotated files get a number before the extension (`tendril.3.log`). */
        path: z.string().min(1),
        /** Rotate when the file reaches this size: a number with k, m or g. */
        maxSize: z
          .string()
          .regex(/^\d+[kmg]$/i, 'must be a size such as 10m (k, m or g)')
          .default('10m'),
        /** Rotate at least this often. */
        frequency: z.enum(['daily', 'hourly']).default('daily'),
        /** Rotated files kept besides the current one. */
        keep: z.number().int().min(1).max(1000).default(14),
      })
      .strict()
      .optional(),
    /** At least one, unless `fleet` is set (then they live in the PostgreSQL store; checked in validateConfig). */
    connections: z.array(ConnectionConfig).default([]),
    /** This agent is a fleet worker (fleet-config.ts, docs/fleet.md): connections come from the store. */
    fleet: FleetSetting.optional(),
    /** Who runs this agent, written by `tendril init`: the practice and the person who can restart it. */
    site: z
      .object({
        practiceName: z.string().min(1),
        contact: z
          .object({
            name: z.string().min(1),
            email: z
              .string()
              .regex(
                /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
                'must be an e-mail address such as it@smile-dental.example',
              ),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** The hub this agent dials out to (hub-config.ts, docs/hub.md). Absent: the agent works alone. */
    hub: HubLinkConfig.optional(),
    /** Webhook subscribers (docs/delivery.md, "Subscriptions"). */
    subscriptions: z.array(SubscriptionConfig).default([]),
    /** Agent-wide delivery defaults (docs/delivery.md, "Delivery policy"). */
    delivery: DeliveryConfig.default(DEFAULT_DELIVERY_CONFIG),
    /** The local HTTP API of `tendril run`: status page, health, metrics. Loopback by default. */
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8787),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8787 }),
    /** Retention and the nightly prune of the store (docs/store.md, "Retention and pruning"). */
    retention: RetentionConfig.default(DEFAULT_RETENTION),
    /**
     * Worker threads that map backload pages while the engine commits (docs/sync.md, "The map
     * pool"); absent or 0: off (opt-in until measured where a core is free, docs/performance.md).
     */
    mapThreads: z.number().int().min(0).max(16).optional(),
    /** When a stream counts as stale (`agent.health.degraded`): no successful read for this long. */
    health: z
      .object({
        readStaleMinutes: z.number().int().min(1).default(150),
        writeStaleMinutes: z.number().int().min(1).default(25),
      })
      .strict()
      .default({ readStaleMinutes: 150, writeStaleMinutes: 25 }),
  })
  .strict();
export type TendrilConfig = z.infer<typeof TendrilConfig>;

export type { ConfigProblem } from './config-problem.js';

/** What the config validator needs to know about installed connectors, passed in (core has no registry). */
export interface ConnectorCatalog {
  has(connectorId: string): boolean;
  ids(): readonly string[];
  optionsSchema(connectorId: string): z.ZodType | undefined;
  streamNames(connectorId: string): readonly string[];
  /** A stream's declared table, to check `tableMap` overrides against. Without it they are not checked. */
  streamTable?(connectorId: string, stream: string): TableDefinition | undefined;
}

/** Every connection id counts as known (a fleet's connections live in the store). */
const ANY_CONNECTION: ReadonlySet<string> = {
  has: () => true,
  keys: () => [][Symbol.iterator](),
} as unknown as ReadonlySet<string>;

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

/** `tls` fits MySQL/MariaDB only, and a client certificate needs its key (and the reverse). */
function databaseTlsProblems(database: unknown, at: string): ConfigProblem[] {
  if (!database || typeof database !== 'object') return [];
  const db = database as Record<string, unknown>;
  const tls = db['tls'];
  if (!tls || typeof tls !== 'object') return [];
  const problems: ConfigProblem[] = [];
  const dialect =
    typeof db['url'] === 'string'
      ? (/^([a-z][a-z0-9+.-]*):/i.exec(db['url'])?.[1] ?? '').toLowerCase()
      : cellText(db['dialect']);
  if (!['mysql', 'mariadb'].includes(dialect)) {
    problems.push({
      path: at,
      message:
        'is for MySQL/MariaDB connections; SQL Server encrypts with encrypt and trustServerCertificate',
    });
  }
  const t = tls as Record<string, unknown>;
  if ((t['cert'] === undefined) !== (t['key'] === undefined))
    problems.push({
      path: at,
      message: 'cert and key go together: give both (a client certificate) or neither',
    });
  return problems;
}

/**
 * Validates a parsed config file once, collecting every problem (schema, cross-field, connector
 * options) before anything runs. The result is frozen.
 */
export function validateConfig(
  raw: unknown,
  connectors: ConnectorCatalog,
  validators: ConfigValidators = {},
): { ok: true; config: TendrilConfig } | { ok: false; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const parsed = TendrilConfig.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push({ path: pathOf(issue.path), message: issue.message });
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
        problems.push({
          path: `connections.${index}.id`,
          message: `duplicate connection id (also connections.${seen.get(id)}.id); ids must be unique`,
        });
      } else seen.set(id, index);
    }
    const timezone = connection['timezone'];
    if (typeof timezone === 'string' && !isValidTimeZone(timezone)) {
      problems.push({
        path: `connections.${index}.timezone`,
        message: 'is not an IANA time zone; use a name such as America/New_York',
      });
    }
    problems.push(...databaseTlsProblems(connection['database'], `connections.${index}.database.tls`));
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
            problems.push({
              path: `connections.${index}.options.${pathOf(issue.path)}`,
              message: issue.message,
            });
          }
        }
        const streams = connection['streams'];
        if (Array.isArray(streams)) {
          const known = connectors.streamNames(connector);
          streams.forEach((stream, s) => {
            if (typeof stream === 'string' && !known.includes(stream)) {
              problems.push({
                path: `connections.${index}.streams.${s}`,
                message: `unknown stream; ${connector} has: ${known.join(', ')}`,
              });
            }
          });
        }
        const tableMap = connection['tableMap'];
        if (tableMap && typeof tableMap === 'object' && !Array.isArray(tableMap)) {
          const known = connectors.streamNames(connector);
          for (const [stream, override] of Object.entries(tableMap as Record<string, unknown>)) {
            const at = `connections.${index}.tableMap.${stream}`;
            if (!known.includes(stream)) {
              problems.push({ path: at, message: `unknown stream; ${connector} has: ${known.join(', ')}` });
              continue;
            }
            const table = connectors.streamTable?.(connector, stream);
            const shape = TableOverrideConfig.safeParse(override);
            // Shape problems are already reported by the schema parse above.
            if (table && shape.success) {
              for (const p of tableOverrideProblems(table, shape.data))
                problems.push({ path: `${at}.${p.path}`, message: p.message });
            }
          }
        }
      }
    }
  });
  const root = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const fleet = root['fleet'] !== undefined && root['fleet'] !== null;
  if (
    !fleet &&
    connections.length === 0 &&
    (root['connections'] === undefined || Array.isArray(root['connections']))
  ) {
    problems.push({ path: 'connections', message: 'add at least one connection' });
  }
  if (fleet && !(root['store'] && typeof root['store'] === 'object' && 'postgres' in root['store'])) {
    problems.push({
      path: 'fleet',
      message: 'a fleet needs a shared store; set store: { postgres: <url> } (docs/fleet.md)',
    });
  }
  // Subscriptions and delivery settings (subscription-config.ts): URL scheme, connection ids, secrets, policies.
  // A fleet's connections are in the store, so its subscriptions' connectionIds are not checked here.
  problems.push(...subscriptionProblems(raw, fleet ? ANY_CONNECTION : seen, validators));
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  // The connector's parse applies its defaults; keep that result, not the raw options.
  parsed.data.connections.forEach((connection, index) => {
    const options = parsedOptions.get(index);
    if (options) connection.options = options;
  });
  return { ok: true, config: deepFreeze(parsed.data) };
}

/**
 * Paths where a parsed config refers to one of its own ancestors (a YAML alias inside its own
 * anchor, `a: &x { b: *x }`): such a value has no end, so it is reported before anything walks it.
 * Shared values (the same anchor used twice side by side) are fine.
 */
export function circularReferenceProblems(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ancestors = new Set<object>();
  const walk = (value: unknown, path: readonly string[]): void => {
    if (!value || typeof value !== 'object') return;
    if (ancestors.has(value)) {
      problems.push({
        path: path.join('.') || '(root)',
        message:
          'is a YAML alias to an anchor that contains it (a value that contains itself); replace the alias with the value',
      });
      return;
    }
    ancestors.add(value);
    const entries = Array.isArray(value)
      ? value.map((item, i) => [String(i), item] as const)
      : Object.entries(value);
    for (const [key, child] of entries) walk(child, [...path, key]);
    ancestors.delete(value);
  };
  walk(raw, []);
  return problems;
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
