import { uuidV7 } from '@tendril/core';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { HubDatabase } from '../db/schema.js';

/** An outbox event as the agent relays it: the envelope plus what the output formats need. */
export interface RelayedEvent {
  readonly envelope: {
    readonly id: string;
    readonly type: string;
    readonly occurredAt: string;
    readonly connectionId: string;
    readonly resourceType: string;
    readonly resourceId: string;
    readonly sequence: number;
    readonly data: Record<string, unknown>;
  };
  readonly kind: string;
  readonly sourceId: string;
  readonly connectorId: string;
  readonly refs: Record<string, unknown>;
}

/** One event in the hub's log, with its position in the site's log. */
export interface LoggedEvent extends RelayedEvent {
  readonly siteId: string;
  readonly siteSeq: number;
  readonly receivedAt: string;
}

export interface IngestResult {
  /** Events stored now (new event ids), in the order given. */
  readonly stored: LoggedEvent[];
  /** Events already in the log (same site and event id): acknowledged, not stored again. */
  readonly duplicates: number;
  /** The highest agent sequence of the connection the log now holds. */
  readonly relaySequence: number;
}

const WRITEBACK_RESULT = /\.writeback\.(written|failed|timed_out)$/;
const DAY_MS = 86_400_000;
const PARTITION = /^hub_events_p(\d{4})(\d{2})(\d{2})$/;

const day = (ms: number) => new Date(Math.floor(ms / DAY_MS) * DAY_MS);
const partitionName = (start: Date) => `hub_events_p${start.toISOString().slice(0, 10).replace(/-/g, '')}`;

/**
 * The hub's event log: relayed events stored once per (site, event id), each given the next number
 * of its site's log (gapless and in commit order, because the site row is locked while numbering),
 * in daily partitions by receive time. Pull readers page by that number.
 */
export class EventLog {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /**
   * Stores a batch of one connection's events in one transaction and returns what to acknowledge.
   * Events whose id the site's log already holds are skipped. A writeback result event of a
   * command sent through the hub carries the vendor's own idempotency key, and finishes the
   * hub's record of that command.
   */
  async ingest(
    siteId: string,
    connectionId: string,
    events: readonly RelayedEvent[],
    now: Date,
  ): Promise<IngestResult> {
    return this.db.transaction().execute(async (tx) => {
      const ids = events.map((e) => e.envelope.id);
      const fresh = new Set<string>();
      if (ids.length > 0) {
        const inserted = await sql<{ event_id: string }>`
          INSERT INTO hub_event_keys (site_id, event_id, received_at)
          SELECT ${siteId}, id, ${now} FROM unnest(${ids}::text[]) AS t(id)
          ON CONFLICT DO NOTHING RETURNING event_id`.execute(tx);
        for (const row of inserted.rows) fresh.add(row.event_id);
      }
      const results = events.filter(
        (e) =>
          fresh.has(e.envelope.id) &&
          WRITEBACK_RESULT.test(e.envelope.type) &&
          typeof e.envelope.data['id'] === 'string',
      );
      const commands = new Map<string, { idempotencyKey: string }>();
      if (results.length > 0) {
        const rows = await tx
          .selectFrom('hub_writebacks')
          .select(['id', 'idempotency_key'])
          .where('site_id', '=', siteId)
          .where(
            'id',
            'in',
            results.map((e) => String(e.envelope.data['id'])),
          )
          .execute();
        for (const row of rows) commands.set(row.id, { idempotencyKey: row.idempotency_key });
      }
      // Once each, in the order given (a batch may repeat an id).
      const freshEvents = events.filter((e) => fresh.delete(e.envelope.id));
      const stored: LoggedEvent[] = [];
      if (freshEvents.length > 0) {
        // Numbers for the new events: taking them locks the site row until commit, so the site's
        // log is numbered without gaps and in commit order.
        const site = await sql<{ last_event_seq: number }>`
          UPDATE hub_sites SET last_event_seq = last_event_seq + ${freshEvents.length}
          WHERE id = ${siteId} RETURNING last_event_seq`.execute(tx);
        let seq = Number(site.rows[0]!.last_event_seq) - freshEvents.length;
        for (const event of freshEvents) {
          const command = commands.get(String(event.envelope.data['id']));
          const envelope =
            command && WRITEBACK_RESULT.test(event.envelope.type)
              ? {
                  ...event.envelope,
                  data: { ...event.envelope.data, idempotencyKey: command.idempotencyKey },
                }
              : event.envelope;
          seq += 1;
          stored.push({ ...event, envelope, siteId, siteSeq: seq, receivedAt: now.toISOString() });
        }
        // One parameter per column (arrays), whatever the batch size. The two JSON columns go as one
        // JSON array each, split by the server: as a json[] literal, every quote of every document
        // would be escaped in JavaScript first, which with its garbage was the largest part of the
        // hub's own work per relayed event (docs/hub.md, "Performance").
        const column = <T>(pick: (e: LoggedEvent) => T) => stored.map(pick);
        const elements = (json: string) =>
          sql`ARRAY(SELECT v FROM json_array_elements(${json}::json) WITH ORDINALITY AS j(v, n) ORDER BY n)`;
        await sql`
          INSERT INTO hub_events (site_id, site_seq, connection_id, event_id, sequence, type, resource_type,
            resource_id, kind, source_id, connector_id, refs, envelope, received_at)
          SELECT ${siteId}, * , ${now}::timestamptz FROM unnest(
            ${column((e) => e.siteSeq)}::bigint[], ${column((e) => e.envelope.connectionId)}::text[],
            ${column((e) => e.envelope.id)}::text[], ${column((e) => e.envelope.sequence)}::bigint[],
            ${column((e) => e.envelope.type)}::text[], ${column((e) => e.envelope.resourceType)}::text[],
            ${column((e) => e.envelope.resourceId)}::text[], ${column((e) => e.kind)}::text[],
            ${column((e) => e.sourceId)}::text[], ${column((e) => e.connectorId)}::text[],
            ${elements(JSON.stringify(column((e) => e.refs)))},
            ${elements(JSON.stringify(column((e) => e.envelope)))})`.execute(tx);
        for (const e of stored) {
          if (!commands.has(String(e.envelope.data['id']))) continue;
          await finishFromResult(tx, String(e.envelope.data['id']), e.envelope.data, now);
        }
      }
      const highest = events.reduce((max, e) => Math.max(max, e.envelope.sequence), 0);
      const connection = await tx
        .updateTable('hub_connections')
        .set({ relay_sequence: sql<number>`GREATEST(COALESCE(relay_sequence, 0), ${highest}::bigint)` })
        .where('id', '=', connectionId)
        .returning('relay_sequence')
        .executeTakeFirstOrThrow();
      return {
        stored,
        duplicates: events.length - stored.length,
        relaySequence: Number(connection.relay_sequence ?? 0),
      };
    });
  }

  /**
   * Appends an event about the site itself (`site.*`, `alert.*`, `agent.upgraded`…): resource
   * `Site`, under the site's first connection (a site's events all name one), or none when it has
   * no connection yet. Returns it as stored; undefined when `id` was stored before.
   */
  async appendSiteEvent(
    siteId: string,
    input: { type: string; data: Record<string, unknown>; id?: string },
    now: Date,
  ): Promise<LoggedEvent | undefined> {
    const connection = await this.db
      .selectFrom('hub_connections')
      .select('id')
      .where('site_id', '=', siteId)
      .orderBy('id')
      .executeTakeFirst();
    return this.appendHubEvent(
      siteId,
      { ...input, connectionId: connection?.id ?? '', resourceType: 'Site', resourceId: siteId },
      now,
    );
  }

  /**
   * Appends an event the hub itself raises (`site.online`, a writeback that timed out in the hub)
   * to a site's log. Returns it as stored.
   */
  async appendHubEvent(
    siteId: string,
    input: {
      type: string;
      connectionId: string;
      resourceType: string;
      resourceId: string;
      sequence?: number;
      data: Record<string, unknown>;
      id?: string;
    },
    now: Date,
  ): Promise<LoggedEvent | undefined> {
    const id = input.id ?? uuidV7(now.getTime());
    return this.db.transaction().execute(async (tx) => {
      const site = await tx
        .selectFrom('hub_sites')
        .select('last_event_seq')
        .where('id', '=', siteId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const key = await tx
        .insertInto('hub_event_keys')
        .values({ site_id: siteId, event_id: id, received_at: now })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(key.numInsertedOrUpdatedRows ?? 0n) === 0) return undefined;
      const seq = Number(site.last_event_seq) + 1;
      const envelope = {
        id,
        type: input.type,
        occurredAt: now.toISOString(),
        connectionId: input.connectionId,
        resourceType: input.resourceType,
        resourceId: input.resourceId,
        sequence: input.sequence ?? seq,
        data: input.data,
      };
      await tx
        .insertInto('hub_events')
        .values({
          site_id: siteId,
          site_seq: seq,
          connection_id: input.connectionId,
          event_id: id,
          sequence: envelope.sequence,
          type: input.type,
          resource_type: input.resourceType,
          resource_id: input.resourceId,
          kind: 'created',
          source_id: '',
          connector_id: 'hub',
          refs: '{}',
          envelope: JSON.stringify(envelope),
          received_at: now,
        })
        .execute();
      await tx.updateTable('hub_sites').set({ last_event_seq: seq }).where('id', '=', siteId).execute();
      return {
        envelope,
        kind: 'created',
        sourceId: '',
        connectorId: 'hub',
        refs: {},
        siteId,
        siteSeq: seq,
        receivedAt: now.toISOString(),
      };
    });
  }

  /** A site's events after a position in its log, oldest first. */
  async list(siteId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    const rows = await this.db
      .selectFrom('hub_events')
      .select(['site_seq', 'kind', 'source_id', 'connector_id', 'refs', 'envelope', 'received_at'])
      .where('site_id', '=', siteId)
      .where('site_seq', '>', afterSeq)
      .orderBy('site_seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      envelope: row.envelope as unknown as RelayedEvent['envelope'],
      kind: row.kind,
      sourceId: row.source_id,
      connectorId: row.connector_id,
      refs: row.refs,
      siteId,
      siteSeq: Number(row.site_seq),
      receivedAt: row.received_at,
    }));
  }

  /** How many events of this site the log holds. */
  async count(siteId: string): Promise<number> {
    const row = await this.db
      .selectFrom('hub_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('site_id', '=', siteId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** The highest agent sequence held per connection of a site (what `welcome` tells the agent). */
  async relayPositions(siteId: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('hub_connections')
      .select(['id', 'relay_sequence'])
      .where('site_id', '=', siteId)
      .execute();
    return Object.fromEntries(
      rows.filter((r) => r.relay_sequence !== null).map((r) => [r.id, Number(r.relay_sequence)]),
    );
  }

  /** Records a read of a site's events: which key, when, how many, which positions. Never the events. */
  async logAccess(input: {
    vendorId: string;
    keyId: string;
    siteId: string;
    action: string;
    events: number;
    afterSeq: number | null;
    lastSeq: number | null;
    at: Date;
  }): Promise<void> {
    await this.db
      .insertInto('hub_access_log')
      .values({
        at: input.at,
        vendor_id: input.vendorId,
        key_id: input.keyId,
        site_id: input.siteId,
        action: input.action,
        events: input.events,
        after_seq: input.afterSeq,
        last_seq: input.lastSeq,
      })
      .execute();
  }

  async accessLog(siteId?: string, limit = 100) {
    let query = this.db.selectFrom('hub_access_log').selectAll().orderBy('id', 'desc').limit(limit);
    if (siteId) query = query.where('site_id', '=', siteId);
    return (await query.execute()).map((r) => ({
      at: r.at,
      vendorId: r.vendor_id,
      keyId: r.key_id,
      siteId: r.site_id,
      action: r.action,
      events: r.events,
      afterSeq: r.after_seq === null ? null : Number(r.after_seq),
      lastSeq: r.last_seq === null ? null : Number(r.last_seq),
    }));
  }

  /** Creates the daily partitions from today to `daysAhead` days on (existing ones are left alone). */
  async ensurePartitions(now: Date, daysAhead = 2): Promise<string[]> {
    const created: string[] = [];
    const existing = new Set(await this.partitions());
    for (let i = 0; i <= daysAhead; i++) {
      const start = day(now.getTime() + i * DAY_MS);
      const name = partitionName(start);
      if (existing.has(name)) continue;
      const end = new Date(start.getTime() + DAY_MS);
      const from = start.toISOString();
      const to = end.toISOString();
      try {
        await sql
          .raw(
            `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF hub_events FOR VALUES FROM ('${from}') TO ('${to}')`,
          )
          .execute(this.db);
        created.push(name);
      } catch {
        if ((await this.partitions()).includes(name)) continue; // another node created it just now
        // Rows of that day already sit in the default partition (the job had not run): move them
        // into the new partition and attach it, in one transaction.
        await this.db.transaction().execute(async (tx) => {
          await sql.raw(`CREATE TABLE ${name} (LIKE hub_events INCLUDING DEFAULTS)`).execute(tx);
          await sql
            .raw(
              `WITH moved AS (DELETE FROM hub_events_default WHERE received_at >= '${from}' AND received_at < '${to}' RETURNING *)
               INSERT INTO ${name} SELECT * FROM moved`,
            )
            .execute(tx);
          await sql
            .raw(`ALTER TABLE hub_events ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`)
            .execute(tx);
        });
        created.push(name);
      }
    }
    return created;
  }

  async partitions(): Promise<string[]> {
    const result = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = 'hub_events' ORDER BY c.relname`.execute(this.db);
    return result.rows.map((r) => r.name);
  }

  /**
   * Retention: drops every daily partition that ends at or before `cutoff`, deletes older rows of
   * the default partition, and forgets dedupe keys as old (a copy of an event relayed again after
   * its retention would be stored again). Returns the partitions dropped.
   */
  async prune(cutoff: Date): Promise<{ dropped: string[]; keysDeleted: number }> {
    const dropped: string[] = [];
    for (const name of await this.partitions()) {
      const match = PARTITION.exec(name);
      if (!match) continue;
      const end = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + DAY_MS;
      if (end > cutoff.getTime()) continue;
      await sql.raw(`DROP TABLE IF EXISTS ${name}`).execute(this.db);
      dropped.push(name);
    }
    await sql`DELETE FROM hub_events_default WHERE received_at < ${cutoff}`.execute(this.db);
    await deleteDeliveryCopies(this.db, sql`o.connection_id LIKE 'site:%' AND o.created_at < ${cutoff}`);
    let keysDeleted = 0;
    for (;;) {
      const result = await sql`DELETE FROM hub_event_keys WHERE ctid IN (
        SELECT ctid FROM hub_event_keys WHERE received_at < ${cutoff} LIMIT 10000)`.execute(this.db);
      const n = Number(result.numAffectedRows ?? 0n);
      keysDeleted += n;
      if (n < 10_000) break;
    }
    return { dropped, keysDeleted };
  }

  /** Deletes every event of a site, its dedupe keys and its writeback payloads (a practice left). */
  async purgeSite(siteId: string): Promise<{ events: number; writebacks: number }> {
    return this.db.transaction().execute(async (tx) => {
      const events = await tx.deleteFrom('hub_events').where('site_id', '=', siteId).executeTakeFirst();
      await tx.deleteFrom('hub_event_keys').where('site_id', '=', siteId).execute();
      await deleteDeliveryCopies(tx, sql`o.connection_id = ${`site:${siteId}`}`);
      const writebacks = await tx
        .deleteFrom('hub_writebacks')
        .where('site_id', '=', siteId)
        .executeTakeFirst();
      await tx
        .updateTable('hub_connections')
        .set({ relay_sequence: null })
        .where('site_id', '=', siteId)
        .execute();
      return { events: Number(events.numDeletedRows), writebacks: Number(writebacks.numDeletedRows) };
    });
  }
}

/**
 * Deletes the copies webhook delivery keeps of log entries (the store's outbox, deliveries and
 * attempts; docs/hub.md, "Webhooks from the hub") for the outbox rows `o` matching `where`: they
 * hold PHI and go with the log's retention and a site's purge. Nothing to do before delivery
 * first created its tables.
 */
async function deleteDeliveryCopies(db: Kysely<HubDatabase>, where: RawBuilder<unknown>): Promise<void> {
  const exists = await sql<{ t: string | null }>`SELECT to_regclass('outbox')::text AS t`.execute(db);
  if (!exists.rows[0]?.t) return;
  await sql`DELETE FROM delivery_attempts WHERE delivery_id IN (
    SELECT d.id FROM deliveries d JOIN outbox o ON o.id = d.event_id WHERE ${where})`.execute(db);
  await sql`DELETE FROM deliveries WHERE event_id IN (SELECT o.id FROM outbox o WHERE ${where})`.execute(db);
  await sql`DELETE FROM outbox o WHERE ${where}`.execute(db);
}

/** Finishes the hub's record of a command from the agent's result document, once. */
async function finishFromResult(
  tx: Kysely<HubDatabase>,
  id: string,
  data: Record<string, unknown>,
  now: Date,
): Promise<void> {
  const status = data['status'];
  if (status !== 'written' && status !== 'failed' && status !== 'timed_out') return;
  await tx
    .updateTable('hub_writebacks')
    .set({
      status,
      phase: 'done',
      started_at: typeof data['startedAt'] === 'string' ? new Date(data['startedAt']) : null,
      finished_at: typeof data['finishedAt'] === 'string' ? new Date(data['finishedAt']) : now,
      result: JSON.stringify(data),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('phase', '<>', 'done')
    .execute();
}
