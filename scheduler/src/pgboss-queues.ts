import PgBoss from 'pg-boss';
import type { Logger } from './logger.js';

/** The pg-boss queues of a fleet (docs/fleet.md). Deliveries and writebacks are not queues: the store's leases share them. */
export const FLEET_QUEUES = {
  poll: 'tendril-poll',
  nightly: 'tendril-nightly',
} as const;
export type FleetQueue = (typeof FLEET_QUEUES)[keyof typeof FLEET_QUEUES];

/** What a poll or nightly job carries: only the connection id. The worker reads the connection from its fleet view. */
export interface FleetJobData {
  readonly connectionId: string;
  /** The fleet row's version when the job was enqueued: a worker with an older copy reloads first. */
  readonly version: number;
  /** When the tick was due (database clock). */
  readonly dueAt?: string;
}

export interface FleetBossOptions {
  /** The store's PostgreSQL URL; pg-boss keeps its tables in `schema` of the same database. */
  readonly url: string;
  readonly schema: string;
  /** How often pg-boss looks for expired jobs (a killed worker's job is retried after its lease plus up to this). */
  readonly maintenanceSeconds: number;
  /** Connections of pg-boss's own pool. */
  readonly poolSize?: number;
  readonly logger: Logger;
}

/**
 * Starts pg-boss on the store's database (creating or upgrading its schema under its own advisory
 * lock, so workers starting together are safe) and creates the fleet's queues (idempotent).
 * Queues use the `standard` policy: pg-boss 10's `singleton`/`stately` policies can block a whole
 * queue when a retried and a new job share a key (timgit/pg-boss#535), so "one poll per connection"
 * is enforced by the enqueuer (one outstanding job per connection) and a per-connection lock instead.
 */
export async function startFleetBoss(options: FleetBossOptions): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: options.url,
    schema: options.schema,
    max: options.poolSize ?? 3,
    application_name: 'tendril-fleet',
    supervise: true,
    maintenanceIntervalSeconds: options.maintenanceSeconds,
    monitorStateIntervalSeconds: Math.max(options.maintenanceSeconds, 10),
    // pg-boss's own cron is not used: ticks are planned per connection in fleet_connections.
    schedule: false,
    archiveCompletedAfterSeconds: 3600,
    deleteAfterDays: 2,
  });
  // Without a listener an 'error' event would crash the process; pg-boss retries its loops itself.
  boss.on('error', (error: Error & { code?: string }) =>
    options.logger.warn(
      { event: 'fleet.boss_error', code: error.code ?? 'unknown' },
      'pg-boss reported an error; it retries by itself',
    ),
  );
  await boss.start();
  for (const name of Object.values(FLEET_QUEUES)) await boss.createQueue(name, { name, policy: 'standard' });
  return boss;
}
