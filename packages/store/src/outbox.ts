import { sql, type Kysely } from 'kysely';
import type { StoredEvent } from '@tendril/core';
import type { StoreDialect } from './dialect.js';
import { Batch, type QueryParts } from './prepared.js';
import type { StoreTables } from './tables.js';

/** Events into the outbox (`ON CONFLICT (id) DO NOTHING`), returning the ids actually inserted. */
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
  (db, u, q: QueryParts<{ connectionId: string; connectorId: string; createdAt: string }>) =>
    db
      .insertInto('outbox')
      .columns([
        'id',
        'connection_id',
        'sequence',
        'type',
        'resource_type',
        'resource_id',
        'source_id',
        'kind',
        'connector_id',
        'envelope_json',
        'refs_json',
        'created_at',
      ])
      .expression(
        db
          .selectFrom(u)
          .select([
            'u.id',
            q.param('connectionId').as('connection_id'),
            'u.seq',
            'u.type',
            'u.rt',
            'u.rid',
            'u.sid',
            'u.kind',
            q.param('connectorId').as('connector_id'),
            'u.env',
            'u.refs',
            q.param('createdAt').as('created_at'),
          ])
          .where(sql<boolean>`true`),
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id'),
);

/**
 * Inserts events into the outbox (`ON CONFLICT (id) DO NOTHING`: a redone page derives the same
 * ids) and returns the ids actually inserted. Used by page commits, custom events and writeback
 * result events, always inside the caller's transaction.
 */
export async function insertEvents(
  db: Kysely<StoreTables>,
  dialect: StoreDialect,
  connectionId: string,
  connectorId: string,
  events: readonly StoredEvent[],
  createdAt: string,
): Promise<Set<string>> {
  const { rows } = await INSERT_EVENTS.run(
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
      // Serialised here, inside the transaction: a value JSON cannot carry rolls the page back.
      env: JSON.stringify(e.envelope),
      refs: JSON.stringify(e.refs),
    })),
    { connectionId, connectorId, createdAt },
  );
  return new Set(rows.map((row) => row.id));
}
