import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonWithout } from './canonical-json.js';
import { resourceHash, TOMBSTONE_HASH } from './hash.js';

/** Keys out of order, non-ASCII keys (UTF-16 order), escapes, -0, large numbers, undefined members. */
const resource = {
  resourceType: 'Patient',
  id: 'x',
  sourceId: '1',
  name: { given: ['Ann', 'Bé'], family: 'Lee' },
  '\u{1F600}': 2,
  '\u20ac': 1,
  b: [1.5, -0, 1e21, null, true, false, 'a"\\\n\u2028'],
  a: { z: undefined, y: 0 },
  meta: { hash: 'left out' },
};

describe('canonical JSON and the content hash', () => {
  it('writes RFC 8785 text: keys in UTF-16 order, ECMAScript numbers and strings, undefined members left out', () => {
    const { meta: _meta, ...content } = resource;
    expect(canonicalJson(content)).toBe(
      '{"a":{"y":0},"b":[1.5,0,1e+21,null,true,false,"a\\"\\\\\\n\u2028"],"id":"x","name":{"family":"Lee","given":["Ann","Bé"]},"resourceType":"Patient","sourceId":"1","\u20ac":1,"\u{1F600}":2}',
    );
  });

  it('leaves out only the top-level key it is told to, as if it were absent', () => {
    const { meta: _meta, ...content } = resource;
    expect(canonicalJsonWithout(resource, 'meta')).toBe(canonicalJson(content));
    expect(canonicalJsonWithout({ a: { meta: 1 }, meta: 2 }, 'meta')).toBe('{"a":{"meta":1}}');
  });

  // Hashes stored in shadows and sent in events must never change with the implementation.
  it('keeps the content hashes Tendril has always computed', () => {
    expect(resourceHash(resource)).toBe('ef54c01379ce1a7af939f149badf693914c27cf3393f0d791ffb267c012628ad');
    expect(TOMBSTONE_HASH).toBe('1b70b1c98c544d975c39049311ab1d24ed1d87aedc2874bdc946d39bd421b4b8');
  });
});
