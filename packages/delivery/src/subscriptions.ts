import {
  TendrilError,
  type ConfigValidators,
  type DeliveryConfig,
  type OutputFormat,
  type SubscriptionConfig,
  type TendrilConfig,
} from '@tendril/core';
import type { DeliveryRoute } from '@tendril/store';
import {
  assertDeliveryPolicy,
  effectiveDeliveryPolicy,
  parseDeliveryPolicy,
  type DeliveryPolicy,
} from './policy.js';
import { signWebhook, type WebhookSecret } from './signing.js';

/**
 * A subscription as the dispatcher uses it: config validated, secrets normalised, the effective
 * policy parsed (its own, or the agent default). Holds secrets: never log it whole.
 */
export interface ResolvedSubscription {
  readonly id: string;
  readonly url: string;
  readonly format: OutputFormat;
  readonly route: DeliveryRoute;
  readonly apiKey?: { readonly header: string; readonly value: string };
  readonly secrets: readonly WebhookSecret[];
  readonly policy: DeliveryPolicy;
  readonly timeoutSeconds: number;
  readonly enabled: boolean;
  readonly disableOn410: boolean;
}

/** The delivery settings the dispatcher reads from `delivery:` (defaults as in core's DeliveryConfig). */
export type DeliverySettings = Pick<
  DeliveryConfig,
  | 'maxLifetimeSeconds'
  | 'jitter'
  | 'concurrency'
  | 'leaseSeconds'
  | 'probeIntervalSeconds'
  | 'pauseAfterPermanentFailures'
>;

/** The route (filters) of one subscription, as the store matches committed events against it. */
export function routeOf(
  subscription: Pick<SubscriptionConfig, 'id' | 'connectionIds' | 'resourceTypes' | 'eventTypes'>,
): DeliveryRoute {
  return {
    subscriptionId: subscription.id,
    connectionIds: subscription.connectionIds,
    resourceTypes: subscription.resourceTypes,
    eventTypes: subscription.eventTypes,
  };
}

/**
 * The routes the store is opened with: enabled subscriptions only, so a disabled one gets no new
 * delivery rows (its existing rows stay and are sent once it is enabled again).
 */
export function deliveryRoutesFromConfig(config: Pick<TendrilConfig, 'subscriptions'>): DeliveryRoute[] {
  return config.subscriptions.filter((s) => s.enabled).map(routeOf);
}

/**
 * Every subscription of a validated config, resolved. The config validator has already checked the
 * policies (see {@link deliveryConfigValidators}); this parses them again to get the normalised form.
 */
export function resolveSubscriptions(
  config: Pick<TendrilConfig, 'subscriptions' | 'delivery'>,
): ResolvedSubscription[] {
  const options = {
    strict: config.delivery.strictPolicyValidation,
    maxLifetimeSeconds: config.delivery.maxLifetimeSeconds,
  };
  const agentDefault =
    config.delivery.policy === undefined
      ? undefined
      : assertDeliveryPolicy(config.delivery.policy, options).policy;
  return config.subscriptions.map((subscription) => {
    const own =
      subscription.policy === undefined
        ? undefined
        : assertDeliveryPolicy(subscription.policy, options).policy;
    return {
      id: subscription.id,
      url: subscription.url,
      format: subscription.format,
      route: routeOf(subscription),
      ...(subscription.apiKey === undefined ? {} : { apiKey: subscription.apiKey }),
      secrets: subscription.secrets.map((secret) =>
        typeof secret === 'string'
          ? { secret }
          : {
              secret: secret.secret,
              ...(secret.notAfter === undefined ? {} : { notAfter: secret.notAfter }),
            },
      ),
      policy: effectiveDeliveryPolicy({
        ...(agentDefault === undefined ? {} : { agentDefault }),
        ...(own === undefined ? {} : { subscription: own }),
        disableSubscriptionOverrides: config.delivery.disableSubscriptionOverrides,
      }),
      timeoutSeconds: subscription.timeoutSeconds,
      enabled: subscription.enabled,
      disableOn410: subscription.disableOn410,
    };
  });
}

/** Why a webhook secret cannot sign, or undefined when it can. The message never contains the secret. */
export function webhookSecretProblem(secret: string): string | undefined {
  try {
    signWebhook({ secrets: [{ secret }], id: 'check', timestampSeconds: 0, body: '' });
    return undefined;
  } catch (error) {
    if (error instanceof TendrilError) return error.message;
    throw error;
  }
}

/**
 * The config checks that live in this package, for `validateConfig(raw, catalog, validators)`:
 * delivery policies through {@link parseDeliveryPolicy} (each problem names its field) and secrets.
 */
export const deliveryConfigValidators: ConfigValidators = {
  deliveryPolicy(policy, options) {
    const result = parseDeliveryPolicy(policy, options);
    return result.ok ? [] : result.errors;
  },
  webhookSecret: webhookSecretProblem,
};

/** Finds one subscription by id or throws a usage error listing the configured ones. */
export function findSubscription(
  subscriptions: readonly ResolvedSubscription[],
  id: string,
): ResolvedSubscription {
  const found = subscriptions.find((s) => s.id === id);
  if (found === undefined) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `No subscription has the id ${id}; configured: ${subscriptions.map((s) => s.id).join(', ') || '(none)'}.`,
    );
  }
  return found;
}
