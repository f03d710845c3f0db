import { createHash } from 'node:crypto';
import { canonicalJson, canonicalJsonWithout } from './canonical-json.js';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** `meta.hash`: SHA-256 of the canonical resource without `meta` (docs/standard-model.md, "Conventions"). */
export function resourceHash(resource: Record<string, unknown>): string {
  return sha256Hex(canonicalJsonWithout(resource, 'meta'));
}

/** Every tombstone has the same content hash, so a repeated delete is a no-op. */
export const TOMBSTONE_HASH = sha256Hex(canonicalJson({ deleted: true }));
