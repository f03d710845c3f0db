import { z } from 'zod';

/**
 * `fleet:` — this agent is one worker of a fleet (docs/fleet.md): its connections live in the
 * PostgreSQL store (`tendril connections add|list|remove`), polls and nightly jobs are pg-boss jobs
 * that any worker may take, and deliveries are shared through the store's leases. A fleet needs
 * `store: { postgres }`; the config file then needs no `connections`.
 */
export const FleetConfig = z
  .object({
    /** Poll and nightly jobs this worker runs at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** How often the worker re-reads the fleet's connections (added, changed, removed). */
    reloadSeconds: z.number().int().min(1).max(3600).default(30),
    /** How often the worker enqueues the polls and nightly jobs that are due (any worker may; each is enqueued once). */
    tickSeconds: z.number().int().min(1).max(600).default(5),
    /**
     * How long a job may stay taken (pg-boss `expireIn`): the job of a worker killed mid-poll is
     * handed to another worker after this. A live worker still polling past it keeps its
     * connection lock, so the retry waits (never two polls of one connection at once).
     */
    leaseSeconds: z.number().int().min(5).max(86_400).default(900),
    /** pg-boss checks for expired jobs this often. */
    maintenanceSeconds: z.number().int().min(1).max(3600).default(60),
    /** The PostgreSQL schema pg-boss keeps its queues in (in the store's database). */
    bossSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case identifier')
      .default('tendril_boss'),
  })
  .strict();
export type FleetConfig = z.infer<typeof FleetConfig>;

export const DEFAULT_FLEET_CONFIG: FleetConfig = {
  concurrency: 4,
  reloadSeconds: 30,
  tickSeconds: 5,
  leaseSeconds: 900,
  maintenanceSeconds: 60,
  bossSchema: 'tendril_boss',
};

/** `fleet: true` is `fleet: {}` (all defaults). */
export const FleetSetting = z.preprocess((value) => (value === true ? {} : value), FleetConfig);
