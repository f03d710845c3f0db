import { EVENT_ID_NAMESPACE, uuidV5 } from '@tendril/core';
import type { Kysely } from 'kysely';
import { ALERT_KINDS, type HubAlerts } from './alerts.js';
import type { HubDatabase } from './db/schema.js';
import type { LastUpgradeReport } from './link/protocol.js';
import type { EventLog, LoggedEvent } from './store/event-log.js';

/** Events the hub raises for how a remote upgrade ended (docs/hub.md, "Remote upgrade"). */
export const UPGRADE_EVENT_TYPES = {
  upgraded: 'agent.upgraded',
  upgrade_failed: 'agent.upgrade_failed',
} as const;

/** The key of one outcome: a status repeats it on every tick, a new command or outcome changes it. */
export const upgradeKey = (report: Pick<LastUpgradeReport, 'commandId' | 'outcome'>) =>
  `${report.commandId}:${report.outcome}`;

/**
 * Turns the `lastUpgrade` an agent reports in its status into what vendors and operators see, once
 * per (command, outcome) however many status frames repeat it, across hub restarts and nodes:
 *
 * 1. the event `agent.upgraded` / `agent.upgrade_failed` goes into the site's log under an id
 *    derived from (site, command, outcome), so a second append (a crash before step 4, another
 *    node) is a duplicate the log refuses;
 * 2. the command's history row gets the outcome and reason;
 * 3. `upgrade_failed` opens the `upgrade-failed` alert, `upgraded` resolves it;
 * 4. the site remembers the key (`hub_sites.last_upgrade_key`), so later ticks — also after the
 *    event's dedupe key was pruned with the log — stop at one indexed read.
 */
export class UpgradeOutcomes {
  constructor(
    private readonly db: Kysely<HubDatabase>,
    private readonly events: EventLog,
    private readonly alerts: HubAlerts,
    private readonly onStored: (events: readonly LoggedEvent[]) => void,
  ) {}

  /** Records a reported outcome unless it was recorded already; true when this call recorded it. */
  async record(siteId: string, report: LastUpgradeReport, now: Date): Promise<boolean> {
    const key = upgradeKey(report);
    const site = await this.db
      .selectFrom('hub_sites')
      .select(['last_upgrade_key'])
      .where('id', '=', siteId)
      .executeTakeFirst();
    if (!site || site.last_upgrade_key === key) return false;
    const stored = await this.events.appendSiteEvent(
      siteId,
      {
        id: uuidV5(JSON.stringify([siteId, 'upgrade', report.commandId, report.outcome]), EVENT_ID_NAMESPACE),
        type: UPGRADE_EVENT_TYPES[report.outcome],
        data: {
          siteId,
          commandId: report.commandId,
          fromVersion: report.fromVersion,
          toVersion: report.toVersion,
          outcome: report.outcome,
          ...(report.reason ? { reason: report.reason } : {}),
          at: report.at,
        },
      },
      now,
    );
    if (stored) this.onStored([stored]);
    await this.db
      .updateTable('hub_commands')
      .set({ outcome: report.outcome, outcome_reason: report.reason ?? null, outcome_at: now })
      .where('id', '=', report.commandId)
      .where('site_id', '=', siteId)
      .execute();
    if (report.outcome === 'upgrade_failed')
      await this.alerts.open(
        siteId,
        {
          kind: ALERT_KINDS.upgradeFailed,
          subject: '',
          message:
            `the upgrade from ${report.fromVersion} to ${report.toVersion} failed${report.reason ? `: ${report.reason}` : ''}; the agent runs ${report.fromVersion}`.slice(
              0,
              1000,
            ),
        },
        now,
      );
    else await this.alerts.resolve(siteId, ALERT_KINDS.upgradeFailed, '', now);
    await this.db.updateTable('hub_sites').set({ last_upgrade_key: key }).where('id', '=', siteId).execute();
    return stored !== undefined;
  }
}
