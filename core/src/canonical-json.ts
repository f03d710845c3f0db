/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values Tendril hashes: objects, arrays, strings,
 * finite numbers, booleans and null. ECMAScript's own number and string serialisation is what the
 * RFC prescribes, so only key order needs work here. Runs once per row read, so it avoids
 * intermediate arrays.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, undefined);
}

/**
 * The canonical JSON of an object without one of its top-level keys, as if the key were absent:
 * the content hash leaves out `meta` (hash.ts) without copying the resource first.
 */
export function canonicalJsonWithout(record: Readonly<Record<string, unknown>>, skip: string): string {
  return canonical(record, skip);
}

/**
 * Object keys as JSON strings, each quoted once: the model's field names repeat on every row.
 * Bounded, so odd keys (a vendor's extension names) cannot grow it without end.
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_LIMIT = 4_096;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < QUOTED_KEYS_LIMIT) quotedKeys.set(key, quoted);
  }
  return quoted;
}

function canonical(value: unknown, skip: string | undefined): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite numbers have no JSON form');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const item: unknown = value[i];
          out += item === undefined ? 'null' : canonical(item, undefined);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is the order RFC 8785 prescribes.
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        if (key === skip) continue;
        const item = record[key];
        if (item === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += `${quotedKey(key)}:${canonical(item, undefined)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
  }
}
