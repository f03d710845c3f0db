import { createRateLimiter } from '@tendril/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../hub-context.js';
import type { EnrollmentRefusal } from '../store/sites.js';
import { problem } from './vendor-routes.js';

const REFUSALS: Record<EnrollmentRefusal, { status: number; code: string; message: string }> = {
  invalid: {
    status: 401,
    code: 'enrollment_key_invalid',
    message: 'this enrollment key is not one the hub issued; check it was copied whole',
  },
  used: {
    status: 409,
    code: 'enrollment_key_used',
    message:
      'this enrollment key was already used; ask the hub operator for a new one (tendril hub site enroll-key)',
  },
  expired: {
    status: 410,
    code: 'enrollment_key_expired',
    message: 'this enrollment key has expired (keys last 7 days); ask the hub operator for a new one',
  },
  revoked: { status: 403, code: 'site_revoked', message: 'this site was revoked on the hub' },
};

/**
 * Enrollment (docs/hub.md): `GET /v1/enroll` shows what the key opens without spending it (the
 * pre-filled install form); `POST /v1/enroll` spends it for the site's agent credential, revoking
 * any earlier credential of the site and closing its link (a replaced server).
 */
export function enrollRoutes(ctx: HubContext, hooks: { siteRevoked(siteId: string): Promise<void> }) {
  const perAddress = createRateLimiter({ perSecond: 2, burst: 20 });
  const log = ctx.logger.child({ component: 'enroll' });

  async function keyOf(request: FastifyRequest, reply: FastifyReply): Promise<string | undefined> {
    const wait = perAddress.take(request.ip);
    if (wait > 0) {
      await problem(
        reply.header('retry-after', String(wait)),
        429,
        'rate_limited',
        'too many enrollment attempts; retry later',
      );
      return undefined;
    }
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!token) {
      await problem(reply, 401, 'enrollment_key_invalid', 'send Authorization: Bearer <enrollment key>');
      return undefined;
    }
    return token;
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1/enroll', async (request, reply) => {
      const token = await keyOf(request, reply);
      if (!token) return reply;
      const outcome = await ctx.sites.peekEnrollment(token, ctx.now());
      if (!outcome.ok) {
        const refusal = REFUSALS[outcome.reason];
        return problem(reply, refusal.status, refusal.code, refusal.message);
      }
      return reply.header('cache-control', 'no-store').send(outcome.details);
    });

    app.post('/v1/enroll', async (request, reply) => {
      const token = await keyOf(request, reply);
      if (!token) return reply;
      const now = ctx.now();
      const outcome = await ctx.sites.enroll(token, now);
      if (!outcome.ok) {
        log.warn(
          { event: 'hub.enroll_refused', reason: outcome.reason, ip: request.ip },
          'enrollment refused',
        );
        const refusal = REFUSALS[outcome.reason];
        return problem(reply, refusal.status, refusal.code, refusal.message);
      }
      const siteId = outcome.details.siteId;
      await ctx.sites.audit(
        'agent',
        'site.enroll',
        siteId,
        { revokedCredentials: outcome.revokedCredentials },
        now,
      );
      if (outcome.revokedCredentials > 0) await hooks.siteRevoked(siteId);
      log.info({ event: 'hub.enrolled', siteId, replaced: outcome.revokedCredentials > 0 }, 'site enrolled');
      return reply
        .header('cache-control', 'no-store')
        .send({ ...outcome.details, credential: outcome.credential });
    });
  };
}
