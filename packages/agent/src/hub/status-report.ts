import { healthOf, type StatusSnapshot } from '@tendril/api';
import type { AgentStatusReport } from '@tendril/hub';

/**
 * The agent's status in brief for the hub's `status` frame: health, PHI-free problems, and per
 * stream its state, staleness, lag and last successful read. Counts and codes only. With
 * `lastUpgrade` (the supervisor's record, upgrade/upgrade-state.ts) the hub learns how the last
 * remote upgrade ended, also when the agent that reports it is the rolled-back one.
 */
export function statusReport(snapshot: StatusSnapshot): AgentStatusReport {
  const verdict = healthOf(snapshot);
  const lastUpgrade = snapshot.agent.lastUpgrade;
  return {
    ...(lastUpgrade ? { lastUpgrade } : {}),
    health: verdict.status,
    agentStartedAt: snapshot.agent.startedAt,
    problems: [...verdict.problems],
    connections: snapshot.connections.map((c) => ({
      id: c.id,
      streams: c.streams.map((s) => ({
        stream: s.stream,
        status: s.status,
        stale: s.stale,
        lagSeconds: s.lagSeconds,
        lastSuccessAt: s.lastPollFinishedAt ?? null,
        lastErrorCode: s.lastError?.code ?? null,
      })),
      pendingWritebacks: c.pendingWritebacks,
      quarantined: c.quarantined,
      outboxEvents: c.outbox.events,
    })),
  };
}
