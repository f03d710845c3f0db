import type { MappedRow } from './mapping.js';

export interface ShadowEntry {
  readonly hash: string;
  readonly deleted: boolean;
}

export const CHANGE_KINDS = ['created', 'updated', 'deleted'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
export type Classification = ChangeKind | 'unchanged';

/** docs/sync-semantics.md, "Classification": what one read row means against the shadow store. */
export function classify(shadow: ShadowEntry | undefined, mapped: MappedRow): Classification {
  const liveInShadow = shadow !== undefined && !shadow.deleted;
  switch (mapped.kind) {
    case 'live':
      if (!liveInShadow) return 'created';
      return shadow.hash === mapped.hash ? 'unchanged' : 'updated';
    case 'deleted':
    case 'absent':
      return liveInShadow ? 'deleted' : 'unchanged';
    default:
      return mapped satisfies never;
  }
}

/** A delete candidate confirmed absent by a point lookup (or by a snapshot scan). */
export function classifyConfirmedAbsent(shadow: ShadowEntry | undefined): Classification {
  return shadow !== undefined && !shadow.deleted ? 'deleted' : 'unchanged';
}
