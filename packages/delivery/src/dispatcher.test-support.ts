// Test support for the dispatcher tests (not exported from the package): a fake clock, a store with
// committed events, subscriptions resolved through the real config schema, and verification of each
// received request with the official Standard Webhooks library at the request's own time.
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';
import {
  DeliveryConfig,
  resourceHash,
  resourceId,
  SubscriptionConfig,
  type ChangeKind,
  type ResourceType,
  type StoredEvent,
} from '@tendril/core';
import { openSqliteStore, type PendingChange, type Store } from '@tendril/store';
import type { DeliveryLogger } from './dispatcher.js';
import type { ReceivedRequest } from './loopback-receiver.js';
import {
  deliveryRoutesFromConfig,
  resolveSubscriptions,
  type ResolvedSubscription,
} from './subscriptions.js';

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
export const T0 = Date.parse('2031-03-01T12:00:00.000Z');

export interface FakeClock {
  now(): number;
  set(ms: number): void;
}

export function fakeClock(start = T0): FakeClock {
  let t = start;
  return {
    now: () => t,
    set(ms) {
      if (ms < t) throw new Error('the fake clock only moves forward');
      t = ms;
    },
  };
}

export interface LoggedEvent {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export function memoryLogger(): DeliveryLogger & { entries: LoggedEvent[] } {
  const entries: LoggedEvent[] = [];
  const at = (level: string) => (object: Record<string, unknown>, msg: string) =>
    void entries.push({ level, msg, ...object });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Subscriptions through the real config schema and resolver (defaults applied as in a YAML file). */
export function subscriptionsFor(
  raw: Record<string, unknown>[],
  delivery: Record<string, unknown> = {},
): {
  resolved: ResolvedSubscription[];
  config: { subscriptions: SubscriptionConfig[]; delivery: DeliveryConfig };
} {
  const config = {
    subscriptions: raw.map((s) => SubscriptionConfig.parse({ secrets: [SECRET], allowInsecure: true, ...s })),
    delivery: DeliveryConfig.parse(delivery),
  };
  return { resolved: resolveSubscriptions(config), config };
}

export async function storeFor(
  config: { subscriptions: SubscriptionConfig[] },
  clock: FakeClock,
): Promise<Store> {
  const store = openSqliteStore(':memory:', {
    deliveryRoutes: deliveryRoutesFromConfig(config),
    now: () => new Date(clock.now()),
  });
  await store.migrate();
  return store;
}

/** A live change of a small Patient (the json format carries it as is). */
export function patientChange(
  sourceId: string,
  version: number,
  kind: ChangeKind = version === 1 ? 'created' : 'updated',
): PendingChange {
  const resourceType: ResourceType = 'Patient';
  const id = resourceId('c1', resourceType, sourceId);
  const resource = { resourceType, id, sourceId, name: [{ family: `V${version}` }] };
  const hash = resourceHash(resource);
  return {
    resourceType,
    sourceId,
    resourceId: id,
    kind,
    hash,
    data: { ...resource, meta: { sourceUpdatedAt: '2025-01-20T14:03:11.000Z', hash } },
    refs: {},
  };
}

/** Commits changes as one page of connection `c1` (or the events' own connection). */
export async function commit(
  store: Store,
  changes: PendingChange[],
  connectionId = 'c1',
): Promise<StoredEvent[]> {
  return store.commitPage({
    connectionId,
    connectorId: 'open-dental',
    stream: 'test',
    changes,
    seen: [],
    state: { mode: 'timestamp', watermark: '2025-01-20 14:03:11' },
    seenAt: '2025-01-20T14:05:00.000Z',
  });
}

/** Commits stored sample events (from core's format samples) as changes, keeping their data. */
export async function commitEvents(store: Store, events: readonly StoredEvent[]): Promise<StoredEvent[]> {
  const committed: StoredEvent[] = [];
  for (const event of events) {
    const [stored] = await store.commitPage({
      connectionId: event.envelope.connectionId,
      connectorId: event.connectorId,
      stream: 'test',
      changes: [
        {
          resourceType: event.envelope.resourceType,
          sourceId: event.sourceId,
          resourceId: event.envelope.resourceId,
          kind: event.kind,
          hash:
            (event.envelope.data['meta'] as { hash?: string } | undefined)?.hash ??
            resourceHash(event.envelope.data),
          data: event.envelope.data,
          refs: event.refs,
        },
      ],
      seen: [],
      state: { mode: 'timestamp', watermark: '2025-01-20 14:03:11' },
      seenAt: '2025-01-20T14:05:00.000Z',
    });
    committed.push(stored!);
  }
  return committed;
}

/**
 * Verifies one received request with the official `standardwebhooks` library, at the request's own
 * timestamp (the library checks it against Date.now(); only Date is faked, briefly and synchronously).
 */
export function verifiedByLibrary(request: ReceivedRequest, secret = SECRET): boolean {
  const headers = {
    'webhook-id': String(request.headers['webhook-id'] ?? ''),
    'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
    'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
  };
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(Number(headers['webhook-timestamp']) * 1000);
    new Webhook(secret).verify(request.body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  } finally {
    vi.useRealTimers();
  }
}

/**
 * Drives a dispatcher on the fake clock: drain, then jump to the next moment anything is due (a
 * retry, a throttled delivery, or an unreachable subscription's probe), until nothing is left or
 * `maxSteps` is reached.
 */
export async function runUntilIdle(
  store: Store,
  dispatcher: { drainOnce(): Promise<unknown> },
  clock: FakeClock,
  subscriptionIds: string[],
  maxSteps = 10_000,
): Promise<number> {
  for (let step = 0; step < maxSteps; step += 1) {
    await dispatcher.drainOnce();
    const states = await store.deliveries.subscriptionStates();
    const stateOf = (id: string) => states.find((s) => s.subscriptionId === id)?.state ?? 'active';
    const leasable = subscriptionIds.filter((id) => stateOf(id) === 'active');
    const due = await store.deliveries.nextDueAtMs(leasable);
    const probes = states
      .filter((s) => s.state === 'unreachable' && s.nextProbeAtMs !== undefined)
      .map((s) => s.nextProbeAtMs!);
    const candidates = [...probes, ...(due === undefined ? [] : [due])];
    if (candidates.length === 0) return step;
    clock.set(Math.max(clock.now(), Math.min(...candidates)));
  }
  throw new Error('runUntilIdle: still busy after maxSteps');
}
