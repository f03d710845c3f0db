import {
  canonicalJson,
  commandResource,
  isWritebackCommand,
  isWritebackInstant,
  parseWritebackInput,
  sha256Hex,
  uuidV7,
  writebackCapabilities,
  WRITEBACK_COMMANDS,
  WRITEBACK_DISABLED,
  type ConnectionConfig,
  type ConnectorDefinition,
  type WritebackFieldError,
} from '@tendril/core';
import { writebackResult, type ApiKeyRecord, type Store } from '@tendril/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { verifyApiKey } from './api-keys.js';
import { writebackOpenApi } from './openapi.js';
import { createRateLimiter } from './rate-limit.js';
import type { ApiLogger } from './api-logger.js';

/** What the writeback routes need from the agent. */
export interface WritebackApiOptions {
  readonly store: Store;
  readonly connections: readonly ConnectionConfig[];
  /** The connector of a connection (with the site's tableMap), for capabilities. */
  readonly connectorFor: (connection: ConnectionConfig) => ConnectorDefinition;
  /** Wakes the writeback worker after a command is queued (near real time instead of the next tick). */
  readonly kick: () => void;
  readonly now?: () => Date;
  /** Per API key. Default 50 requests/s, bursts of 100. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** Largest accepted request body. Default 64 KiB. */
  readonly bodyLimitBytes?: number;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
const ENVELOPE_FIELDS = new Set([
  'command',
  'connectionId',
  'idempotencyKey',
  'deadline',
  'expectedHash',
  'input',
]);

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

/**
 * The writeback routes (docs/writeback.md, "API"): `POST /v1/writebacks`, `GET /v1/writebacks/:id`,
 * `GET /v1/connections/:id/capabilities`, and the OpenAPI document. Registered as an encapsulated
 * plugin so its error handler (4xx with codes, never a stack) and body limit apply to it alone.
 */
export function writebackRoutes(options: WritebackApiOptions, logger: ApiLogger) {
  const now = options.now ?? (() => new Date());
  const connections = new Map(options.connections.map((c) => [c.id, c]));
  const perKey = createRateLimiter(options.rateLimit ?? { perSecond: 50, burst: 100 });
  // Before authentication, by address: slows key guessing without touching honest clients.
  const perAddress = createRateLimiter({ perSecond: 20, burst: 60 });
  const openApi = writebackOpenApi();

  /** Authenticates and rate-limits; sends 401/429 and returns undefined when the request stops here. */
  async function authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<ApiKeyRecord | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const key = token ? await verifyApiKey(options.store.writebacks, token) : undefined;
    if (!key) {
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
    const wait = perKey.take(key.id);
    if (wait > 0) {
      await problem(
        reply.header('retry-after', String(wait)),
        429,
        'rate_limited',
        'too many requests for this key; retry after the Retry-After delay',
      );
      return undefined;
    }
    return key;
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
    app.setErrorHandler((error: { statusCode?: number; code?: string }, _request, reply) => {
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
      const code =
        status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      const message =
        status === 413
          ? `the request body is larger than ${options.bodyLimitBytes ?? 65_536} bytes`
          : status === 415
            ? 'send Content-Type: application/json'
            : 'the request body is not valid JSON';
      return problem(reply, status, code, message);
    });

    app.get('/v1/openapi.json', async (_request, reply) =>
      reply.header('cache-control', 'no-store').send(openApi),
    );

    app.post('/v1/writebacks', { bodyLimit: options.bodyLimitBytes ?? 65_536 }, async (request, reply) => {
      const key = await authenticate(request, reply);
      if (!key) return reply;
      const body = request.body;
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        return problem(reply, 400, 'validation_failed', 'the body must be a JSON object', [
          { path: '(body)', message: 'must be an object' },
        ]);
      }
      const fields = body as Record<string, unknown>;
      const errors: WritebackFieldError[] = [];
      for (const name of Object.keys(fields))
        if (!ENVELOPE_FIELDS.has(name))
          errors.push({ path: name, message: 'is not a field of a writeback request' });
      const { command, connectionId, deadline, expectedHash } = fields;
      const header = request.headers['idempotency-key'];
      const idempotencyKey = fields['idempotencyKey'] ?? (typeof header === 'string' ? header : undefined);
      if (!isWritebackCommand(command))
        errors.push({ path: 'command', message: `must be one of ${WRITEBACK_COMMANDS.join(', ')}` });
      if (typeof connectionId !== 'string' || connectionId === '')
        errors.push({ path: 'connectionId', message: 'must be a connection id' });
      if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
        errors.push({
          path: 'idempotencyKey',
          message: 'is required (body or Idempotency-Key header): 1–200 printable ASCII characters',
        });
      }
      if (deadline !== undefined && (typeof deadline !== 'string' || !isWritebackInstant(deadline))) {
        errors.push({
          path: 'deadline',
          message:
            'must be a real ISO-8601 UTC instant ending in Z (hours 00–23), such as 2030-01-02T15:30:00Z',
        });
      }
      if (expectedHash !== undefined)
        errors.push({
          path: 'expectedHash',
          message: 'preconditions by hash are not available in this version yet; leave it out',
        });
      if (errors.length > 0)
        return problem(reply, 400, 'validation_failed', 'the request has problems; see errors', errors);

      const connection = await scoped(key, connectionId as string, reply);
      if (!connection) return reply;
      const cmd = command as (typeof WRITEBACK_COMMANDS)[number];
      const settings = connection.writeback ?? WRITEBACK_DISABLED;
      const accepted = now();
      // Real dates only, no births in the future, bookings inside the horizon: before anything is queued.
      const parsed = parseWritebackInput(cmd, fields['input'], {
        now: accepted,
        bookingHorizonDays: settings.bookingHorizonDays,
      });
      if (!parsed.ok)
        return problem(
          reply,
          400,
          'validation_failed',
          'the input does not fit the command; see errors',
          parsed.errors,
        );
      if (cmd === 'Patient.update' && 'birthDate' in parsed.input && !settings.allowBirthDateUpdate) {
        return problem(reply, 400, 'validation_failed', 'the input does not fit the command; see errors', [
          {
            path: 'input.birthDate',
            message: 'is not on this connection’s update allow-list (writeback.allowBirthDateUpdate)',
          },
        ]);
      }
      const capability = writebackCapabilities(options.connectorFor(connection).writeback, settings)[cmd];
      if (capability.state !== 'supported') {
        return problem(
          reply,
          422,
          'unsupported',
          `this connection cannot run ${cmd}: ${capability.reason ?? capability.state}`,
        );
      }

      let due =
        deadline === undefined
          ? accepted.getTime() + settings.defaultDeadlineSeconds * 1000
          : Date.parse(deadline as string);
      // An appointment is never written after it should have begun.
      const start = (parsed.input as { start?: string }).start;
      if ((cmd === 'Appointment.book' || cmd === 'Appointment.reschedule') && start !== undefined)
        due = Math.min(due, Date.parse(start));
      if (due <= accepted.getTime()) {
        // The start was checked to be in the future with the input: only the deadline can have passed.
        return problem(reply, 400, 'validation_failed', 'the deadline has already passed', [
          { path: 'deadline', message: 'must be in the future' },
        ]);
      }
      const payloadHash = sha256Hex(
        canonicalJson({
          command: cmd,
          connectionId,
          deadline: deadline ?? null,
          input: fields['input'] ?? null,
        }),
      );
      const result = await options.store.writebacks.accept({
        id: uuidV7(accepted.getTime()),
        clientId: key.id,
        connectionId: connection.id,
        command: cmd,
        idempotencyKey: idempotencyKey as string,
        payloadHash,
        input: parsed.input as Record<string, unknown>,
        resourceType: commandResource(cmd),
        acceptedAt: accepted.toISOString(),
        deadline: new Date(due).toISOString(),
      });
      switch (result.kind) {
        case 'created':
          logger.info(
            {
              event: 'api.writeback_accepted',
              writebackId: result.record.id,
              connectionId: connection.id,
              command: cmd,
              clientId: key.id,
            },
            'writeback accepted',
          );
          options.kick();
          return reply
            .code(202)
            .header('cache-control', 'no-store')
            .header('location', `/v1/writebacks/${result.record.id}`)
            .send({ id: result.record.id, status: 'accepted' });
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
      return reply.header('cache-control', 'no-store').send(writebackResult(record));
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
