import { isTendrilError } from '@tendril/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { tokensMatch } from '../credentials.js';
import type { HubAdmin } from '../admin.js';
import type { HubLogger } from '../logger.js';

/**
 * The running hub's admin endpoint: a separate listener on 127.0.0.1 (never the public address),
 * `POST /admin/v1/<operation>` with the local admin token from the hub's data folder. This is how
 * `tendril hub site|api-key|user …` reach a hub whose PGlite folder they may not open themselves.
 */
export async function startAdminEndpoint(options: {
  admin: HubAdmin;
  token: string;
  logger: HubLogger;
}): Promise<{ url: string; app: FastifyInstance; close(): Promise<void> }> {
  const app = Fastify({ logger: false, bodyLimit: 65_536 });
  app.post<{ Params: { op: string } }>('/admin/v1/:op', async (request, reply) => {
    const address = request.socket.remoteAddress ?? '';
    const loopback = address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1';
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!loopback || !token || !tokensMatch(token, options.token)) {
      options.logger.warn({ event: 'hub.admin_unauthorized', ip: address }, 'admin call refused');
      return reply
        .code(401)
        .send({ code: 'TENDRIL_E_UNAUTHORIZED', message: 'the local admin token is required' });
    }
    try {
      const result = await options.admin.run(request.params.op, request.body ?? {});
      return reply.header('cache-control', 'no-store').send({ ok: true, result });
    } catch (error) {
      if (isTendrilError(error) && !error.retryable)
        return reply.code(400).send({ ok: false, code: error.code, message: error.message });
      options.logger.error(
        {
          event: 'hub.admin_failed',
          code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
          op: request.params.op,
        },
        'admin operation failed',
      );
      return reply
        .code(500)
        .send({ ok: false, code: 'TENDRIL_E_INTERNAL', message: 'the operation failed; see the hub log' });
    }
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, app, close: () => app.close() };
}
