import type { AgentMetrics } from '@tendril/api';
import type { DeliveryStore, Store, WritebackStore } from '@tendril/store';

/**
 * The store as the long-running agent's workers see it, observed for `/metrics` on the way
 * through: each webhook attempt the dispatcher records (request duration; queued → delivered
 * latency) and each writeback the worker finishes (accepted → finished). Nothing else changes:
 * every other member is the store's own. Observing here keeps the metrics out of the dispatcher
 * and the worker, which know nothing of Prometheus.
 */
export function instrumentedStore(store: Store, metrics: AgentMetrics): Store {
  // What a lease told us about each delivery, until its attempt is recorded.
  const leased = new Map<number, { subscriptionId: string; createdAtMs: number }>();
  type Completion = Parameters<DeliveryStore['complete']>[0];
  const observe = (input: Completion, applied: boolean) => {
    const lease = leased.get(input.deliveryId);
    leased.delete(input.deliveryId);
    if (!lease) return;
    const { attempt, resolution } = input;
    metrics.deliveryRequestDuration.observe(
      { subscription: lease.subscriptionId, outcome: attempt.outcome },
      Math.max(0, attempt.endedAtMs - attempt.startedAtMs) / 1000,
    );
    if (applied && resolution.kind === 'delivered')
      metrics.deliveryLatency.observe(
        { subscription: lease.subscriptionId },
        Math.max(0, attempt.endedAtMs - lease.createdAtMs) / 1000,
      );
  };
  const deliveries = new Proxy(store.deliveries, {
    get(target, property, receiver) {
      switch (property) {
        case 'lease':
          return async (input: Parameters<DeliveryStore['lease']>[0]) => {
            const taken = await target.lease(input);
            for (const d of taken)
              leased.set(d.id, { subscriptionId: d.subscriptionId, createdAtMs: d.createdAtMs });
            return taken;
          };
        case 'release':
          return async (input: Parameters<DeliveryStore['release']>[0]) => {
            leased.delete(input.deliveryId);
            return target.release(input);
          };
        case 'complete':
          return async (input: Completion) => {
            const result = await target.complete(input);
            observe(input, result.applied);
            return result;
          };
        case 'completeMany':
          return async (inputs: readonly Completion[]) => {
            const results = await target.completeMany(inputs);
            inputs.forEach((input, i) => observe(input, results[i]?.applied ?? false));
            return results;
          };
        case 'completeAndLease':
          return async (inputs: readonly Completion[], lease: Parameters<DeliveryStore['lease']>[0]) => {
            const { results, leased: taken } = await target.completeAndLease(inputs, lease);
            inputs.forEach((input, i) => observe(input, results[i]?.applied ?? false));
            for (const d of taken)
              leased.set(d.id, { subscriptionId: d.subscriptionId, createdAtMs: d.createdAtMs });
            return { results, leased: taken };
          };
        default: {
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
      }
    },
  });
  const writebacks = new Proxy(store.writebacks, {
    get(target, property, receiver) {
      if (property === 'finish') {
        return async (result: Parameters<WritebackStore['finish']>[0]) => {
          const saved = await target.finish(result);
          const accepted = Date.parse(saved.acceptedAt);
          const finished = Date.parse(saved.finishedAt ?? result.finishedAt);
          if (!Number.isNaN(accepted) && !Number.isNaN(finished))
            metrics.writebackLatency.observe(
              { connection: saved.connectionId, command: saved.command, status: saved.status },
              Math.max(0, finished - accepted) / 1000,
            );
          return saved;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'deliveries') return deliveries;
      if (property === 'writebacks') return writebacks;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Times the pages of one poll or reconciliation: called after each page commit, it observes the
 * time since the run started (first page) or since the previous commit.
 */
export function pageTimer(metrics: AgentMetrics, labels: { connection: string; stream: string }): () => void {
  let last = performance.now();
  return () => {
    const now = performance.now();
    metrics.pageDuration.observe(labels, (now - last) / 1000);
    last = now;
  };
}
