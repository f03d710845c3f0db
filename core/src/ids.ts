import { createHash, randomBytes } from 'node:crypto';

/** Namespace of resource ids (docs/standard-model.md, "Conventions"). */
export const RESOURCE_ID_NAMESPACE = '58e95252-24f5-4e13-9f51-b85cb66b0da2';
/** Namespace of event ids (docs/standard-model.md, "Event envelope"). */
export const EVENT_ID_NAMESPACE = 'a3905522-880e-462d-91f7-8bf18e6eeaa6';

const namespaceCache = new Map<string, Buffer>();

/** Namespace bytes, parsed once per namespace: ids are derived for every row and reference read. */
function uuidBytes(uuid: string): Buffer {
  let bytes = namespaceCache.get(uuid);
  if (!bytes) {
    const hex = uuid.replace(/-/g, '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError('not a UUID');
    bytes = Buffer.from(hex, 'hex');
    if (namespaceCache.size < 64) namespaceCache.set(uuid, bytes);
  }
  return bytes;
}

function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** RFC 9562 UUIDv5 (SHA-1, name-based). */
export function uuidV5(name: string, namespace: string): string {
  const digest = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return formatUuid(bytes);
}

/** RFC 9562 UUIDv7: time-ordered, for records Tendril itself creates (writebacks, runs). */
export function uuidV7(nowMs: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return formatUuid(bytes);
}

/** The framework id of a vendor record: stable for a connection, resource type and source key. */
export function resourceId(connectionId: string, resourceType: string, sourceId: string): string {
  return uuidV5(JSON.stringify([connectionId, resourceType, sourceId]), RESOURCE_ID_NAMESPACE);
}

/** Event ids depend only on committed state, so a replay or a redone page yields the same id. */
export function eventId(
  connectionId: string,
  resourceType: string,
  sourceId: string,
  hash: string,
  sequence: bigint | number | string,
): string {
  return uuidV5(
    JSON.stringify([connectionId, resourceType, sourceId, hash, String(sequence)]),
    EVENT_ID_NAMESPACE,
  );
}

/**
 * Joins a composite vendor key into one `sourceId`. Components are escaped so that `:` inside a
 * component can never be confused with the separator.
 */
export function sourceIdOf(components: readonly (string | number | bigint)[]): string {
  return components.map((c) => String(c).replace(/%/g, '%25').replace(/:/g, '%3A')).join(':');
}

/** Inverse of {@link sourceIdOf}. */
export function sourceIdComponents(sourceId: string): string[] {
  return sourceId.split(':').map((c) => c.replace(/%3A/gi, ':').replace(/%25/g, '%'));
}
