import {
  createDispatcher,
  resolveSubscriptions,
  type Dispatcher,
  type DispatcherOptions,
  type ResolvedSubscription,
} from '@tendril/delivery';
import type { AgentServices } from '../agent-services.js';

/**
 * The webhook dispatcher for a loaded agent: the config's subscriptions (resolved policies) and
 * `delivery:` settings, the agent store and logger, and each connection's `clientId` for the
 * `flat` format. Used by `tendril deliver`, the demo, and the long-running agent (`tendril run`).
 */
export function dispatcherFor(
  cradle: Pick<AgentServices, 'config' | 'store' | 'logger'>,
  overrides: Partial<Omit<DispatcherOptions, 'store' | 'subscriptions' | 'logger'>> = {},
): { dispatcher: Dispatcher; subscriptions: ResolvedSubscription[] } {
  const { config, store, logger } = cradle;
  const subscriptions = resolveSubscriptions(config);
  const clientIds = new Map(config.connections.map((c) => [c.id, c.clientId ?? c.id]));
  const dispatcher = createDispatcher({
    store,
    subscriptions,
    logger: logger.child({ component: 'delivery' }),
    settings: config.delivery,
    clientIdOf: (connectionId) => clientIds.get(connectionId) ?? connectionId,
    ...overrides,
  });
  return { dispatcher, subscriptions };
}
