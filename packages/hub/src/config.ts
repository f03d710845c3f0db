import { DEFAULT_DELIVERY_CONFIG, DeliveryConfig } from '@tendril/core';
import { deliveryConfigValidators } from '@tendril/delivery';
import { z } from 'zod';

const Duration = z
  .string()
  .regex(/^\d+[dhm]$/, 'must be a duration such as 30d, 12h or 90m')
  .transform((text) => {
    const n = Number(text.slice(0, -1));
    const unit = text.at(-1);
    return n * (unit === 'd' ? 86_400 : unit === 'h' ? 3600 : 60);
  });

/** `hub.yaml` (docs/hub.md, "Running a hub"): validated once, every problem at once, then frozen. */
export const HubConfigSchema = z
  .object({
    /** PostgreSQL (`{ postgres: url }`), or PGlite in a folder (`{ pglite: dir }`). Default: PGlite in `dataDir/db`. */
    store: z
      .union([
        z.object({ postgres: z.string().min(1) }).strict(),
        z.object({ pglite: z.string().min(1) }).strict(),
      ])
      .optional(),
    /** The hub's own folder: admin token, lock, and the PGlite database by default. Relative to hub.yaml. */
    dataDir: z.string().min(1).default('./.tendril-hub'),
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8443),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8443 }),
    /** The URL agents and vendors use (shown by `hub site create`); default: from `listen`. */
    publicUrl: z.string().url().optional(),
    /** TLS for the link and the API. Without it the hub listens on loopback only. */
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    retention: z
      .object({ events: Duration.default(30 * 86_400) })
      .strict()
      .default({ events: 30 * 86_400 }),
    sites: z
      .object({
        /** No link for this long: `site.offline`. */
        offlineAfterSeconds: z.number().int().min(1).default(300),
      })
      .strict()
      .default({ offlineAfterSeconds: 300 }),
    link: z
      .object({
        pingSeconds: z.number().positive().max(300).default(10),
        maxFrameBytes: z
          .number()
          .int()
          .min(65_536)
          .max(256 * 1024 * 1024)
          .default(16 * 1024 * 1024),
        credit: z.number().int().min(1).max(1000).default(8),
        maxBatchEvents: z.number().int().min(1).max(5000).default(1000),
        helloTimeoutSeconds: z.number().positive().default(10),
      })
      .strict()
      .default({
        pingSeconds: 10,
        maxFrameBytes: 16 * 1024 * 1024,
        credit: 8,
        maxBatchEvents: 1000,
        helloTimeoutSeconds: 10,
      }),
    api: z
      .object({
        /** Per API key. */
        rateLimit: z
          .object({ perSecond: z.number().positive(), burst: z.number().int().min(1) })
          .strict()
          .default({ perSecond: 50, burst: 100 }),
        bodyLimitBytes: z.number().int().min(1024).default(65_536),
        /** Largest `limit` of an events page. */
        maxPageSize: z.number().int().min(1).max(10_000).default(1000),
      })
      .strict()
      .default({ rateLimit: { perSecond: 50, burst: 100 }, bodyLimitBytes: 65_536, maxPageSize: 1000 }),
    /**
     * Webhook delivery to vendor subscriptions (docs/hub.md, "Webhooks from the hub"): the agent's `delivery:`
     * settings, plus the key that seals subscription secrets (default: `dataDir/delivery-key`).
     */
    delivery: DeliveryConfig.extend({
      secretKey: z.string().min(1).optional(),
      /** How often a node looks for new log entries to hand to delivery when nothing woke it. */
      fanoutMs: z.number().int().min(50).max(60_000).default(1000),
    })
      .strict()
      .default({ ...DEFAULT_DELIVERY_CONFIG, fanoutMs: 1000 }),
    /** The console (docs/hub.md, "The console"): vendor staff and operators in a browser. */
    console: z
      .object({
        enabled: z.boolean().default(true),
        /** A session ends this long after log-in. */
        sessionHours: z
          .number()
          .positive()
          .max(24 * 30)
          .default(12),
        /** Failed log-ins allowed per e-mail address, and per client address, in the window. */
        login: z
          .object({
            maxFailures: z.number().int().min(1).max(1000).default(5),
            maxFailuresPerAddress: z.number().int().min(1).max(100_000).default(50),
            windowMinutes: z
              .number()
              .positive()
              .max(24 * 60)
              .default(15),
          })
          .strict()
          .default({ maxFailures: 5, maxFailuresPerAddress: 50, windowMinutes: 15 }),
        /** Mark the session cookie Secure (default: when the hub serves TLS or publicUrl is https). */
        secureCookies: z.boolean().optional(),
      })
      .strict()
      .default({
        enabled: true,
        sessionHours: 12,
        login: { maxFailures: 5, maxFailuresPerAddress: 50, windowMinutes: 15 },
      }),
    /**
     * Agent releases (`tendril hub release add`, docs/hub.md, "Remote upgrade"). With `publicKey` (a
     * PEM file, relative to hub.yaml) a release whose `.sig` does not verify is refused when added.
     */
    releases: z
      .object({ publicKey: z.string().min(1).optional() })
      .strict()
      .default({}),
    /** The vendor an operator's `hub site create` uses when `--vendor` is not given. */
    defaultVendor: z.string().min(1).default('default'),
  })
  .strict();
export type HubConfig = z.infer<typeof HubConfigSchema>;

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export interface HubConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** Validates a parsed hub.yaml: schema problems and cross-field rules together. */
export function validateHubConfig(
  raw: unknown,
): { ok: true; config: HubConfig } | { ok: false; problems: HubConfigProblem[] } {
  const problems: HubConfigProblem[] = [];
  const parsed = HubConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push({ path: issue.path.map(String).join('.') || '(root)', message: issue.message });
    return { ok: false, problems };
  }
  const config = parsed.data;
  if (!config.tls && !isLoopbackHost(config.listen.host)) {
    problems.push({
      path: 'listen.host',
      message:
        'plain HTTP is allowed on loopback only; set tls: { cert, key }, or listen on 127.0.0.1 behind a TLS proxy on this host',
    });
  }
  if (config.delivery.policy !== undefined) {
    for (const message of deliveryConfigValidators.deliveryPolicy!(config.delivery.policy, {
      strict: config.delivery.strictPolicyValidation,
      maxLifetimeSeconds: config.delivery.maxLifetimeSeconds,
    }))
      problems.push({ path: 'delivery.policy', message });
  }
  if (
    config.delivery.secretKey !== undefined &&
    Buffer.from(config.delivery.secretKey, 'base64').length !== 32
  )
    problems.push({
      path: 'delivery.secretKey',
      message: 'must be base64 of 32 random bytes (openssl rand -base64 32), normally ${HUB_DELIVERY_KEY}',
    });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: Object.freeze(config) };
}
