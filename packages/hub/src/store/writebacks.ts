import { sql, type Kysely, type Selectable } from 'kysely';
import type { HubDatabase, HubWritebackTable } from '../db/schema.js';

export interface HubWritebackInput {
  readonly id: string;
  readonly vendorId: string;
  readonly keyId: string;
  readonly siteId: string;
  readonly connectionId: string;
  readonly command: string;
  readonly idempotencyKey: string;
  readonly payloadHash: string;
  readonly input: Record<string, unknown>;
  readonly resourceType: string;
  readonly acceptedAt: Date;
  readonly deadline: Date;
}

export type HubWritebackRow = Selectable<HubWritebackTable>;

export type HubAcceptResult =
  | { readonly kind: 'created'; readonly row: HubWritebackRow }
  | { readonly kind: 'existing'; readonly row: HubWritebackRow }
  | { readonly kind: 'key-reused'; readonly row: HubWritebackRow };

/** An agent's report on a command (`writeback.update`). */
export interface WritebackUpdate {
  readonly status: 'accepted' | 'written' | 'failed' | 'timed_out';
  readonly phase?: string;
  readonly result?: Record<string, unknown>;
}

const PHASES_AFTER_SENT = new Set(['executing', 'verifying']);

/**
 * The public result document of a command held by the hub: the agent's own document once it has
 * one (with the vendor's idempotency key), else the hub's view (docs/writeback.md, "Lifecycle and guarantees" shape).
 */
export function hubWritebackResult(row: HubWritebackRow): Record<string, unknown> {
  const base = {
    id: row.id,
    command: row.command,
    connectionId: row.connection_id,
    idempotencyKey: row.idempotency_key,
    status: row.status,
    ...(row.status === 'accepted' ? { phase: row.phase === 'sent' ? 'queued' : row.phase } : {}),
    acceptedAt: row.accepted_at,
    deadline: row.deadline,
    startedAt: row.started_at ?? null,
    finishedAt: row.finished_at ?? null,
    resourceType: row.resource_type,
    resourceId: null,
    sourceId: null,
    resource: null,
    warnings: [],
    error: null,
  };
  if (!row.result) return base;
  return {
    ...base,
    ...row.result,
    id: row.id,
    connectionId: row.connection_id,
    idempotencyKey: row.idempotency_key,
    status: row.status,
    ...(row.status === 'accepted' ? { phase: base.phase } : {}),
  };
}

/**
 * The hub's writeback queue (docs/hub.md, "The link"): a vendor's command is stored before the 202, handed to
 * the site's link at least once (the agent's idempotency makes a resend harmless), and finished by
 * the agent's reports — or marked `timed_out` here when its deadline passes before any link took it.
 */
export class HubWritebackStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async accept(input: HubWritebackInput): Promise<HubAcceptResult> {
    const inserted = await this.db
      .insertInto('hub_writebacks')
      .values({
        id: input.id,
        vendor_id: input.vendorId,
        key_id: input.keyId,
        site_id: input.siteId,
        connection_id: input.connectionId,
        command: input.command,
        idempotency_key: input.idempotencyKey,
        payload_hash: input.payloadHash,
        input: JSON.stringify(input.input),
        resource_type: input.resourceType,
        status: 'accepted',
        phase: 'queued',
        accepted_at: input.acceptedAt,
        deadline: input.deadline,
        sent_at: null,
        started_at: null,
        finished_at: null,
        result: null,
        updated_at: input.acceptedAt,
      })
      .onConflict((oc) => oc.columns(['vendor_id', 'connection_id', 'idempotency_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { kind: 'created', row: inserted };
    const row = await this.db
      .selectFrom('hub_writebacks')
      .selectAll()
      .where('vendor_id', '=', input.vendorId)
      .where('connection_id', '=', input.connectionId)
      .where('idempotency_key', '=', input.idempotencyKey)
      .executeTakeFirstOrThrow();
    return { kind: row.payload_hash === input.payloadHash ? 'existing' : 'key-reused', row };
  }

  async get(id: string): Promise<HubWritebackRow | undefined> {
    return this.db.selectFrom('hub_writebacks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * The commands to hand to a site's link now: queued ones whose deadline has not passed (marked
   * `sent` in the same statement, so the deadline job and this never both take one), and ones
   * sent earlier that no agent report finished (sent again: the link that carried them may have died).
   */
  async takeForLink(siteId: string, now: Date, resendSent: boolean): Promise<HubWritebackRow[]> {
    const fresh = await this.db
      .updateTable('hub_writebacks')
      .set({ phase: 'sent', sent_at: now, updated_at: now })
      .where('site_id', '=', siteId)
      .where('phase', '=', 'queued')
      .where('deadline', '>', now.toISOString())
      .returningAll()
      .execute();
    if (!resendSent) return fresh.sort(byAccepted);
    const earlier = await this.db
      .selectFrom('hub_writebacks')
      .selectAll()
      .where('site_id', '=', siteId)
      .where('phase', 'in', ['sent', 'executing', 'verifying'])
      .where('id', 'not in', fresh.length > 0 ? fresh.map((r) => r.id) : ['-'])
      .execute();
    return [...earlier, ...fresh].sort(byAccepted);
  }

  /** Sites with queued commands (for a node's sweep). */
  async sitesWithQueued(now: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom('hub_writebacks')
      .select('site_id')
      .distinct()
      .where('phase', '=', 'queued')
      .where('deadline', '>', now.toISOString())
      .execute();
    return rows.map((r) => r.site_id);
  }

  /**
   * Applies an agent's report. Final states are sticky (a late or repeated report changes
   * nothing); a command of another site is ignored. Returns the row after the update.
   */
  async applyUpdate(
    id: string,
    siteId: string,
    update: WritebackUpdate,
    now: Date,
  ): Promise<HubWritebackRow | undefined> {
    const final = update.status !== 'accepted';
    const phase = final
      ? 'done'
      : update.phase && PHASES_AFTER_SENT.has(update.phase)
        ? (update.phase as 'executing' | 'verifying')
        : 'sent';
    const result = update.result;
    await this.db
      .updateTable('hub_writebacks')
      .set({
        status: update.status,
        phase,
        updated_at: now,
        ...(result && typeof result['startedAt'] === 'string'
          ? { started_at: new Date(result['startedAt']) }
          : {}),
        ...(final
          ? {
              finished_at:
                result && typeof result['finishedAt'] === 'string' ? new Date(result['finishedAt']) : now,
            }
          : {}),
        ...(result ? { result: JSON.stringify(result) } : {}),
      })
      .where('id', '=', id)
      .where('site_id', '=', siteId)
      .where('phase', '<>', 'done')
      .execute();
    return this.get(id);
  }

  /** Commands whose deadline passed before any link took them: `timed_out` (they never started). */
  async expire(now: Date): Promise<HubWritebackRow[]> {
    return this.db
      .updateTable('hub_writebacks')
      .set({ status: 'timed_out', phase: 'done', finished_at: now, updated_at: now })
      .where('phase', '=', 'queued')
      .where('deadline', '<=', now.toISOString())
      .returningAll()
      .execute();
  }

  /** The newest finished `written` command of a site (the vendor API's "last write"). */
  async lastWrite(siteId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('hub_writebacks')
      .select(sql<string | null>`max(finished_at)`.as('at'))
      .where('site_id', '=', siteId)
      .where('status', '=', 'written')
      .executeTakeFirst();
    return row?.at ? new Date(row.at).toISOString() : undefined;
  }
}

const byAccepted = (a: HubWritebackRow, b: HubWritebackRow) =>
  Date.parse(a.accepted_at) - Date.parse(b.accepted_at) || a.id.localeCompare(b.id);
