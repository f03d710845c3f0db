import { describe, expect, it } from 'vitest';
import { resourceId } from './ids.js';
import { mappingContext } from './mapping.js';

describe("a mapping context's reference ids", () => {
  it('are the resource ids of their type and key, also when they repeat and past the remembered limit', () => {
    const ctx = mappingContext({ connectionId: 'c1', connectorId: 'open-dental', timezone: 'UTC' });
    for (let round = 0; round < 2; round += 1) {
      for (let i = 0; i < 12_000; i += 1) {
        const key = String(i % 11_000);
        expect(ctx.refId('Practitioner', key)).toBe(resourceId('c1', 'Practitioner', key));
        expect(ctx.refId('Location', key)).toBe(resourceId('c1', 'Location', key));
      }
    }
    const other = mappingContext({ connectionId: 'c2', connectorId: 'open-dental', timezone: 'UTC' });
    expect(other.refId('Practitioner', '1')).toBe(resourceId('c2', 'Practitioner', '1'));
  });
});
