import { sql, type Kysely } from 'kysely';
import { connectionsOf } from './console/site-view.js';
import type { HubDatabase } from './db/schema.js';
import type { EventLog, LoggedEvent } from './store/event-log.js';

/**
 * What the hub raises alerts for (docs/hub.md, "Alerts"). Each alert opens once when its condition
 * starts and resolves once when it ends, never per tick: the open alert is one row, unique per
 * (site, kind, subject) while open, and only the node whose insert or update changed the row
 * announces it.
 */
export const ALERT_KINDS = {
  siteOffline: 'site-offline',
  siteDegraded: 'site-degraded',
  streamUnhealthy: 'stream-unhealthy',
  quarantineGrowing: 'quarantine-growing',
  writebackStuck: 'writeback-stuck',
  /** The agent reported that a remote upgrade failed (upgrade-outcomes.ts); a later success resolves it. */
  upgradeFailed: 'upgrade-failed',
} as const;
export type AlertKind = (typeof ALERT_KINDS)[keyof typeof ALERT_KINDS];

/** A stream counts as unhealthy for an alert after this long without a successful read. */
export const STREAM_UNHEALTHY_MS = 30 * 60_000;
/** A writeback in `verifying` this long is stuck. */
export const WRITEBACK_STUCK_MS = 10 * 60_000;
/** Quarantine grows when its count rose over this window of freshness samples. */
export const QUARANTINE_WINDOW_MS = 30 * 60_000;

export interface AlertRecord {
  readonly id: number;
  readonly siteId: string;
  readonly siteName?: string;
  readonly kind: AlertKind;
  readonly subject: string;
  readonly message: string;
  readonly openedAt: string;
  readonly resolvedAt?: string;
}

interface Wanted {
  readonly kind: AlertKind;
  readonly subject: string;
  readonly message: string;
}

/** Opens, resolves and lists alerts; each change becomes `alert.opened` / `alert.resolved` in the site's log. */
export class HubAlerts {
  constructor(
    private readonly db: Kysely<HubDatabase>,
    private readonly events: EventLog,
    private readonly onStored: (events: readonly LoggedEvent[]) => void,
  ) {}

  /** Opens an alert unless the same one is open already; true when this call opened it. */
  async open(siteId: string, alert: Wanted, now: Date): Promise<boolean> {
    const inserted = await sql<{
      id: number;
    }>`INSERT INTO hub_alerts (site_id, kind, subject, message, opened_at)
      VALUES (${siteId}, ${alert.kind}, ${alert.subject}, ${alert.message}, ${now})
      ON CONFLICT (site_id, kind, subject) WHERE resolved_at IS NULL DO NOTHING
      RETURNING id`.execute(this.db);
    if (inserted.rows.length === 0) return false;
    await this.announce(siteId, 'alert.opened', alert, now);
    return true;
  }

  /** Resolves the open alert, if any; true when this call resolved it. */
  async resolve(siteId: string, kind: AlertKind, subject: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .updateTable('hub_alerts')
      .set({ resolved_at: now })
      .where('site_id', '=', siteId)
      .where('kind', '=', kind)
      .where('subject', '=', subject)
      .where('resolved_at', 'is', null)
      .returning(['message'])
      .execute();
    if (rows.length === 0) return false;
    await this.announce(siteId, 'alert.resolved', { kind, subject, message: rows[0]!.message }, now);
    return true;
  }

  /**
   * Brings the open alerts of some kinds of one site in line with what is wanted now: opens the new
   * ones, resolves those whose condition ended.
   */
  async reconcile(
    siteId: string,
    kinds: readonly AlertKind[],
    wanted: readonly Wanted[],
    now: Date,
  ): Promise<void> {
    const open = await this.db
      .selectFrom('hub_alerts')
      .select(['kind', 'subject'])
      .where('site_id', '=', siteId)
      .where('kind', 'in', [...kinds])
      .where('resolved_at', 'is', null)
      .execute();
    const want = new Set(wanted.map((w) => `${w.kind}\u0000${w.subject}`));
    for (const alert of wanted) await this.open(siteId, alert, now);
    for (const row of open)
      if (!want.has(`${row.kind}\u0000${row.subject}`))
        await this.resolve(siteId, row.kind as AlertKind, row.subject, now);
  }

  /**
   * One evaluation of the conditions that come from data rather than from a transition: streams
   * unhealthy for more than 30 minutes, quarantine growing, writebacks stuck in `verifying`.
   */
  async evaluate(now: Date): Promise<void> {
    const sites = await this.db
      .selectFrom('hub_sites')
      .select(['id', 'status_json', 'link_node'])
      .where('purged_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
    const stuck = await this.db
      .selectFrom('hub_writebacks')
      .select(['id', 'site_id', 'command', 'updated_at'])
      .where('phase', '=', 'verifying')
      .where('updated_at', '<', new Date(now.getTime() - WRITEBACK_STUCK_MS).toISOString())
      .execute();
    const growing = new Set(
      (
        await sql<{ site_id: string }>`SELECT site_id FROM hub_site_freshness
          WHERE at >= ${new Date(now.getTime() - QUARANTINE_WINDOW_MS)} AND quarantined IS NOT NULL
          GROUP BY site_id HAVING max(quarantined) > min(quarantined)
            AND (array_agg(quarantined ORDER BY at DESC))[1] > (array_agg(quarantined ORDER BY at ASC))[1]`.execute(
          this.db,
        )
      ).rows.map((r) => r.site_id),
    );
    for (const site of sites) {
      const wanted: Wanted[] = [];
      for (const connection of connectionsOf(site.status_json)) {
        for (const stream of connection.streams) {
          const last = stream.lastSuccessAt ? Date.parse(stream.lastSuccessAt) : Number.NaN;
          const bad = stream.status === 'unhealthy' || stream.stale;
          if (bad && (Number.isNaN(last) || now.getTime() - last > STREAM_UNHEALTHY_MS))
            wanted.push({
              kind: ALERT_KINDS.streamUnhealthy,
              subject: `${connection.id}/${stream.stream}`,
              message: `stream ${stream.stream} of ${connection.id} has had no successful read for more than 30 minutes${stream.lastErrorCode ? ` (${stream.lastErrorCode})` : ''}`,
            });
        }
      }
      if (growing.has(site.id))
        wanted.push({
          kind: ALERT_KINDS.quarantineGrowing,
          subject: '',
          message: 'rows the agent could not map keep going into quarantine',
        });
      for (const w of stuck.filter((row) => row.site_id === site.id))
        wanted.push({
          kind: ALERT_KINDS.writebackStuck,
          subject: w.id,
          message: `writeback ${w.id} (${w.command}) has been verifying for more than 10 minutes`,
        });
      await this.reconcile(
        site.id,
        [ALERT_KINDS.streamUnhealthy, ALERT_KINDS.quarantineGrowing, ALERT_KINDS.writebackStuck],
        wanted,
        now,
      );
    }
  }

  /** A vendor's alerts: open first (newest first), then those resolved since `since`. */
  async list(filter: {
    vendorId: string;
    siteId?: string;
    since: Date;
    limit: number;
  }): Promise<AlertRecord[]> {
    let query = this.db
      .selectFrom('hub_alerts')
      .innerJoin('hub_sites', 'hub_sites.id', 'hub_alerts.site_id')
      .select([
        'hub_alerts.id',
        'hub_alerts.site_id',
        'hub_sites.name',
        'hub_alerts.kind',
        'hub_alerts.subject',
        'hub_alerts.message',
        'hub_alerts.opened_at',
        'hub_alerts.resolved_at',
      ])
      .where('hub_sites.vendor_id', '=', filter.vendorId)
      .where((eb) =>
        eb.or([
          eb('hub_alerts.resolved_at', 'is', null),
          eb('hub_alerts.resolved_at', '>=', filter.since.toISOString()),
        ]),
      );
    if (filter.siteId) query = query.where('hub_alerts.site_id', '=', filter.siteId);
    const rows = await query
      .orderBy(sql`hub_alerts.resolved_at IS NULL`, 'desc')
      .orderBy('hub_alerts.opened_at', 'desc')
      .limit(filter.limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      siteId: r.site_id,
      siteName: r.name,
      kind: r.kind as AlertKind,
      subject: r.subject,
      message: r.message,
      openedAt: r.opened_at,
      ...(r.resolved_at ? { resolvedAt: r.resolved_at } : {}),
    }));
  }

  private async announce(siteId: string, type: 'alert.opened' | 'alert.resolved', alert: Wanted, now: Date) {
    const stored = await this.events.appendSiteEvent(
      siteId,
      {
        type,
        data: {
          siteId,
          kind: alert.kind,
          subject: alert.subject,
          message: alert.message,
          at: now.toISOString(),
        },
      },
      now,
    );
    if (stored) this.onStored([stored]);
  }
}
