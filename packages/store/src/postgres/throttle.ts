import type { Kysely } from 'kysely';
import type { ThrottleTake } from '../delivery-types.js';
import type { StoreTables } from '../tables.js';
import { badInput, toMs } from '../values.js';

/**
 * The shared token bucket of a throttled subscription (docs/delivery.md, "Throttling"): one row per subscription
 * holding its next free slot, updated under the row lock inside the caller's transaction, so that
 * every worker on every host draws from one bucket. The arithmetic is packages/delivery's
 * TokenBucket (GCRA, times scaled by the rate); a new row starts full, and a changed rate keeps the
 * slot's time and rescales it.
 */
export async function takeThrottleToken(
  db: Kysely<StoreTables>,
  input: { subscriptionId: string; ratePerSecond: number; nowMs: number },
): Promise<ThrottleTake> {
  const rate = input.ratePerSecond;
  if (!(Number.isFinite(rate) && rate > 0)) {
    throw badInput('ratePerSecond must be a positive number.', { field: 'ratePerSecond' });
  }
  const now = toMs(input.nowMs, 'nowMs');
  const capacity = Math.max(1, rate);
  // Creates the row full at first use, and locks it until the transaction ends.
  const stored = await db
    .insertInto('delivery_throttle')
    .values({ subscription_id: input.subscriptionId, rate_per_second: rate, scaled_tat: now * rate })
    .onConflict((oc) =>
      oc
        .column('subscription_id')
        .doUpdateSet((eb) => ({ rate_per_second: eb.ref('delivery_throttle.rate_per_second') })),
    )
    .returning(['rate_per_second', 'scaled_tat'])
    .executeTakeFirstOrThrow();
  const previous =
    stored.rate_per_second === rate ? stored.scaled_tat : (stored.scaled_tat / stored.rate_per_second) * rate;
  const scaledNow = now * rate;
  const tat = Math.max(previous, scaledNow);
  const excess = tat - scaledNow - (capacity - 1) * 1000;
  const save = (scaledTat: number) =>
    db
      .updateTable('delivery_throttle')
      .set({ rate_per_second: rate, scaled_tat: scaledTat })
      .where('subscription_id', '=', input.subscriptionId)
      .execute();
  if (excess > 0) {
    if (stored.rate_per_second !== rate) await save(previous);
    return { ok: false, waitMs: Math.ceil(excess / rate) };
  }
  await save(tat + 1000);
  return { ok: true };
}
