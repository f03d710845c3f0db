import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { HubCommandTable, HubDatabase } from '../db/schema.js';
import type { CommandOutcome, RemoteCommandArgs, RemoteCommandName } from '../link/protocol.js';

/** A remote command as the hub keeps it (docs/hub.md, "Remote commands"): the history and the audit. */
export interface RemoteCommandRecord {
  readonly id: string;
  readonly siteId: string;
  readonly actor: string;
  readonly name: RemoteCommandName;
  readonly args: RemoteCommandArgs;
  readonly status: HubCommandTable['status'];
  readonly message?: string;
  readonly output?: Readonly<Record<string, unknown>>;
  readonly requestedAt: string;
  readonly sentAt?: string;
  readonly finishedAt?: string;
  /** `upgrade`: how it ended, as the agent reported it after the switch (upgrade-outcomes.ts). */
  readonly outcome?: 'upgraded' | 'upgrade_failed';
  readonly outcomeReason?: string;
  readonly outcomeAt?: string;
}

/** Statuses after which a command never changes again. */
export const FINAL_COMMAND_STATUSES: readonly HubCommandTable['status'][] = [
  'ok',
  'refused',
  'failed',
  'timed_out',
];

function toRecord(row: Selectable<HubCommandTable>, withOutput: boolean): RemoteCommandRecord {
  return {
    id: row.id,
    siteId: row.site_id,
    actor: row.actor,
    name: row.name as RemoteCommandName,
    args: row.args,
    status: row.status,
    ...(row.message !== null ? { message: row.message } : {}),
    ...(withOutput && row.output ? { output: row.output } : {}),
    requestedAt: row.requested_at,
    ...(row.sent_at ? { sentAt: row.sent_at } : {}),
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
    ...(row.outcome ? { outcome: row.outcome } : {}),
    ...(row.outcome_reason ? { outcomeReason: row.outcome_reason } : {}),
    ...(row.outcome_at ? { outcomeAt: row.outcome_at } : {}),
  };
}

/**
 * `hub_commands`: every remote command asked of an agent, with who asked and how it ended. The
 * table is the truth across nodes: the node holding the site's link takes `queued` rows and marks
 * them `sent`; the agent's `command.result` finishes them; whoever waits reads the row.
 */
export class HubCommandStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async create(
    input: {
      siteId: string;
      actor: string;
      name: RemoteCommandName;
      args: RemoteCommandArgs;
      /** A command that cannot start (the site has no link) is stored already finished. */
      finished?: { status: 'failed'; message: string };
    },
    now: Date,
  ): Promise<RemoteCommandRecord> {
    const id = `cmd_${randomBytes(12).toString('hex')}`;
    const row = await this.db
      .insertInto('hub_commands')
      .values({
        id,
        site_id: input.siteId,
        actor: input.actor,
        name: input.name,
        args: JSON.stringify(input.args),
        status: input.finished?.status ?? 'queued',
        message: input.finished?.message ?? null,
        output: null,
        requested_at: now,
        sent_at: null,
        finished_at: input.finished ? now : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row, false);
  }

  /** Marks the site's queued commands `sent` and returns them (only one node gets each). */
  async takeQueued(siteId: string, now: Date): Promise<RemoteCommandRecord[]> {
    const rows = await this.db
      .updateTable('hub_commands')
      .set({ status: 'sent', sent_at: now })
      .where('site_id', '=', siteId)
      .where('status', '=', 'queued')
      .returningAll()
      .execute();
    return rows.map((r) => toRecord(r, false)).sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
  }

  /** The agent's answer; a command already final (timed out meanwhile) stays as it is. */
  async complete(
    id: string,
    siteId: string,
    result: { status: CommandOutcome; message: string; output?: Record<string, unknown> },
    now: Date,
  ): Promise<RemoteCommandRecord | undefined> {
    const row = await this.db
      .updateTable('hub_commands')
      .set({
        status: result.status,
        message: result.message,
        output: result.output ? JSON.stringify(result.output) : null,
        finished_at: now,
      })
      .where('id', '=', id)
      .where('site_id', '=', siteId)
      .where('status', 'in', ['queued', 'sent'])
      .returningAll()
      .executeTakeFirst();
    return row ? toRecord(row, false) : undefined;
  }

  /** Gives up on a command nobody answered; false when it was answered meanwhile. */
  async timeOut(id: string, message: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('hub_commands')
      .set({ status: 'timed_out', message, finished_at: now })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'sent'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async get(id: string, options: { withOutput?: boolean } = {}): Promise<RemoteCommandRecord | undefined> {
    const row = await this.db.selectFrom('hub_commands').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row, options.withOutput ?? false) : undefined;
  }

  /** A site's command history, newest first, without outputs (logs and bundles are fetched one by one). */
  async history(siteId: string, limit: number): Promise<RemoteCommandRecord[]> {
    const rows = await this.db
      .selectFrom('hub_commands')
      .selectAll()
      .where('site_id', '=', siteId)
      .orderBy('requested_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => toRecord(r, false));
  }
}
