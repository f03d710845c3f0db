import type { Store } from '@tendril/store';

/**
 * `tendril deliveries resume`: redrives the subscription's dead letters awaiting redrive — those of
 * an outage (`unreachable`) and those dead-lettered `gone` by a 410 that disabled it, including the
 * requests that were in flight when the 410 came (docs/delivery.md, "How it works") — each
 * in its original place in its key, with the same webhook-id and a fresh retry budget; then makes
 * the subscription active. Safe to run again after an interruption: a redriven dead letter is no
 * longer redrivable. Returns how many were redriven.
 */
export async function resumeSubscription(
  store: Store,
  subscriptionId: string,
  nowMs: number,
): Promise<number> {
  let redriven = 0;
  for (;;) {
    const batch = await store.deliveries.redrivable(subscriptionId, 500);
    if (batch.length === 0) break;
    await store.deliveries.enqueue({
      subscriptionId,
      items: batch.map((d) => ({ eventId: d.eventId, replayOf: d.id })),
      origin: 'redrive',
      nowMs,
    });
    redriven += batch.length;
  }
  await store.deliveries.setSubscriptionState({
    subscriptionId,
    state: 'active',
    nowMs,
    resetFailures: true,
  });
  return redriven;
}
