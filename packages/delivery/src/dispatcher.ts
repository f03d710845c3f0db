import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatEvent, isTendrilError } from '@tendril/core';
import type {
  AttemptResolution,
  DeliveryAttemptInput,
  DeliveryRecord,
  LeasedDelivery,
  Store,
} from '@tendril/store';
import { classifyResponse, honorsRetryAfter, parseRetryAfter, type AttemptOutcome } from './failure-class.js';
import { createHttpSender, type SendResult, type WebhookSender } from './http-sender.js';
import { attemptEndMs, DEFAULT_JITTER, nextAttempt } from './schedule.js';
import { signWebhook } from './signing.js';
import type { DeliverySettings, ResolvedSubscription } from './subscriptions.js';
import { throttleFor, type Throttle } from './token-bucket.js';

/** The logger surface the dispatcher uses (pino's); operational events carry an `event` field. */
export interface DeliveryLogger {
  debug(object: Record<string, unknown>, message: string): void;
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/**
 * Operational events (docs/delivery.md, "Dead letters and replay"), logged with `event: <name>` so they can
 * be alerted on.
 */
export const DELIVERY_EVENTS = {
  dead: 'delivery.dead',
  disabled: 'subscription.disabled',
  paused: 'subscription.paused',
  unreachable: 'subscription.unreachable',
  recovered: 'subscription.recovered',
  noSecret: 'subscription.no-secret',
} as const;

function packageVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('../package.json') as { version: string }).version;
  } catch {
    return '0';
  }
}

/** `user-agent` of every webhook request (docs/delivery.md, "Signing"). */
export const TENDRIL_USER_AGENT = `tendril/${packageVersion()}`;

export interface DispatcherOptions {
  /** The agent's store, or any store whose delivery half holds the queue (the hub's). */
  store: Pick<Store, 'deliveries'>;
  /** Every configured subscription; disabled ones (`enabled: false`) are never sent to. */
  subscriptions: readonly ResolvedSubscription[];
  logger: DeliveryLogger;
  settings?: Partial<DeliverySettings>;
  /** Parallel requests across all subscriptions; defaults to settings.concurrency, then 8. */
  concurrency?: number;
  /** Injected for tests; defaults to an undici sender closed by `stop()`. */
  send?: WebhookSender;
  /** Epoch ms; tests pass a fake clock so no real waiting happens. */
  clock?: () => number;
  /** Uniform in [0, 1) for jitter. */
  random?: () => number;
  /** `client_id` of a connection for the `flat` format; defaults to the connection id. */
  clientIdOf?: (connectionId: string) => string;
  /** Identifies this worker's leases; defaults to host:pid:random. */
  owner?: string;
  /** How long `start()` sleeps when nothing is due (new events arrive from other processes). */
  idleMs?: number;
}

/** Counts of one `drainOnce` (or of everything since `start()`). */
export interface DrainReport {
  attempted: number;
  delivered: number;
  retrying: number;
  dead: number;
  /** Deliveries put back because the subscription's token bucket was empty (not attempts). */
  throttled: number;
  probes: number;
  redriven: number;
}

export interface Dispatcher {
  /** Runs until `stop()`: drains what is due, then sleeps until the next due time (at most `idleMs`). */
  start(): void;
  /**
   * Stops leasing, lets in-flight requests finish for up to `graceMs` (default 10 s), then aborts
   * the rest and releases their leases (no attempt recorded, due again at once). Closes the default sender.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Sends everything due now (and retries that become due during it), returning when nothing is due. */
  drainOnce(): Promise<DrainReport>;
  /**
   * Replaces the subscriptions at run time (the hub's, managed by API): the next lease uses the
   * new set; a request already in flight finishes with the subscription it started with, and a
   * delivery leased for a subscription that is gone is given back.
   */
  setSubscriptions(subscriptions: readonly ResolvedSubscription[]): void;
}

const emptyReport = (): DrainReport => ({
  attempted: 0,
  delivered: 0,
  retrying: 0,
  dead: 0,
  throttled: 0,
  probes: 0,
  redriven: 0,
});

/** A delivery with its event: leased (with the envelope's text, where the store keeps it) or a dead letter probed. */
type DeliveryToSend = DeliveryRecord & Pick<LeasedDelivery, 'event' | 'envelopeJson'>;

/** The state of a subscription with no row yet. */
const ACTIVE = 'active';

/**
 * The webhook dispatcher (docs/delivery.md): leases due deliveries from the store (one per resource key,
 * oldest first), renders each event in the subscription's format, signs every attempt (webhook-id =
 * event id), sends it, classifies the outcome, records the attempt and schedules the retry per the
 * SNS policy, all through the store so a killed process loses nothing (its leases expire).
 *
 * Subscription health: a 410 disables the subscription; a run of permanent failures pauses it; a
 * dead letter by retry exhaustion marks it unreachable, after which one probe (the oldest such dead
 * letter, same webhook-id) is sent per probe interval and, once the endpoint answers, every such
 * dead letter is redriven ahead of the key's newer events, so a long outage loses nothing.
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const store = options.store;
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const settings: DeliverySettings = {
    maxLifetimeSeconds: options.settings?.maxLifetimeSeconds ?? 3600,
    jitter: options.settings?.jitter ?? DEFAULT_JITTER,
    concurrency: options.settings?.concurrency ?? 8,
    leaseSeconds: options.settings?.leaseSeconds ?? 60,
    probeIntervalSeconds: options.settings?.probeIntervalSeconds ?? 60,
    pauseAfterPermanentFailures: options.settings?.pauseAfterPermanentFailures ?? 20,
  };
  const concurrency = Math.max(1, options.concurrency ?? settings.concurrency);
  const ownSender = options.send === undefined ? createHttpSender({ connections: concurrency }) : undefined;
  const send: WebhookSender = options.send ?? ownSender!;
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const clientIdOf = options.clientIdOf ?? ((connectionId: string) => connectionId);
  const log = options.logger;
  let subscriptions = new Map(options.subscriptions.filter((s) => s.enabled).map((s) => [s.id, s]));
  const throttles = new Map<string, Throttle>();
  const stopController = new AbortController();
  // Every request in flight listens for the stop (http-sender.ts): up to `concurrency` listeners.
  setMaxListeners(concurrency + 10, stopController.signal);
  const inflight = new Set<Promise<void>>();
  /** Subscriptions not active (as last read, or as this dispatcher just set them): nothing is sent to them. */
  const held = new Set<string>();
  /** Leased but not yet started (released on stop). */
  const queue: LeasedDelivery[] = [];
  let stopping = false;
  let loop: Promise<void> | undefined;
  let draining: Promise<DrainReport> | undefined;
  let stopped: Promise<void> | undefined;

  type CompleteInput = Parameters<Store['deliveries']['complete']>[0];
  type CompleteResult = Awaited<ReturnType<Store['deliveries']['complete']>>;
  let batch: { input: CompleteInput; resolve: (r: CompleteResult) => void; reject: (e: unknown) => void }[] =
    [];
  /**
   * What the drain loop would lease next: the subscriptions it found active (empty when no drain
   * runs), so a group commit can take the next deliveries in its own transaction.
   */
  let leaseTargets: readonly string[] = [];
  /**
   * Group commit: the results of requests that finish in the same turn of the event loop are
   * recorded in one store transaction, and when the local queue would run short once they are done,
   * the next deliveries are leased in that same transaction (one commit instead of two; on SQLite
   * the commit is the dearest part of a small transaction, docs/performance.md). Each caller still
   * gets its own result, only after the transaction committed: an attempt is recorded before its
   * delivery counts as done (docs/delivery.md, "Guarantees and receiver duties").
   */
  const completeBatched = (input: CompleteInput): Promise<CompleteResult> =>
    new Promise<CompleteResult>((resolve, reject) => {
      batch.push({ input, resolve, reject });
      if (batch.length > 1) return;
      setImmediate(() => {
        const items = batch;
        batch = [];
        const inputs = items.map((i) => i.input);
        // The slots these requests hold are free again once their results are recorded.
        const free = concurrency - Math.max(0, inflight.size - items.length);
        const targets = leaseTargets.filter((id) => !held.has(id));
        const lease =
          !stopping && targets.length > 0 && queue.length < free
            ? {
                owner,
                nowMs: clock(),
                leaseMs: settings.leaseSeconds * 1000,
                limit: 2 * concurrency - queue.length,
                subscriptionIds: targets,
              }
            : undefined;
        const recorded =
          lease === undefined
            ? store.deliveries.completeMany(inputs).then((results) => ({ results, leased: [] }))
            : store.deliveries.completeAndLease(inputs, lease);
        recorded
          .then(async ({ results, leased }) => {
            // Stopping meanwhile: the drain loop may have given its queue back already, so these go
            // back before the requests that brought them count as finished (stop() waits for those).
            if (stopping) {
              for (const delivery of leased)
                await store.deliveries
                  .release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs })
                  .catch(() => undefined);
            } else queue.push(...leased);
            return results;
          })
          .then(
            (results) => items.forEach((item, i) => item.resolve(results[i]!)),
            (error: unknown) => items.forEach((item) => item.reject(error)),
          );
      });
    });

  const throttleOf = (subscription: ResolvedSubscription, nowMs: number): Throttle => {
    let throttle = throttles.get(subscription.id);
    if (throttle === undefined) {
      throttle = throttleFor(subscription.policy, nowMs);
      throttles.set(subscription.id, throttle);
    }
    return throttle;
  };

  /**
   * Bodies rendered lately, by event, format and client id: an event routed to several subscriptions
   * of one format is rendered once (their deliveries are leased together, one after the other). A
   * body depends on nothing else, so a cached one is byte for byte what rendering again would give.
   * Signing stays per attempt: the timestamp and the secrets are the attempt's and the subscription's.
   *
   * The `json` format is the envelope as stored, and the outbox stored `JSON.stringify(envelope)`:
   * where the store hands that text back (`envelopeJson`, SQLite) it is the body as it is, without
   * parsing and serialising the envelope again (dispatcher-formats.test.ts proves the bytes equal).
   */
  const rendered = new Map<string, string>();
  const renderedLimit = 4 * concurrency;
  const render = (subscription: ResolvedSubscription, delivery: DeliveryToSend): string => {
    if (subscription.format === 'json' && delivery.envelopeJson !== undefined) return delivery.envelopeJson;
    const clientId = clientIdOf(delivery.connectionId);
    const key = `${delivery.eventId}\u0000${subscription.format}\u0000${clientId}`;
    let body = rendered.get(key);
    if (body === undefined) {
      body = JSON.stringify(formatEvent(delivery.event, subscription.format, { clientId }));
      if (rendered.size >= renderedLimit) rendered.delete(rendered.keys().next().value!);
      rendered.set(key, body);
    }
    return body;
  };

  /** Builds and sends one signed request; undefined when no secret can sign (the subscription is paused). */
  const attempt = async (
    subscription: ResolvedSubscription,
    delivery: DeliveryToSend,
  ): Promise<{ result: SendResult; startedAtMs: number; endedAtMs: number } | undefined> => {
    const body = render(subscription, delivery);
    const startedAtMs = clock();
    let signature;
    try {
      signature = signWebhook({
        secrets: subscription.secrets,
        id: delivery.eventId,
        timestampSeconds: Math.floor(startedAtMs / 1000),
        body,
        now: startedAtMs,
      });
    } catch (error) {
      if (!isTendrilError(error, 'TENDRIL_E_WEBHOOK_SECRET')) throw error;
      held.add(subscription.id);
      await store.deliveries.setSubscriptionState({
        subscriptionId: subscription.id,
        state: 'paused',
        reason: 'no unexpired signing secret; add a new secret, then tendril deliveries resume',
        nowMs: startedAtMs,
      });
      log.error({ event: DELIVERY_EVENTS.noSecret, subscriptionId: subscription.id }, error.message);
      return undefined;
    }
    const headers: Record<string, string> = {
      ...signature,
      'content-type': subscription.policy.requestPolicy.headerContentType,
      'user-agent': TENDRIL_USER_AGENT,
      ...(subscription.apiKey === undefined
        ? {}
        : { [subscription.apiKey.header.toLowerCase()]: subscription.apiKey.value }),
    };
    const result = await send({
      url: subscription.url,
      headers,
      body,
      timeoutMs: subscription.timeoutSeconds * 1000,
      signal: stopController.signal,
    });
    return { result, startedAtMs, endedAtMs: Math.max(clock(), startedAtMs) };
  };

  const outcomeOf = (result: Exclude<SendResult, { kind: 'aborted' }>): AttemptOutcome =>
    result.kind === 'response' ? { status: result.status } : { error: result.error };

  const attemptRecord = (
    result: Exclude<SendResult, { kind: 'aborted' }>,
    startedAtMs: number,
    endedAtMs: number,
  ): DeliveryAttemptInput => ({
    startedAtMs,
    endedAtMs,
    ...(result.kind === 'response'
      ? { status: result.status, responseBytes: result.responseBytes }
      : { error: `${result.error}: ${result.code}` }),
    outcome: classifyResponse(outcomeOf(result)),
  });

  const markUnreachable = async (subscription: ResolvedSubscription, nowMs: number): Promise<void> => {
    const current = (await store.deliveries.subscriptionStates()).find(
      (s) => s.subscriptionId === subscription.id,
    );
    held.add(subscription.id);
    if (current !== undefined && current.state !== ACTIVE) return;
    await store.deliveries.setSubscriptionState({
      subscriptionId: subscription.id,
      state: 'unreachable',
      reason: 'retries exhausted: the endpoint did not answer; probing until it does',
      nowMs,
      nextProbeAtMs: nowMs + settings.probeIntervalSeconds * 1000,
    });
    log.warn(
      { event: DELIVERY_EVENTS.unreachable, subscriptionId: subscription.id },
      'subscription endpoint unreachable; probing',
    );
  };

  const process1 = async (delivery: LeasedDelivery, report: DrainReport): Promise<void> => {
    const subscription = subscriptions.get(delivery.subscriptionId);
    if (subscription === undefined) {
      // Removed or disabled since the lease (setSubscriptions): give it back untouched.
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs });
      return;
    }
    if (held.has(subscription.id)) {
      // Paused, disabled or unreachable since this delivery was leased: give it back untouched.
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs });
      return;
    }
    const nowMs = clock();
    // A store shared by several workers (PostgreSQL) keeps the bucket itself (docs/delivery.md,
    // "Throttling").
    const rate = subscription.policy.throttlePolicy.maxReceivesPerSecond;
    const taken =
      rate !== undefined && store.deliveries.takeThrottleToken !== undefined
        ? await store.deliveries.takeThrottleToken({
            subscriptionId: subscription.id,
            ratePerSecond: rate,
            nowMs,
          })
        : throttleOf(subscription, nowMs).take(nowMs);
    if (!taken.ok) {
      // Waiting for a token is not a failure and uses no retry (docs/delivery.md, "Throttling").
      report.throttled += 1;
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: nowMs + taken.waitMs });
      return;
    }
    const sent = await attempt(subscription, delivery);
    if (sent === undefined) {
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs });
      return;
    }
    const { result, startedAtMs, endedAtMs } = sent;
    if (result.kind === 'aborted') {
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs });
      return;
    }
    report.attempted += 1;
    const record = attemptRecord(result, startedAtMs, endedAtMs);
    let resolution: AttemptResolution;
    switch (record.outcome) {
      case 'delivered':
        resolution = { kind: 'delivered' };
        break;
      case 'permanent':
        // A 410 that disables the subscription leaves its dead letters redrivable: every request
        // in flight when it came is re-sent by `tendril deliveries resume` once the URL is fixed
        // (docs/delivery.md, "How it works").
        resolution =
          record.status === 410
            ? { kind: 'dead', reason: 'gone', redrive: subscription.disableOn410 }
            : { kind: 'dead', reason: 'permanent', redrive: false };
        break;
      case 'retryable': {
        const end = attemptEndMs({
          startedAtMs,
          endedAtMs,
          timedOut: result.kind === 'error' && result.error === 'timeout',
          timeoutSeconds: subscription.timeoutSeconds,
        });
        const retryAfter =
          result.kind === 'response' && honorsRetryAfter(result.status)
            ? parseRetryAfter(result.retryAfter, end)
            : undefined;
        const next = nextAttempt({
          policy: subscription.policy,
          attemptsMade: delivery.attempts + 1,
          attemptEndedAtMs: end,
          eligibleAtMs: delivery.eligibleAtMs ?? startedAtMs,
          ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
          random,
          jitter: settings.jitter,
          maxLifetimeSeconds: settings.maxLifetimeSeconds,
        });
        resolution =
          next.action === 'retry'
            ? { kind: 'retry', dueAtMs: next.dueAtMs }
            : { kind: 'dead', reason: next.reason, redrive: true };
        break;
      }
      default:
        return record.outcome satisfies never;
    }
    const done = await completeBatched({ deliveryId: delivery.id, owner, attempt: record, resolution });
    if (!done.applied) {
      log.warn(
        { subscriptionId: subscription.id, deliveryId: delivery.id },
        'delivery lease was lost to another worker; result recorded only',
      );
      return;
    }
    switch (resolution.kind) {
      case 'delivered':
        report.delivered += 1;
        return;
      case 'retry':
        report.retrying += 1;
        return;
      case 'dead':
        report.dead += 1;
        log.warn(
          {
            event: DELIVERY_EVENTS.dead,
            subscriptionId: subscription.id,
            deliveryId: delivery.id,
            eventId: delivery.eventId,
            reason: resolution.reason,
            ...(record.status === undefined ? { error: record.error } : { status: record.status }),
          },
          'delivery dead-lettered',
        );
        if (resolution.reason === 'gone' && subscription.disableOn410) {
          held.add(subscription.id);
          await store.deliveries.setSubscriptionState({
            subscriptionId: subscription.id,
            state: 'disabled',
            reason: 'the endpoint answered 410 Gone; fix the URL, then tendril deliveries resume',
            nowMs: endedAtMs,
          });
          log.error(
            { event: DELIVERY_EVENTS.disabled, subscriptionId: subscription.id },
            'subscription disabled after 410 Gone',
          );
        } else if (
          (resolution.reason === 'permanent' || resolution.reason === 'gone') &&
          settings.pauseAfterPermanentFailures > 0 &&
          done.consecutivePermanentFailures >= settings.pauseAfterPermanentFailures
        ) {
          held.add(subscription.id);
          await store.deliveries.setSubscriptionState({
            subscriptionId: subscription.id,
            state: 'paused',
            reason: `${done.consecutivePermanentFailures} permanent failures in a row; fix the receiver, then tendril deliveries resume`,
            nowMs: endedAtMs,
          });
          log.error(
            {
              event: DELIVERY_EVENTS.paused,
              subscriptionId: subscription.id,
              failures: done.consecutivePermanentFailures,
            },
            'subscription paused after a run of permanent failures',
          );
        } else if (resolution.redrive) {
          await markUnreachable(subscription, endedAtMs);
        }
        return;
      default:
        return resolution satisfies never;
    }
  };

  /** One probe of an unreachable subscription; on an answer, redrive its dead letters and reactivate it. */
  const probe = async (subscription: ResolvedSubscription, report: DrainReport): Promise<boolean> => {
    const dead = await store.deliveries.oldestRedrivable(subscription.id);
    if (dead !== undefined) {
      const sent = await attempt(subscription, dead);
      if (sent === undefined || sent.result.kind === 'aborted') return false;
      report.probes += 1;
      const record = { ...attemptRecord(sent.result, sent.startedAtMs, sent.endedAtMs), probe: true };
      if (record.outcome === 'retryable') {
        await store.deliveries.recordProbe({
          deliveryId: dead.id,
          attempt: record,
          delivered: false,
          stillRedrivable: true,
        });
        await store.deliveries.setSubscriptionState({
          subscriptionId: subscription.id,
          state: 'unreachable',
          reason: 'retries exhausted: the endpoint did not answer; probing until it does',
          nowMs: sent.endedAtMs,
          nextProbeAtMs: sent.endedAtMs + settings.probeIntervalSeconds * 1000,
        });
        return false;
      }
      // Any answer that is not "try again" means the endpoint is back.
      await store.deliveries.recordProbe({
        deliveryId: dead.id,
        attempt: record,
        delivered: record.outcome === 'delivered',
        stillRedrivable: false,
      });
      if (record.outcome === 'delivered') report.delivered += 1;
    }
    let redriven = 0;
    for (;;) {
      const batch = await store.deliveries.redrivable(subscription.id, 500);
      if (batch.length === 0) break;
      await store.deliveries.enqueue({
        subscriptionId: subscription.id,
        items: batch.map((row) => ({ eventId: row.eventId, replayOf: row.id })),
        origin: 'redrive',
        nowMs: clock(),
      });
      redriven += batch.length;
    }
    report.redriven += redriven;
    await store.deliveries.setSubscriptionState({
      subscriptionId: subscription.id,
      state: ACTIVE,
      nowMs: clock(),
      resetFailures: true,
    });
    log.info(
      { event: DELIVERY_EVENTS.recovered, subscriptionId: subscription.id, redriven },
      'subscription endpoint answers again',
    );
    return true;
  };

  const drain = async (): Promise<DrainReport> => {
    const report = emptyReport();
    for (;;) {
      if (stopping) break;
      const nowMs = clock();
      const states = new Map((await store.deliveries.subscriptionStates()).map((s) => [s.subscriptionId, s]));
      const active: string[] = [];
      held.clear();
      for (const subscription of subscriptions.values()) {
        const state = states.get(subscription.id);
        if (state !== undefined && state.state !== ACTIVE) held.add(subscription.id);
        if (state === undefined || state.state === ACTIVE) active.push(subscription.id);
        else if (
          state.state === 'unreachable' &&
          (state.nextProbeAtMs ?? 0) <= nowMs &&
          inflight.size === 0
        ) {
          if (await probe(subscription, report)) {
            active.push(subscription.id);
            held.delete(subscription.id);
          }
        }
      }
      leaseTargets = active;
      // Lease in batches of up to 2 × concurrency (one transaction each) and feed the free slots from
      // that local queue: one lease per request would make the store the bottleneck. Under load the
      // group commit has usually leased already, in the transaction that recorded the last results.
      if (queue.length < concurrency - inflight.size && active.length > 0 && !stopping) {
        queue.push(
          ...(await store.deliveries.lease({
            owner,
            nowMs,
            leaseMs: settings.leaseSeconds * 1000,
            limit: 2 * concurrency - queue.length,
            subscriptionIds: active,
          })),
        );
      }
      while (inflight.size < concurrency && queue.length > 0) {
        const delivery = queue.shift()!;
        const task: Promise<void> = process1(delivery, report)
          .catch((error: unknown) => {
            // The lease expires and another pass retries; a store failure here must not stop the loop.
            log.error(
              {
                subscriptionId: delivery.subscriptionId,
                deliveryId: delivery.id,
                code: isTendrilError(error) ? error.code : 'unknown',
              },
              'delivery attempt could not be recorded',
            );
          })
          .finally(() => inflight.delete(task));
        inflight.add(task);
      }
      // Nothing leased and nothing running: everything due now has been handled.
      if (inflight.size === 0 && queue.length === 0) break;
      if (inflight.size > 0) await Promise.race(inflight);
    }
    leaseTargets = [];
    // Stopped with leased work not started: give it back at once rather than letting leases expire.
    for (const delivery of queue.splice(0)) {
      await store.deliveries.release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs });
    }
    return report;
  };

  const drainOnce = async (): Promise<DrainReport> => {
    // One drain at a time per dispatcher: concurrent callers share it.
    draining ??= drain().finally(() => {
      draining = undefined;
    });
    return draining;
  };

  const run = async (): Promise<void> => {
    const idleMs = options.idleMs ?? 1000;
    while (!stopping) {
      try {
        await drainOnce();
      } catch (error) {
        log.error({ code: isTendrilError(error) ? error.code : 'unknown' }, 'delivery pass failed; retrying');
      }
      if (stopping) break;
      let waitMs = idleMs;
      try {
        const next = await store.deliveries.nextDueAtMs([...subscriptions.keys()]);
        if (next !== undefined) waitMs = Math.min(idleMs, Math.max(0, next - clock()));
      } catch {
        // keep the idle wait
      }
      await sleep(Math.max(10, waitMs), undefined, { signal: stopController.signal }).catch(() => undefined);
    }
  };

  return {
    start() {
      if (loop !== undefined) return;
      loop = run();
    },
    async stop(stopOptions = {}) {
      stopped ??= stopNow(stopOptions.graceMs ?? 10_000);
      return stopped;
    },
    drainOnce,
    setSubscriptions(next) {
      subscriptions = new Map(next.filter((s) => s.enabled).map((s) => [s.id, s]));
      // A changed policy starts a fresh local bucket.
      throttles.clear();
    },
  };

  async function stopNow(graceMs: number): Promise<void> {
    stopping = true;
    for (const delivery of queue.splice(0)) {
      await store.deliveries
        .release({ deliveryId: delivery.id, owner, dueAtMs: delivery.dueAtMs })
        .catch(() => undefined);
    }
    const settled = Promise.allSettled([...inflight]);
    const timer = sleep(graceMs, 'timeout' as const, { ref: false });
    const outcome = await Promise.race([settled.then(() => 'done' as const), timer]);
    // Aborted requests resolve as `aborted` and release their leases.
    stopController.abort();
    if (outcome === 'timeout') await Promise.allSettled([...inflight]);
    await loop;
    await draining?.catch(() => undefined);
    await ownSender?.close();
  }
}
