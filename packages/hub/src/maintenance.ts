import { EVENT_ID_NAMESPACE, isTendrilError, uuidV5 } from '@tendril/core';
import type { HubContext } from './hub-context.js';
import type { LinkServer } from './link/link-server.js';
import { hubWritebackResult } from './store/writebacks.js';

/** How often each job runs (tests shorten them). */
export interface MaintenanceIntervals {
  /** Queued writebacks past their deadline become `timed_out`. */
  readonly deadlinesMs: number;
  /** Queued writebacks of sites linked here are handed down (a missed notice costs at most this). */
  readonly writebackSweepMs: number;
  /** This node's heartbeat; a node silent for 3 beats counts as gone. */
  readonly heartbeatMs: number;
  /** Sites without a link for `offlineAfterSeconds` are announced `site.offline`. */
  readonly presenceMs: number;
  /** Partitions ahead, retention behind. */
  readonly retentionMs: number;
  /** Alerts that come from data: streams unhealthy, quarantine growing, writebacks stuck. */
  readonly alertsMs: number;
}

export const DEFAULT_INTERVALS: MaintenanceIntervals = {
  deadlinesMs: 1000,
  writebackSweepMs: 2000,
  heartbeatMs: 10_000,
  presenceMs: 15_000,
  retentionMs: 3_600_000,
  alertsMs: 60_000,
};

/**
 * A hub node's periodic jobs. Every node runs them; each is safe to run on several nodes at once
 * (conditional updates decide which node acts on a row), so no node is special.
 */
export class Maintenance {
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<string>();
  #liveNodes: { at: number; nodes: ReadonlySet<string> } | undefined;

  constructor(
    private readonly ctx: HubContext,
    private readonly links: LinkServer,
    private readonly intervals: MaintenanceIntervals = DEFAULT_INTERVALS,
  ) {}

  async start(): Promise<void> {
    await this.heartbeat();
    await this.retention();
    this.#every('deadlines', this.intervals.deadlinesMs, () => this.expireDeadlines());
    this.#every('sweep', this.intervals.writebackSweepMs, () => this.sweepWritebacks());
    this.#every('heartbeat', this.intervals.heartbeatMs, () => this.heartbeat());
    this.#every('presence', this.intervals.presenceMs, () => this.presence());
    this.#every('retention', this.intervals.retentionMs, () => this.retention());
    this.#every('alerts', this.intervals.alertsMs, () => this.ctx.alerts.evaluate(this.ctx.now()));
  }

  stop(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
  }

  #every(name: string, ms: number, job: () => Promise<unknown>): void {
    const timer = setInterval(() => {
      if (this.#running.has(name)) return; // never overlapping
      this.#running.add(name);
      job()
        .catch((error: unknown) =>
          this.ctx.logger.warn(
            {
              event: 'hub.job_failed',
              job: name,
              code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
            },
            'a hub job failed; it runs again at its next interval',
          ),
        )
        .finally(() => this.#running.delete(name));
    }, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  /** Nodes that beat within the last three intervals (cached for one interval). */
  async liveNodes(): Promise<ReadonlySet<string>> {
    const now = Date.now();
    if (this.#liveNodes && now - this.#liveNodes.at < this.intervals.heartbeatMs)
      return this.#liveNodes.nodes;
    const rows = await this.ctx.hubDb.db
      .selectFrom('hub_nodes')
      .select('id')
      .where(
        'heartbeat_at',
        '>',
        new Date(this.ctx.now().getTime() - 3 * this.intervals.heartbeatMs).toISOString(),
      )
      .execute();
    const nodes = new Set(rows.map((r) => r.id));
    nodes.add(this.ctx.nodeId);
    this.#liveNodes = { at: now, nodes };
    return nodes;
  }

  async heartbeat(): Promise<void> {
    const now = this.ctx.now();
    await this.ctx.hubDb.db
      .insertInto('hub_nodes')
      .values({ id: this.ctx.nodeId, started_at: now, heartbeat_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now }))
      .execute();
    await this.links.touchLinked();
  }

  /** `timed_out` for commands no link took before their deadline; each gets its result event. */
  async expireDeadlines(): Promise<number> {
    const now = this.ctx.now();
    const expired = await this.ctx.writebacks.expire(now);
    for (const row of expired) {
      const resourceType = row.resource_type;
      const positions = await this.ctx.events.relayPositions(row.site_id);
      const stored = await this.ctx.events.appendHubEvent(
        row.site_id,
        {
          // The agent's formula for result events (docs/writeback.md, "Lifecycle and guarantees"): the same command and status give the same id.
          id: uuidV5(JSON.stringify([row.connection_id, 'command', row.id, 'timed_out']), EVENT_ID_NAMESPACE),
          type: `${resourceType.toLowerCase()}.writeback.timed_out`,
          connectionId: row.connection_id,
          resourceType,
          resourceId: '',
          sequence: positions[row.connection_id] ?? 0,
          data: hubWritebackResult(row),
        },
        now,
      );
      if (stored) this.ctx.onStored([stored]);
      this.ctx.logger.warn(
        {
          event: 'hub.writeback_timed_out',
          writebackId: row.id,
          siteId: row.site_id,
          code: 'TENDRIL_E_WRITEBACK_TIMED_OUT',
        },
        'writeback timed out in the hub: no link took it before its deadline',
      );
    }
    return expired.length;
  }

  async sweepWritebacks(): Promise<void> {
    const linked = new Set(this.links.linkedSites());
    if (linked.size === 0) return;
    for (const siteId of await this.ctx.writebacks.sitesWithQueued(this.ctx.now()))
      if (linked.has(siteId)) await this.links.pushWritebacks(siteId);
  }

  async presence(): Promise<void> {
    const now = this.ctx.now();
    const cutoff = new Date(now.getTime() - this.ctx.config.sites.offlineAfterSeconds * 1000);
    const live = await this.liveNodes();
    for (const siteId of await this.ctx.sites.sitesToAnnounceOffline(cutoff, [...live]))
      await this.ctx.presence.offline(siteId, now);
  }

  async retention(): Promise<void> {
    const now = this.ctx.now();
    await this.ctx.events.ensurePartitions(now);
    const pruned = await this.ctx.events.prune(
      new Date(now.getTime() - this.ctx.config.retention.events * 1000),
    );
    if (pruned.dropped.length > 0 || pruned.keysDeleted > 0)
      this.ctx.logger.info(
        { event: 'hub.retention', dropped: pruned.dropped, keysDeleted: pruned.keysDeleted },
        'retention pruned the event log',
      );
  }
}
