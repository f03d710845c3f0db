import { setTimeout as sleep } from 'node:timers/promises';
import { TendrilError } from '@tendril/core';
import type { RemoteCommandArgs, RemoteCommandName } from './link/protocol.js';
import { FINAL_COMMAND_STATUSES, type HubCommandStore, type RemoteCommandRecord } from './store/commands.js';
import { unknownSite, type SiteStore } from './store/sites.js';

/** How long a caller waits for the agent's answer before the command counts as timed out. */
export const COMMAND_TIMEOUT_MS = 30_000;

export interface RemoteCommandDeps {
  readonly sites: SiteStore;
  readonly commands: HubCommandStore;
  /** Sends the site's queued commands down its link when this node holds it; false otherwise. */
  pushLocal(siteId: string): Promise<boolean>;
  /** Wakes the other nodes (PostgreSQL NOTIFY): the one holding the link sends the command. */
  notify(payload: Record<string, unknown>): Promise<void>;
  now(): Date;
}

/**
 * Asks a site's agent to run a remote command and waits for its answer (docs/hub.md, "Remote
 * commands"). Every request is stored with who asked (the history is the audit). A site without a
 * link gets no queued command that would surprise it hours later: the request is recorded as failed.
 */
export async function runRemoteCommand(
  deps: RemoteCommandDeps,
  request: {
    siteId: string;
    actor: string;
    name: RemoteCommandName;
    args?: RemoteCommandArgs;
    timeoutMs?: number;
  },
): Promise<RemoteCommandRecord> {
  const site = await deps.sites.getSite(request.siteId);
  if (!site) throw unknownSite(request.siteId);
  if (site.revokedAt || site.purgedAt)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `site ${request.siteId} is revoked; it has no agent to command`,
    );
  const args = request.args ?? {};
  const now = deps.now();
  await deps.sites.audit(request.actor, `command.${request.name}`, request.siteId, { args }, now);
  if (!site.linkNode) {
    return deps.commands.create(
      {
        siteId: request.siteId,
        actor: request.actor,
        name: request.name,
        args,
        finished: {
          status: 'failed',
          message: `the site is offline (no link to its agent${site.lastSeenAt ? ` since ${site.lastSeenAt}` : ''}); try again when it is online`,
        },
      },
      now,
    );
  }
  const created = await deps.commands.create(
    { siteId: request.siteId, actor: request.actor, name: request.name, args },
    now,
  );
  if (!(await deps.pushLocal(request.siteId)))
    await deps.notify({ kind: 'command', siteId: request.siteId }).catch(() => undefined);
  const deadline = Date.now() + (request.timeoutMs ?? COMMAND_TIMEOUT_MS);
  for (;;) {
    const row = await deps.commands.get(created.id, { withOutput: true });
    if (row && FINAL_COMMAND_STATUSES.includes(row.status)) return row;
    if (Date.now() > deadline) break;
    await sleep(150);
  }
  await deps.commands.timeOut(
    created.id,
    `the agent did not answer within ${Math.round((request.timeoutMs ?? COMMAND_TIMEOUT_MS) / 1000)} s`,
    deps.now(),
  );
  return (await deps.commands.get(created.id, { withOutput: true }))!;
}
