import { describe, expect, it } from 'vitest';
import { formatEvent, isOutputFormat, OUTPUT_FORMATS } from './index.js';
import { toFhirEvent } from './fhir.js';
import { toFlatEvent } from './flat.js';
import { toJsonEvent } from './json.js';
import { deletedEvent, everyResourceEvent } from './sample-events.test-support.js';

describe('json format', () => {
  it('passes the envelope through unchanged', () => {
    for (const event of [...everyResourceEvent(), deletedEvent('Patient', '1042')]) {
      const before = structuredClone(event.envelope);
      const out = toJsonEvent(event);
      expect(out).toBe(event.envelope);
      expect(out).toEqual(before);
      expect(JSON.stringify(out)).toBe(JSON.stringify(before));
    }
  });
});

describe('formatEvent', () => {
  it('lists the three formats', () => {
    expect(OUTPUT_FORMATS).toEqual(['json', 'fhir', 'flat']);
    expect(OUTPUT_FORMATS.every(isOutputFormat)).toBe(true);
    expect(isOutputFormat('hl7v2')).toBe(false);
  });

  it('dispatches to each format with its options', () => {
    const [patient] = everyResourceEvent();
    expect(formatEvent(patient!, 'json')).toBe(patient!.envelope);
    expect(formatEvent(patient!, 'fhir', { exportSsn: true })).toEqual(
      toFhirEvent(patient!, { exportSsn: true }),
    );
    expect(formatEvent(patient!, 'flat', { clientId: 'TEST01' })).toEqual(
      toFlatEvent(patient!, { clientId: 'TEST01' }),
    );
    expect(
      formatEvent(patient!, 'flat', { clientId: 'TEST01' }).data.split('\n')[1]!.startsWith('TEST01|1042|'),
    ).toBe(true);
  });
});
