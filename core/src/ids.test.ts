import { describe, expect, it } from 'vitest';
import { eventId, resourceId, sourceIdComponents, sourceIdOf, uuidV5, uuidV7 } from './ids.js';
import { resourceHash, TOMBSTONE_HASH, sha256Hex } from './hash.js';
import { canonicalJson } from './canonical-json.js';

// Vectors from docs/standard-model.md, "Event envelope".
const CANONICAL_PATIENT =
  '{"active":true,"birthDate":"1987-04-12","gender":"female","id":"059599f9-cce0-5868-8cc0-761b475f9b61","name":{"family":"Rivera","given":["Ana","Maria"]},"primaryPractitionerId":"ab2326de-d3bd-5577-b6ed-398e75417b80","resourceType":"Patient","sourceId":"1042","telecom":[{"rank":1,"system":"phone","use":"mobile","value":"+15555550142"}]}';

describe('ids', () => {
  it('derives resource ids from the spec vectors', () => {
    expect(resourceId('smile-dental-main', 'Patient', '1042')).toBe('059599f9-cce0-5868-8cc0-761b475f9b61');
    expect(resourceId('smile-dental-main', 'Practitioner', '7')).toBe('ab2326de-d3bd-5577-b6ed-398e75417b80');
  });

  it('hashes the canonical patient and derives its event id', () => {
    const patient = JSON.parse(CANONICAL_PATIENT) as Record<string, unknown>;
    const hash = resourceHash({ ...patient, meta: { syncedAt: 'ignored' } });
    expect(hash).toBe('134e962202e8e9fb41af25c943955e122ac2f7ad9384f3c1f39d1715be06e347');
    expect(eventId('smile-dental-main', 'Patient', '1042', hash, 1714000000000123)).toBe(
      '24261f5d-dc76-5b7e-8f58-847c68f0ba7f',
    );
  });

  it('produces canonical JSON with sorted keys and no whitespace', () => {
    const shuffled = JSON.parse(CANONICAL_PATIENT) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(shuffled).reverse());
    expect(canonicalJson(reordered)).toBe(CANONICAL_PATIENT);
    expect(canonicalJson({ b: 1.5, a: [1e21, 'x'] })).toBe('{"a":[1e+21,"x"],"b":1.5}');
  });

  it('hashes tombstones to the hash of {"deleted":true}', () => {
    expect(TOMBSTONE_HASH).toBe(sha256Hex('{"deleted":true}'));
  });

  it('escapes composite source ids reversibly', () => {
    expect(sourceIdOf(['12345', 1])).toBe('12345:1');
    const tricky = ['a:b', '50%', 'c'];
    expect(sourceIdOf(tricky)).toBe('a%3Ab:50%25:c');
    expect(sourceIdComponents(sourceIdOf(tricky))).toEqual(tricky);
  });

  it('makes RFC 9562 v5 and v7 uuids', () => {
    // RFC 9562 appendix example: DNS namespace, "www.example.com".
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    const v7 = uuidV7(0x017f22e279b0);
    expect(v7).toMatch(/^017f22e2-79b0-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
