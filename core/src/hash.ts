import { hash } from 'node:crypto';
import { canonicalJson, canonicalJsonWithout } from './canonical-json.js';

/**
 * SHA-256 of the text's UTF-8 bytes, as hex. The one-shot `crypto.hash` (Node ≥ 20.12), not a
 * `Hash` object: it runs for every row read, and the object's construction, update and digest cost
 * about 1.7 × the one-shot call for a resource-sized text (docs/performance.md, "The pipeline").
 */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** `meta.hash`: SHA-256 of the canonical resource without `meta` (docs/standard-model.md, "Conventions"). */
export function resourceHash(resource: Record<string, unknown>): string {
  return sha256Hex(canonicalJsonWithout(resource, 'meta'));
}

/** Every tombstone has the same content hash, so a repeated delete is a no-op. */
export const TOMBSTONE_HASH = sha256Hex(canonicalJson({ deleted: true }));
