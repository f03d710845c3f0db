import { z } from 'zod';
import type { ConfigProblem } from './config-problem.js';

/**
 * A subscription filter entry: an exact resource or event type, or a prefix ending in `*`
 * (`appointment.*`, `*`). Matching is done by the delivery router (docs/delivery.md, "Subscriptions").
 */
const SubscriptionFilter = z
  .string()
  .regex(/^(?:[A-Za-z0-9_.-]+\*?|\*)$/, 'must be a type name, optionally ending in * (e.g. appointment.*)');

/** A Standard Webhooks secret, plain or with `notAfter` for rotation (docs/delivery.md, "Signing"). */
const SubscriptionSecret = z.union([
  z.string().min(1),
  z.object({ secret: z.string().min(1), notAfter: z.string().min(1).optional() }).strict(),
]);

/**
 * One webhook subscriber (docs/delivery.md, "Subscriptions"). `policy` is the SNS-shaped delivery policy; its
 * fields are checked by the delivery package's parser (passed in as {@link ConfigValidators.deliveryPolicy})
 * so that core holds no delivery logic while every problem is still reported in one pass.
 */
export const SubscriptionConfig = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters of A-Z, a-z, 0-9, _ and -'),
    url: z.string().min(1),
    /** Allows `http://` for a loopback host (127.0.0.0/8, ::1, localhost) only. */
    allowInsecure: z.boolean().default(false),
    format: z.enum(['json', 'fhir', 'flat']).default('json'),
    connectionIds: z.array(z.string().min(1)).default([]),
    resourceTypes: z.array(SubscriptionFilter).default([]),
    eventTypes: z.array(SubscriptionFilter).default([]),
    apiKey: z
      .object({
        header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name such as x-api-key'),
        value: z.string().min(1),
      })
      .strict()
      .optional(),
    secrets: z.array(SubscriptionSecret).min(1, 'add at least one whsec_ secret'),
    policy: z.unknown().optional(),
    timeoutSeconds: z.number().int().min(1).max(30).default(15),
    enabled: z.boolean().default(true),
    disableOn410: z.boolean().default(true),
  })
  .strict();
export type SubscriptionConfig = z.infer<typeof SubscriptionConfig>;

/**
 * Agent-wide delivery settings (docs/delivery.md, "Delivery policy"); a subscription's own `policy` replaces
 * `policy`.
 */
export const DeliveryConfig = z
  .object({
    policy: z.unknown().optional(),
    maxLifetimeSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(3600),
    jitter: z.number().min(0).lt(1).default(0.1),
    concurrency: z.number().int().min(1).max(256).default(8),
    /** How long a worker owns a delivery it took; must exceed every subscription's timeout. */
    leaseSeconds: z.number().int().min(2).max(3600).default(60),
    /** While a subscription's endpoint is unreachable, how often one probe request is sent. */
    probeIntervalSeconds: z.number().int().min(1).max(86_400).default(60),
    /** Pause a subscription after this many permanent failures in a row; 0 never pauses. */
    pauseAfterPermanentFailures: z.number().int().min(0).max(100_000).default(20),
    strictPolicyValidation: z.boolean().default(false),
    disableSubscriptionOverrides: z.boolean().default(false),
  })
  .strict();
export type DeliveryConfig = z.infer<typeof DeliveryConfig>;

/** The defaults of {@link DeliveryConfig}, for `.default(...)` and for callers building configs in code. */
export const DEFAULT_DELIVERY_CONFIG: DeliveryConfig = {
  maxLifetimeSeconds: 3600,
  jitter: 0.1,
  concurrency: 8,
  leaseSeconds: 60,
  probeIntervalSeconds: 60,
  pauseAfterPermanentFailures: 20,
  strictPolicyValidation: false,
  disableSubscriptionOverrides: false,
};

/**
 * Checks that need code outside core, passed into `validateConfig` by the agent: the delivery
 * policy parser and the webhook-secret check live in `@tendril/delivery`, which depends on core.
 */
export interface ConfigValidators {
  /** Every problem of one policy, each naming its field (`healthyRetryPolicy.minDelayTarget must …`). */
  deliveryPolicy?(
    policy: unknown,
    options: { strict: boolean; maxLifetimeSeconds: number },
  ): readonly string[];
  /** Why a `whsec_` secret is unusable, or undefined when it is fine. Never echoes the secret. */
  webhookSecret?(secret: string): string | undefined;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]', '::1']);

/** True for 127.0.0.0/8, ::1 and localhost: the only hosts `http://` is allowed for. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * The cross-field checks of `subscriptions[]` and `delivery` (URL scheme, unknown connection ids,
 * duplicate ids, secrets, policies, lease vs timeout), run on the raw config so they are reported
 * together with schema problems.
 */
export function subscriptionProblems(
  raw: unknown,
  connectionIds: ReadonlyMap<string, unknown> | ReadonlySet<string>,
  validators: ConfigValidators,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const root = record(raw) ?? {};
  const delivery = record(root['delivery']) ?? {};
  const strict = delivery['strictPolicyValidation'] === true;
  const maxLifetimeSeconds =
    typeof delivery['maxLifetimeSeconds'] === 'number'
      ? delivery['maxLifetimeSeconds']
      : DEFAULT_DELIVERY_CONFIG.maxLifetimeSeconds;
  const leaseSeconds =
    typeof delivery['leaseSeconds'] === 'number'
      ? delivery['leaseSeconds']
      : DEFAULT_DELIVERY_CONFIG.leaseSeconds;
  const policyProblems = (policy: unknown, path: string): void => {
    if (policy === undefined || validators.deliveryPolicy === undefined) return;
    for (const message of validators.deliveryPolicy(policy, { strict, maxLifetimeSeconds })) {
      problems.push({ path, message });
    }
  };
  policyProblems(delivery['policy'], 'delivery.policy');

  const subscriptions = Array.isArray(root['subscriptions']) ? (root['subscriptions'] as unknown[]) : [];
  const seen = new Map<string, number>();
  subscriptions.forEach((entry, index) => {
    const subscription = record(entry);
    if (!subscription) return;
    const at = (field: string): string => `subscriptions.${index}.${field}`;
    const id = subscription['id'];
    if (typeof id === 'string') {
      if (seen.has(id)) {
        problems.push({
          path: at('id'),
          message: `duplicate subscription id (also subscriptions.${seen.get(id)}.id); ids must be unique`,
        });
      } else seen.set(id, index);
    }
    const url = subscription['url'];
    if (typeof url === 'string' && url !== '') {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url);
      } catch {
        problems.push({
          path: at('url'),
          message: 'is not a URL; write it like https://example.com/webhooks/tendril',
        });
      }
      if (parsed) {
        if (parsed.protocol === 'http:') {
          if (!isLoopbackHost(parsed.hostname)) {
            problems.push({
              path: at('url'),
              message:
                'must use https://; http:// is allowed only for a loopback host (127.0.0.1, ::1, localhost) with allowInsecure: true',
            });
          } else if (subscription['allowInsecure'] !== true) {
            problems.push({
              path: at('url'),
              message:
                'uses http://; set allowInsecure: true to allow it for this loopback host, or use https://',
            });
          }
        } else if (parsed.protocol !== 'https:') {
          problems.push({ path: at('url'), message: 'must be an https:// URL' });
        }
        if (parsed.username !== '' || parsed.password !== '') {
          problems.push({
            path: at('url'),
            message: 'must not carry credentials; use apiKey: { header, value } instead',
          });
        }
      }
    }
    const ids = subscription['connectionIds'];
    if (Array.isArray(ids)) {
      ids.forEach((connectionId, i) => {
        if (typeof connectionId === 'string' && !connectionIds.has(connectionId)) {
          problems.push({
            path: at(`connectionIds.${i}`),
            message: `is not a configured connection; known: ${[...connectionIds.keys()].join(', ')}`,
          });
        }
      });
    }
    const secrets = subscription['secrets'];
    if (Array.isArray(secrets) && validators.webhookSecret) {
      secrets.forEach((secret, i) => {
        const value = typeof secret === 'string' ? secret : record(secret)?.['secret'];
        if (typeof value === 'string') {
          const problem = validators.webhookSecret!(value);
          if (problem)
            problems.push({
              path: at(typeof secret === 'string' ? `secrets.${i}` : `secrets.${i}.secret`),
              message: problem,
            });
        }
        const notAfter = record(secret)?.['notAfter'];
        if (typeof notAfter === 'string' && Number.isNaN(Date.parse(notAfter))) {
          problems.push({
            path: at(`secrets.${i}.notAfter`),
            message: 'is not an ISO 8601 instant; write it like 2025-01-31T12:00:00Z',
          });
        }
      });
    }
    const timeout = typeof subscription['timeoutSeconds'] === 'number' ? subscription['timeoutSeconds'] : 15;
    if (timeout >= leaseSeconds) {
      problems.push({
        path: at('timeoutSeconds'),
        message: `must be below delivery.leaseSeconds (${leaseSeconds}), or a slow attempt could be sent twice at once`,
      });
    }
    policyProblems(subscription['policy'], at('policy'));
  });
  return problems;
}
