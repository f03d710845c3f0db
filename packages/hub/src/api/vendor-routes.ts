import {
  commandResource,
  createRateLimiter,
  parseWritebackEnvelope,
  parseWritebackInput,
  uuidV7,
  writebackDeadline,
  writebackPayloadHash,
  type WritebackFieldError,
} from '@tendril/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../hub-context.js';
import { keySees, type VendorPrincipal } from '../store/api-keys.js';
import type { SiteRecord } from '../store/sites.js';
import { hubWritebackResult } from '../store/writebacks.js';
import { buildOpenApi, type RouteDoc } from './openapi.js';
import {
  ErrorBody,
  EventsPage,
  EventsQuery,
  SiteList,
  SiteParams,
  SiteView,
  WritebackAccepted,
  WritebackParams,
  WritebackRequestBody,
  WritebackView,
} from './schemas.js';
import type { z } from 'zod';

const DEFAULT_DEADLINE_SECONDS = 600;
const DEFAULT_PAGE = 100;

export function problem(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  errors?: readonly WritebackFieldError[],
) {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ code, message, ...(errors ? { errors } : {}) });
}

const NOT_FOUND_SITE = 'no site of this key has this id';

/** Opaque page cursors: a position in the site's log, not to be built by hand. */
export function encodeCursor(siteSeq: number): string {
  return Buffer.from(`v1:${siteSeq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^v1:(\d{1,16})$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

interface HelloView {
  connections?: {
    id: string;
    capabilities?: Record<string, { state: string; reason?: string }>;
    defaultDeadlineSeconds?: number;
  }[];
}
interface StatusView {
  health?: 'ok' | 'degraded' | 'down';
  problems?: string[];
  reportedAt?: string;
  connections?: {
    id: string;
    streams?: {
      stream: string;
      status: string;
      stale: boolean;
      lagSeconds: number | null;
      lastSuccessAt: string | null;
      lastErrorCode: string | null;
    }[];
  }[];
}

/** The vendor's view of a site (health, version, last seen, per-stream lag, last write). */
export async function siteView(
  ctx: HubContext,
  site: SiteRecord,
  live: ReadonlySet<string>,
): Promise<z.infer<typeof SiteView>> {
  const status = (site.status ?? {}) as StatusView;
  const online = site.linkNode !== undefined && live.has(site.linkNode);
  return {
    id: site.id,
    name: site.name,
    connector: site.connector,
    connectionIds: [...site.connectionIds],
    online,
    presence: site.presence,
    health: status.health ?? 'unknown',
    agentVersion: site.agentVersion ?? null,
    lastSeenAt: online ? ctx.now().toISOString() : (site.lastSeenAt ?? null),
    linkOpenedAt: online ? (site.linkOpenedAt ?? null) : null,
    statusReportedAt: status.reportedAt ?? null,
    problems: status.problems ?? [],
    streams: (status.connections ?? []).flatMap((c) =>
      (c.streams ?? []).map((s) => ({
        connectionId: c.id,
        stream: s.stream,
        status: s.status,
        stale: s.stale,
        lagSeconds: s.lagSeconds,
        lastSuccessAt: s.lastSuccessAt,
        lastErrorCode: s.lastErrorCode,
      })),
    ),
    lastWriteAt: (await ctx.writebacks.lastWrite(site.id)) ?? null,
    revoked: site.revokedAt !== undefined,
  };
}

/** Every documented vendor route (the OpenAPI document is built from this list). */
export const VENDOR_ROUTES: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/sites',
    summary: "The key's sites with their health",
    responses: {
      200: { description: 'Sites', schema: SiteList },
      401: { description: 'No valid key', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/sites/{site}',
    summary: 'One site: online, version, last seen, per-stream lag and last successful read, last write',
    params: SiteParams,
    responses: {
      200: { description: 'The site', schema: SiteView },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: 'No site of this key has this id', schema: ErrorBody },
    },
  },
  {
    method: 'post',
    path: '/v1/sites/{site}/writebacks',
    summary:
      "Queue a writeback for the site's agent (same body and answers as the agent's POST /v1/writebacks)",
    params: SiteParams,
    headers: [{ name: 'Idempotency-Key', description: 'instead of the body field idempotencyKey' }],
    body: WritebackRequestBody,
    responses: {
      202: { description: 'Stored in the hub; routed to the agent', schema: WritebackAccepted },
      200: { description: 'Same idempotency key and payload: the existing command', schema: WritebackView },
      400: { description: 'Invalid request or input; errors lists each field', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
      404: {
        description: 'No site of this key has this id, or no connection of the site has connectionId',
        schema: ErrorBody,
      },
      409: { description: 'idempotency_key_reused: same key, different payload', schema: ErrorBody },
      413: { description: 'Request body too large', schema: ErrorBody },
      422: { description: 'unsupported: the connection cannot run this command', schema: ErrorBody },
      429: { description: 'Rate limited; see Retry-After', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/writebacks/{id}',
    summary: "A command's state, with the re-read resource or a coded error",
    params: WritebackParams,
    responses: {
      200: { description: 'The command', schema: WritebackView },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: 'No command of this vendor has this id', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/sites/{site}/events',
    summary: "The site's event log, oldest first, paged by an opaque cursor (pull)",
    params: SiteParams,
    query: EventsQuery,
    responses: {
      200: { description: 'A page of events', schema: EventsPage },
      400: { description: 'A bad cursor or limit', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: 'No site of this key has this id', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document',
    authenticated: false,
    responses: { 200: { description: 'OpenAPI 3.1' } },
  },
];

/**
 * The vendor API (docs/hub.md): Bearer keys checked in constant time and rate-limited; a key sees
 * only its vendor's sites (narrowed to some when it says so), and anything else is answered
 * exactly like a site that does not exist.
 */
export function vendorRoutes(ctx: HubContext, extraDocs: readonly RouteDoc[] = []) {
  const perKey = createRateLimiter(ctx.config.api.rateLimit);
  const perAddress = createRateLimiter({ perSecond: 20, burst: 60 });
  const openApi = buildOpenApi([...VENDOR_ROUTES, ...extraDocs], { version: ctx.version });
  const log = ctx.logger.child({ component: 'vendor-api' });

  async function authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<VendorPrincipal | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const principal = token ? await ctx.keys.authenticate(token, ctx.now()) : undefined;
    if (!principal) {
      const wait = perAddress.take(request.ip);
      if (wait > 0) {
        await problem(
          reply.header('retry-after', String(wait)),
          429,
          'rate_limited',
          'too many requests; retry after the Retry-After delay',
        );
        return undefined;
      }
      log.warn({ event: 'hub.api_unauthorized', ip: request.ip }, 'vendor API call without a valid key');
      await problem(
        reply.header('www-authenticate', 'Bearer'),
        401,
        'unauthorized',
        'send Authorization: Bearer <key> with a key from tendril hub api-key create',
      );
      return undefined;
    }
    const wait = perKey.take(principal.keyId);
    if (wait > 0) {
      await problem(
        reply.header('retry-after', String(wait)),
        429,
        'rate_limited',
        'too many requests for this key; retry after the Retry-After delay',
      );
      return undefined;
    }
    return principal;
  }

  /** The site if this key may see it; otherwise a 404 indistinguishable from a missing site. */
  async function visibleSite(
    principal: VendorPrincipal,
    params: unknown,
    reply: FastifyReply,
  ): Promise<SiteRecord | undefined> {
    const parsed = SiteParams.safeParse(params);
    const site = parsed.success ? await ctx.sites.getSite(parsed.data.site) : undefined;
    if (!site || !keySees(principal, site) || site.purgedAt) {
      await problem(reply, 404, 'not_found', NOT_FOUND_SITE);
      return undefined;
    }
    return site;
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler((error: { statusCode?: number; code?: string }, _request, reply) => {
      const status =
        typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
          ? error.statusCode
          : 500;
      if (status === 500) {
        log.error(
          {
            event: 'hub.api_failed',
            code: typeof error.code === 'string' ? error.code : 'TENDRIL_E_INTERNAL',
          },
          'vendor API failed',
        );
        return problem(reply, 500, 'internal', 'unexpected failure; see the hub log');
      }
      const code =
        status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      const message =
        status === 413
          ? `the request body is larger than ${ctx.config.api.bodyLimitBytes} bytes`
          : status === 415
            ? 'send Content-Type: application/json'
            : 'the request body is not valid JSON';
      return problem(reply, status, code, message);
    });

    app.get('/v1/openapi.json', async (_request, reply) =>
      reply.header('cache-control', 'no-store').send(openApi),
    );

    app.get('/v1/sites', async (request, reply) => {
      const principal = await authenticate(request, reply);
      if (!principal) return reply;
      const sites = await ctx.sites.listSites({
        vendorId: principal.vendorId,
        ...(principal.sites === '*' ? {} : { siteIds: principal.sites }),
      });
      const live = await ctx.liveNodes();
      const views = [];
      for (const site of sites) if (!site.purgedAt) views.push(await siteView(ctx, site, live));
      return reply.header('cache-control', 'no-store').send({ sites: views });
    });

    app.get('/v1/sites/:site', async (request, reply) => {
      const principal = await authenticate(request, reply);
      if (!principal) return reply;
      const site = await visibleSite(principal, request.params, reply);
      if (!site) return reply;
      return reply.header('cache-control', 'no-store').send(await siteView(ctx, site, await ctx.liveNodes()));
    });

    app.post(
      '/v1/sites/:site/writebacks',
      { bodyLimit: ctx.config.api.bodyLimitBytes },
      async (request, reply) => {
        const principal = await authenticate(request, reply);
        if (!principal) return reply;
        const site = await visibleSite(principal, request.params, reply);
        if (!site) return reply;
        const header = request.headers['idempotency-key'];
        const parsed = parseWritebackEnvelope(request.body, typeof header === 'string' ? header : undefined);
        if (!parsed.ok) {
          const whole = parsed.errors.length === 1 && parsed.errors[0]!.path === '(body)';
          return problem(
            reply,
            400,
            'validation_failed',
            whole ? 'the body must be a JSON object' : 'the request has problems; see errors',
            parsed.errors,
          );
        }
        const envelope = parsed.envelope;
        if (!site.connectionIds.includes(envelope.connectionId) || site.revokedAt)
          return problem(reply, 404, 'not_found', 'no connection of this site has this id');
        const input = parseWritebackInput(envelope.command, envelope.input);
        if (!input.ok)
          return problem(
            reply,
            400,
            'validation_failed',
            'the input does not fit the command; see errors',
            input.errors,
          );
        const connection = (site.hello as HelloView | undefined)?.connections?.find(
          (c) => c.id === envelope.connectionId,
        );
        const capability = connection?.capabilities?.[envelope.command];
        if (capability && capability.state !== 'supported') {
          return problem(
            reply,
            422,
            'unsupported',
            `this connection cannot run ${envelope.command}: ${capability.reason ?? capability.state}`,
          );
        }
        const accepted = ctx.now();
        const due = writebackDeadline(
          envelope,
          input.input,
          accepted.getTime(),
          connection?.defaultDeadlineSeconds ?? DEFAULT_DEADLINE_SECONDS,
        );
        if (!due.ok)
          return problem(
            reply,
            400,
            'validation_failed',
            'the deadline (or the appointment start) has already passed',
            [due.error],
          );
        const result = await ctx.writebacks.accept({
          id: uuidV7(accepted.getTime()),
          vendorId: principal.vendorId,
          keyId: principal.keyId,
          siteId: site.id,
          connectionId: envelope.connectionId,
          command: envelope.command,
          idempotencyKey: envelope.idempotencyKey,
          payloadHash: writebackPayloadHash(envelope),
          input: input.input,
          resourceType: commandResource(envelope.command),
          acceptedAt: accepted,
          deadline: new Date(due.deadlineMs),
        });
        switch (result.kind) {
          case 'created':
            log.info(
              {
                event: 'hub.writeback_accepted',
                writebackId: result.row.id,
                siteId: site.id,
                command: envelope.command,
                keyId: principal.keyId,
              },
              'writeback accepted',
            );
            // The row is committed: the node holding the site's link (any node) is woken up.
            await ctx.hubDb.notify({ kind: 'writeback', siteId: site.id }).catch(() => undefined);
            return reply
              .code(202)
              .header('cache-control', 'no-store')
              .header('location', `/v1/writebacks/${result.row.id}`)
              .send({ id: result.row.id, status: 'accepted' });
          case 'existing':
            return reply.code(200).header('cache-control', 'no-store').send(hubWritebackResult(result.row));
          case 'key-reused':
            return problem(
              reply,
              409,
              'idempotency_key_reused',
              'this idempotency key was used with a different payload; use a new key for a new command',
            );
          default:
            return result satisfies never;
        }
      },
    );

    app.get('/v1/writebacks/:id', async (request, reply) => {
      const principal = await authenticate(request, reply);
      if (!principal) return reply;
      const params = WritebackParams.safeParse(request.params);
      const row = params.success ? await ctx.writebacks.get(params.data.id) : undefined;
      const site = row ? await ctx.sites.getSite(row.site_id) : undefined;
      // Another vendor's command, or one of a site this key may not see, is indistinguishable from none.
      if (!row || !site || row.vendor_id !== principal.vendorId || !keySees(principal, site))
        return problem(reply, 404, 'not_found', 'no writeback of this vendor has this id');
      return reply.header('cache-control', 'no-store').send(hubWritebackResult(row));
    });

    app.get('/v1/sites/:site/events', async (request, reply) => {
      const principal = await authenticate(request, reply);
      if (!principal) return reply;
      const site = await visibleSite(principal, request.params, reply);
      if (!site) return reply;
      const query = EventsQuery.safeParse(request.query);
      if (!query.success) {
        return problem(
          reply,
          400,
          'validation_failed',
          'the query has problems; see errors',
          query.error.issues.map((i) => ({
            path: i.path.map(String).join('.') || '(query)',
            message: i.message,
          })),
        );
      }
      const after = query.data.after === undefined ? 0 : decodeCursor(query.data.after);
      if (after === undefined)
        return problem(reply, 400, 'validation_failed', 'after is not a cursor this API returned', [
          { path: 'after', message: 'pass the next value of the previous page, unchanged' },
        ]);
      const limit = Math.min(query.data.limit ?? DEFAULT_PAGE, ctx.config.api.maxPageSize);
      const events = await ctx.events.list(site.id, after, limit);
      const last = events.at(-1)?.siteSeq ?? after;
      await ctx.events.logAccess({
        vendorId: principal.vendorId,
        keyId: principal.keyId,
        siteId: site.id,
        action: 'events.read',
        events: events.length,
        afterSeq: after,
        lastSeq: events.length > 0 ? last : null,
        at: ctx.now(),
      });
      return reply.header('cache-control', 'no-store').send({
        events: events.map((e) => e.envelope),
        next: encodeCursor(last),
        more: events.length === limit,
      });
    });
  };
}
