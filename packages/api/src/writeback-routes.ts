import {
  writebackCapabilities,
  WRITEBACK_DISABLED,
  type ConnectionConfig,
  type WritebackFieldError,
} from '@tendril/core';
import { writebackResult, type ApiKeyRecord, type WritebackRecord } from '@tendril/store';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { verifyApiKey } from './api-keys.js';
import { acceptWritebackRequest } from './writeback-intake.js';
import { writebackOpenApi } from './openapi.js';
import type { ApiLogger } from './api-logger.js';
import type { WritebackApiOptions } from './writeback-api-options.js';

export type { WritebackApiOptions } from './writeback-api-options.js';

/** What the writeback routes need from the agent. */
function problem(
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

/** The longest `Prefer: wait` honoured, in seconds (docs/writeback.md, "Waiting for the outcome"). */
export const MAX_PREFER_WAIT_SECONDS = 30;

/** The seconds of an RFC 7240 `Prefer: wait=N` among the request's preferences, at most the cap; else 0. */
export function preferredWaitSeconds(header: string | string[] | undefined): number {
  for (const preference of [header ?? []].flat().flatMap((value) => value.split(','))) {
    const seconds = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(preference)?.[1];
    if (seconds !== undefined) return Math.min(Number(seconds), MAX_PREFER_WAIT_SECONDS);
  }
  return 0;
}

/**
 * The writeback routes (docs/writeback.md, "Lifecycle and guarantees"): `POST /v1/writebacks`, `GET /v1/writebacks/:id`,
 * `GET /v1/connections/:id/capabilities`, and the OpenAPI document. Registered as an encapsulated
 * plugin so its error handler (4xx with codes, never a stack) and body limit apply to it alone.
 */
export function writebackRoutes(options: WritebackApiOptions, logger: ApiLogger) {
  const connections = new Map(options.connections.map((c) => [c.id, c]));
  const perKey = options.rateLimit ?? { perSecond: 50, burst: 100 };
  // Before authentication, by address: slows key guessing without touching honest clients.
  const perAddress = { perSecond: 20, burst: 60 };
  const openApi = writebackOpenApi();
  /** The key each request authenticated with (set by the onRequest hook, read by the rate limit and routes). */
  const keys = new WeakMap<FastifyRequest, ApiKeyRecord>();

  /** The request's API key, or a 401 sent (and undefined) when it has none or a wrong one. */
  async function authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<ApiKeyRecord | undefined> {
    const key = keys.get(request);
    if (key) return key;
    logger.warn(
      { event: 'api.writeback_unauthorized', ip: request.ip },
      'writeback API call without a valid key',
    );
    await problem(
      reply.header('www-authenticate', 'Bearer'),
      401,
      'unauthorized',
      'send Authorization: Bearer <key> with a key from tendril api-key create',
    );
    return undefined;
  }

  /** 404 when no such connection is configured, 403 when the key is not scoped to it. */
  async function scoped(
    key: ApiKeyRecord,
    connectionId: string,
    reply: FastifyReply,
  ): Promise<ConnectionConfig | undefined> {
    const connection = connections.get(connectionId);
    if (!connection) {
      await problem(reply, 404, 'not_found', 'no connection has this id in the agent configuration');
      return undefined;
    }
    if (!key.connectionIds.includes(connectionId)) {
      await problem(
        reply,
        403,
        'forbidden',
        'this key is not scoped to that connection; create one with tendril api-key create --connection <id>',
      );
      return undefined;
    }
    return connection;
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    // Authenticate first, so the rate limit (@fastify/rate-limit, before the handler) counts per
    // key for authenticated calls and per address for the rest.
    app.addHook('onRequest', async (request) => {
      const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      const key = token ? await verifyApiKey(options.store.writebacks, token) : undefined;
      if (key) keys.set(request, key);
    });
    await app.register(rateLimit, {
      hook: 'preHandler',
      keyGenerator: (request) => {
        const key = keys.get(request);
        return key ? `key:${key.id}` : `ip:${request.ip}`;
      },
      max: (request) => (keys.has(request) ? perKey.burst : perAddress.burst),
      timeWindow: (request) =>
        Math.round(
          (keys.has(request) ? perKey.burst / perKey.perSecond : perAddress.burst / perAddress.perSecond) *
            1000,
        ),
      errorResponseBuilder: (request, context) => ({
        statusCode: 429,
        code: 'rate_limited',
        message: `too many requests${keys.has(request) ? ' for this key' : ''}; retry after ${context.after}`,
      }),
    });
    app.setErrorHandler(
      (error: { statusCode?: number; code?: string; message?: string }, _request, reply) => {
        const status =
          typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
            ? error.statusCode
            : 500;
        if (status === 500) {
          logger.error(
            {
              event: 'api.writeback_failed',
              code: typeof error.code === 'string' ? error.code : 'TENDRIL_E_INTERNAL',
            },
            'writeback API failed',
          );
          return problem(reply, 500, 'internal', 'unexpected failure; see the agent log');
        }
        if (status === 429)
          return problem(
            reply,
            429,
            'rate_limited',
            error.message ?? 'too many requests; retry after the Retry-After delay',
          );
        const code =
          status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
        const message =
          status === 413
            ? `the request body is larger than ${options.bodyLimitBytes ?? 65_536} bytes`
            : status === 415
              ? 'send Content-Type: application/json'
              : 'the request body is not valid JSON';
        return problem(reply, status, code, message);
      },
    );

    /**
     * Waits (RFC 7240 `Prefer: wait`) until the worker has stored the command's final state or
     * `waitSeconds` pass, and returns the command as stored then. Listens first, then reads again,
     * so a finish between the two reads is never missed; a client that hangs up ends the wait (the
     * response's close comes before it is sent only then).
     */
    async function untilFinished(
      record: WritebackRecord,
      waitSeconds: number,
      reply: FastifyReply,
    ): Promise<WritebackRecord | undefined> {
      const { whenFinished } = options;
      if (!whenFinished) return record;
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      try {
        const finished = whenFinished(record.id, waitSeconds * 1000, gone.signal);
        const now = await options.store.writebacks.get(record.id);
        if (now?.phase !== 'done') await finished;
        else gone.abort();
      } finally {
        reply.raw.off('close', onClose);
      }
      return options.store.writebacks.get(record.id);
    }

    app.get('/v1/openapi.json', async (_request, reply) =>
      reply.header('cache-control', 'no-store').send(openApi),
    );

    app.post('/v1/writebacks', { bodyLimit: options.bodyLimitBytes ?? 65_536 }, async (request, reply) => {
      const key = await authenticate(request, reply);
      if (!key) return reply;
      const header = request.headers['idempotency-key'];
      const result = await acceptWritebackRequest(options, key, request.body, {
        ...(typeof header === 'string' ? { headerKey: header } : {}),
      });
      switch (result.kind) {
        case 'rejected':
          return problem(reply, result.status, result.code, result.message, result.errors);
        case 'created': {
          logger.info(
            {
              event: 'api.writeback_accepted',
              writebackId: result.record.id,
              connectionId: result.record.connectionId,
              command: result.record.command,
              clientId: key.id,
            },
            'writeback accepted',
          );
          reply.header('cache-control', 'no-store').header('location', `/v1/writebacks/${result.record.id}`);
          // Prefer: wait=N on the POST: one request for a client that wants the outcome (no GET).
          const waitSeconds = options.whenFinished ? preferredWaitSeconds(request.headers.prefer) : 0;
          if (waitSeconds > 0) {
            const latest = await untilFinished(result.record, waitSeconds, reply);
            reply.header('preference-applied', `wait=${waitSeconds}`);
            if (latest?.phase === 'done') return reply.code(200).send(writebackResult(latest));
          }
          return reply.code(202).send({ id: result.record.id, status: 'accepted' });
        }
        case 'existing':
          return reply.code(200).header('cache-control', 'no-store').send(writebackResult(result.record));
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
    });

    app.get<{ Params: { id: string } }>('/v1/writebacks/:id', async (request, reply) => {
      const key = await authenticate(request, reply);
      if (!key) return reply;
      const record = /^[0-9a-f-]{36}$/.test(request.params.id)
        ? await options.store.writebacks.get(request.params.id)
        : undefined;
      // Another client's command is indistinguishable from none.
      if (!record || record.clientId !== key.id)
        return problem(reply, 404, 'not_found', 'no writeback of this client has this id');
      const waitSeconds = options.whenFinished ? preferredWaitSeconds(request.headers.prefer) : 0;
      if (waitSeconds === 0 || record.phase === 'done')
        return reply.header('cache-control', 'no-store').send(writebackResult(record));
      const latest = (await untilFinished(record, waitSeconds, reply)) ?? record;
      return reply
        .header('cache-control', 'no-store')
        .header('preference-applied', `wait=${waitSeconds}`)
        .send(writebackResult(latest));
    });

    app.get<{ Params: { id: string } }>('/v1/connections/:id/capabilities', async (request, reply) => {
      const key = await authenticate(request, reply);
      if (!key) return reply;
      const connection = await scoped(key, request.params.id, reply);
      if (!connection) return reply;
      const connector = options.connectorFor(connection);
      return reply.header('cache-control', 'no-store').send({
        connectionId: connection.id,
        connector: connector.id,
        verification: connector.writeback?.verification ?? null,
        commands: writebackCapabilities(connector.writeback, connection.writeback ?? WRITEBACK_DISABLED),
      });
    });
  };
}
