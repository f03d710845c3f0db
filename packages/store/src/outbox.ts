import type { Kysely } from 'kysely';
import type { StoredEvent } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import { sealEnvelope } from './payload-key.js';
import type { PayloadCodec } from './payloads.js';
import { Batch, type QueryParts } from './prepared.js';
import type { StoreTables } from './tables.js';

const INSERT_EVENTS = new Batch(
  {
    id: 'text',
    seq: 'bigint',
    type: 'text',
    rt: 'text',
    rid: 'text',
    sid: 'text',
    kind: 'text',
    env: 'json',
    refs: 'json',
  },
  (_db, rows, q: QueryParts<{ connectionId: string; connectorId: string; createdAt: string }>) =>
    rows
      .insert('outbox', {
        id: rows.col.id,
        connection_id: q.param('connectionId'),
        sequence: rows.col.seq,
        type: rows.col.type,
        resource_type: rows.col.rt,
        resource_id: rows.col.rid,
        source_id: rows.col.sid,
        kind: rows.col.kind,
        connector_id: q.param('connectorId'),
        envelope_json: rows.col.env,
        refs_json: rows.col.refs,
        created_at: q.param('createdAt'),
      })
      .onConflict((oc) => oc.column('id').doNothing()),
);

/**
 * Inserts events into the outbox (`ON CONFLICT (id) DO NOTHING`: a redone page derives the same
 * ids). Used by page commits, custom events and writeback result events, always inside the
 * caller's transaction.
 */
export async function insertEvents(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  payloads: PayloadCodec,
  connectionId: string,
  connectorId: string,
  events: readonly StoredEvent[],
  createdAt: string,
): Promise<void> {
  await INSERT_EVENTS.run(
    db,
    dialect,
    events.map((e) => ({
      id: e.envelope.id,
      seq: e.envelope.sequence,
      type: e.envelope.type,
      rt: e.envelope.resourceType,
      rid: e.envelope.resourceId,
      sid: e.sourceId,
      kind: e.kind,
      // Serialised (and sealed, with a site key: docs/security.md, "PHI at rest") here, inside the
      // transaction: a value JSON cannot carry rolls the page back.
      env: sealEnvelope(payloads, e.envelope),
      refs: JSON.stringify(e.refs),
    })),
    { connectionId, connectorId, createdAt },
  );
}
