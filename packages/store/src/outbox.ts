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

/** Events of another log, each at its own stream and position; returns the ids actually inserted. */
const INSERT_LOGGED = new Batch(
  {
    id: 'text',
    cid: 'text',
    seq: 'bigint',
    type: 'text',
    rt: 'text',
    rid: 'text',
    sid: 'text',
    kind: 'text',
    conn: 'text',
    env: 'json',
    refs: 'json',
  },
  (_db, rows, q: QueryParts<{ createdAt: string }>) =>
    rows
      .insert('outbox', {
        id: rows.col.id,
        connection_id: rows.col.cid,
        sequence: rows.col.seq,
        type: rows.col.type,
        resource_type: rows.col.rt,
        resource_id: rows.col.rid,
        source_id: rows.col.sid,
        kind: rows.col.kind,
        connector_id: rows.col.conn,
        envelope_json: rows.col.env,
        refs_json: rows.col.refs,
        created_at: q.param('createdAt'),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id'),
);

/**
 * Inserts events of another log into the outbox under `stream` (stored as the row's connection
 * id; the envelope keeps the event's own) at their log positions, skipping ids already there.
 * Returns the ids inserted now. Inside the caller's transaction.
 */
export async function insertLoggedEvents(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  stream: string,
  events: readonly { position: number; event: StoredEvent }[],
  createdAt: string,
): Promise<Set<string>> {
  const { rows } = await INSERT_LOGGED.run(
    db,
    dialect,
    events.map(({ position, event: e }) => ({
      id: e.envelope.id,
      cid: stream,
      seq: position,
      type: e.envelope.type,
      rt: e.envelope.resourceType,
      rid: e.envelope.resourceId,
      sid: e.sourceId,
      kind: e.kind,
      conn: e.connectorId,
      env: JSON.stringify(e.envelope),
      refs: JSON.stringify(e.refs),
    })),
    { createdAt },
  );
  return new Set(rows.map((row) => row.id));
}

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
