import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { HubContext } from '../hub-context.js';

/** What the health and metrics routes read from the running node. */
export interface NodeState {
  state(): 'starting' | 'running' | 'stopping';
  links(): number;
  counters(): Readonly<Record<string, number>>;
}

const METRICS = [
  ['tendril_hub_ready', 'gauge', '1 when the node runs with a working database, else 0.'],
  ['tendril_hub_links', 'gauge', 'Agent links open on this node.'],
  ['tendril_hub_events_stored_total', 'counter', 'Relayed events stored by this node (duplicates excluded).'],
  [
    'tendril_hub_events_duplicate_total',
    'counter',
    'Relayed events this node acknowledged without storing (already held).',
  ],
  ['tendril_hub_writebacks_open', 'gauge', 'Writebacks not yet final, over the whole hub.'],
  ['tendril_hub_sites', 'gauge', 'Sites by presence, over the whole hub.'],
  [
    'tendril_hub_deliveries',
    'gauge',
    'Webhook deliveries waiting (pending) and dead-lettered (dead), over the whole hub.',
  ],
] as const;

/**
 * `/healthz` (the process answers), `/readyz` (running, and the database answers) and `/metrics`
 * (Prometheus text), as on the agent. Unauthenticated and free of PHI: counts and states only.
 */
export function healthRoutes(ctx: HubContext, node: NodeState) {
  async function databaseOk(): Promise<boolean> {
    try {
      await sql`SELECT 1`.execute(ctx.hubDb.db);
      return true;
    } catch {
      return false;
    }
  }
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/healthz', async (_request, reply) =>
      reply.header('cache-control', 'no-store').send({ status: 'ok', live: true, node: ctx.nodeId }),
    );
    app.get('/readyz', async (_request, reply) => {
      const ok = node.state() === 'running' && (await databaseOk());
      return reply
        .code(ok ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ ready: ok, state: node.state(), node: ctx.nodeId });
    });
    app.get('/metrics', async (_request, reply) => {
      const ready = node.state() === 'running' && (await databaseOk());
      const counters = node.counters();
      let open = 0;
      const presence: Record<string, number> = { never: 0, online: 0, offline: 0 };
      const deliveries: Record<string, number> = {};
      if (ready) {
        const row = await ctx.hubDb.db
          .selectFrom('hub_writebacks')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('phase', '<>', 'done')
          .executeTakeFirst();
        open = Number(row?.n ?? 0);
        const rows = await ctx.hubDb.db
          .selectFrom('hub_sites')
          .select(['presence', (eb) => eb.fn.countAll<number>().as('n')])
          .where('purged_at', 'is', null)
          .groupBy('presence')
          .execute();
        for (const r of rows) presence[r.presence] = Number(r.n);
        if (ctx.delivery)
          for (const status of ['pending', 'dead'] as const)
            deliveries[status] = await ctx.delivery.store.deliveries.count({ status });
      }
      const values: Record<string, string[]> = {
        tendril_hub_ready: [`tendril_hub_ready ${ready ? 1 : 0}`],
        tendril_hub_links: [`tendril_hub_links ${node.links()}`],
        tendril_hub_events_stored_total: [`tendril_hub_events_stored_total ${counters['stored'] ?? 0}`],
        tendril_hub_events_duplicate_total: [
          `tendril_hub_events_duplicate_total ${counters['duplicates'] ?? 0}`,
        ],
        tendril_hub_writebacks_open: ready ? [`tendril_hub_writebacks_open ${open}`] : [],
        tendril_hub_sites: ready
          ? Object.entries(presence).map(([p, n]) => `tendril_hub_sites{presence="${p}"} ${n}`)
          : [],
        tendril_hub_deliveries: Object.entries(deliveries).map(
          ([status, n]) => `tendril_hub_deliveries{status="${status}"} ${n}`,
        ),
      };
      const text = METRICS.flatMap(([name, type, help]) => [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} ${type}`,
        ...values[name]!,
      ]).join('\n');
      return reply
        .header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(`${text}\n`);
    });
  };
}
