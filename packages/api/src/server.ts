import { isTendrilError, TendrilError } from '@tendril/core';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiLogger } from './api-logger.js';
import { createAgentMetrics, type AgentMetrics } from './metrics.js';
import { healthOf, type AgentState, type StatusSnapshot } from './status.js';
import { renderStatusPage } from './status-page.js';
import { writebackRoutes, type WritebackApiOptions } from './writeback-routes.js';

export type { ApiLogger } from './api-logger.js';

export interface ApiServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests); the agent's default is 8787. */
  readonly port: number;
  /** Builds a fresh snapshot for each request. */
  readonly status: () => Promise<StatusSnapshot>;
  /**
   * The agent loop's state, for `/healthz` (liveness) without building a snapshot. Absent: taken
   * from the snapshot.
   */
  readonly liveness?: () => {
    readonly state: AgentState;
    readonly uptimeSeconds: number;
    readonly version: string;
  };
  /** The metrics the agent observes into; absent: a fresh set (process defaults and snapshot gauges only). */
  readonly metrics?: AgentMetrics;
  readonly logger: ApiLogger;
  /** `POST /v1/agent/restart`; absent: the route is not offered (no site key, or not supervised). */
  readonly restart?: RestartEndpoint;
  /** The writeback API (`/v1/writebacks`, capabilities, OpenAPI); absent: not offered. Authenticated by API keys. */
  readonly writeback?: WritebackApiOptions;
}

/**
 * The authenticated restart request (the remote "restart the agent" of an install): the caller
 * sends `Authorization: Bearer <site secret key>`; the agent asks its supervisor for a restart.
 */
export interface RestartEndpoint {
  /** True when the bearer token is the site key (compared in constant time). */
  authorize(token: string): boolean;
  /** Asks the supervisor; throws a TendrilError when the agent is not supervised. */
  request(reason: string): void;
}

export interface ApiServer {
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:8787`). */
  listen(): Promise<string>;
  close(): Promise<void>;
  /** For `inject()` in tests. */
  readonly app: FastifyInstance;
}

/** The page is self-contained: nothing may load from elsewhere, and no script runs. */
const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The agent's local HTTP API (docs/running.md): `GET /` (status page), `GET /healthz` (liveness:
 * 200 while the agent loop runs), `GET /readyz` (readiness: 200 when nothing needs attention,
 * 503 with the reasons), `GET /metrics` (Prometheus text, prom-client) and `GET /v1/status` (the
 * snapshot as JSON). Read-only and unauthenticated, which is why it binds to loopback by default;
 * it carries no patient data (counts, times, codes only).
 */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const app = Fastify({ logger: false });

  async function snapshot(): Promise<StatusSnapshot> {
    try {
      return await options.status();
    } catch (error) {
      options.logger.error(
        { code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL', event: 'api.status_failed' },
        'building the status snapshot failed',
      );
      throw error instanceof TendrilError
        ? error
        : new TendrilError('TENDRIL_E_INTERNAL', 'building the status failed; see the agent log', {
            cause: error,
          });
    }
  }

  app.setErrorHandler((error, _request, reply) => {
    const code = isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
    const message = isTendrilError(error) ? error.message : 'unexpected failure; see the agent log';
    void reply.code(500).header('cache-control', 'no-store').send({ code, message });
  });

  app.get('/', async (_request, reply) => {
    const html = renderStatusPage(await snapshot());
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .send(html);
  });

  // Liveness: the process answers and its agent loop runs. Never the store or the EHR: restarting
  // would not fix a database outage, so a failing stream must not fail this probe.
  app.get('/healthz', async (_request, reply) => {
    let live: { state: AgentState; uptimeSeconds: number; version: string };
    try {
      live = options.liveness
        ? options.liveness()
        : await snapshot().then((s) => ({
            state: s.agent.state,
            uptimeSeconds: s.agent.uptimeSeconds,
            version: s.agent.version,
          }));
    } catch {
      return reply.code(503).header('cache-control', 'no-store').send({ status: 'unknown', live: false });
    }
    const running = live.state === 'starting' || live.state === 'running';
    return reply
      .code(running ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: running ? 'live' : live.state, live: running, ...live });
  });

  // Readiness: 200 only when nothing needs attention; 503 lists every reason.
  app.get('/readyz', async (_request, reply) => {
    let verdict;
    try {
      verdict = healthOf(await snapshot());
    } catch (error) {
      const code = isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
      return reply
        .code(503)
        .header('cache-control', 'no-store')
        .send({ status: 'down', live: true, ready: false, problems: [`status: ${code}`] });
    }
    return reply
      .code(verdict.ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(verdict);
  });

  const metrics = options.metrics ?? createAgentMetrics();
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.render(await snapshot());
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
  });

  app.get('/v1/status', async (_request, reply) => {
    return reply.header('cache-control', 'no-store').send(await snapshot());
  });

  if (options.writeback) void app.register(writebackRoutes(options.writeback, options.logger));

  const restart = options.restart;
  if (restart) {
    app.post('/v1/agent/restart', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      if (!token || !restart.authorize(token)) {
        options.logger.warn(
          { event: 'api.restart_unauthorized', ip: request.ip },
          'restart refused: missing or wrong site key',
        );
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .header('cache-control', 'no-store')
          .send({ code: 'TENDRIL_E_UNAUTHORIZED', message: 'send Authorization: Bearer <site secret key>' });
      }
      try {
        restart.request('api');
      } catch (error) {
        const code = isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL';
        const message = isTendrilError(error) ? error.message : 'unexpected failure; see the agent log';
        return reply.code(409).header('cache-control', 'no-store').send({ code, message });
      }
      options.logger.info(
        { event: 'api.restart_requested', ip: request.ip },
        'restart requested through the API',
      );
      return reply.code(202).header('cache-control', 'no-store').send({ status: 'restarting' });
    });
  }

  return {
    app,
    async listen() {
      if (!isLoopback(options.host)) {
        options.logger.warn(
          { host: options.host, event: 'api.exposed' },
          'the status API listens beyond loopback and has no authentication; restrict access with a firewall',
        );
      }
      const url = await app.listen({ host: options.host, port: options.port });
      options.logger.info({ url, event: 'api.listening' }, 'status page and health endpoints are up');
      return url;
    },
    async close() {
      await app.close();
    },
  };
}
