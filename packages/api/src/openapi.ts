import {
  WRITEBACK_COMMANDS,
  WRITEBACK_ERROR_CODES,
  WRITEBACK_STATUSES,
  writebackInputJsonSchemas,
} from '@tendril/core';

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json({ $ref: '#/components/schemas/Error' }) });

/**
 * The OpenAPI 3.1 document of the writeback API, served at `/v1/openapi.json`. Command inputs are
 * generated from the same zod schemas the API validates with, so the document cannot drift from
 * what is enforced (cross-field rules such as `end > start` are stated in descriptions).
 */
export function writebackOpenApi(): Record<string, unknown> {
  const schemas = writebackInputJsonSchemas();
  const inputs = Object.fromEntries(
    WRITEBACK_COMMANDS.map((command) => [`${command.replace('.', '')}Input`, schemas[command]]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tendril writeback API',
      version: '1',
      description:
        'Book, cancel, confirm and reschedule appointments and create or update patients in the EHR (docs/writeback.md). Send Authorization: Bearer <key> (tendril api-key create).',
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A key from tendril api-key create, scoped to connections.',
        },
      },
      schemas: {
        ...inputs,
        WritebackRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['command', 'connectionId', 'input'],
          properties: {
            command: { enum: [...WRITEBACK_COMMANDS] },
            connectionId: { type: 'string' },
            idempotencyKey: {
              type: 'string',
              maxLength: 200,
              description:
                'Required here or as the Idempotency-Key header; scoped to (client, connection), kept 30 days.',
            },
            deadline: {
              type: 'string',
              format: 'date-time',
              description:
                'A real UTC instant ending in Z (hours 00–23), in the future. Default: accepted + 10 minutes; book and reschedule are capped at the new start.',
            },
            input: {
              description:
                'The command input (one of the *Input schemas, chosen by command). Dates and instants must be real (no Feb 30, no T24:00); end is after start and at most 24 hours later; start is in the future and at most writeback.bookingHorizonDays (default 730) days ahead; birthDate is from 1900-01-01 to today; no text holds control characters (notes may hold line breaks).',
              oneOf: Object.keys(inputs).map((name) => ({ $ref: `#/components/schemas/${name}` })),
            },
          },
        },
        Writeback: {
          type: 'object',
          required: ['id', 'command', 'status'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            command: { enum: [...WRITEBACK_COMMANDS] },
            connectionId: { type: 'string' },
            idempotencyKey: { type: 'string' },
            status: { enum: [...WRITEBACK_STATUSES] },
            phase: { enum: ['queued', 'executing', 'verifying'] },
            acceptedAt: { type: 'string', format: 'date-time' },
            deadline: { type: 'string', format: 'date-time' },
            startedAt: { type: ['string', 'null'], format: 'date-time' },
            finishedAt: { type: ['string', 'null'], format: 'date-time' },
            resourceType: { enum: ['Appointment', 'Patient'] },
            resourceId: { type: ['string', 'null'], format: 'uuid' },
            sourceId: { type: ['string', 'null'] },
            resource: {
              type: ['object', 'null'],
              description: 'The record as read back from the EHR, in the standard model.',
            },
            matched: { type: 'boolean' },
            compensated: { type: 'boolean' },
            warnings: { type: 'array', items: { type: 'string' } },
            error: {
              oneOf: [
                { type: 'null' },
                {
                  type: 'object',
                  required: ['code', 'message'],
                  properties: {
                    code: { enum: [...WRITEBACK_ERROR_CODES] },
                    message: { type: 'string' },
                    details: { type: 'object' },
                  },
                },
              ],
            },
          },
        },
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string' },
            message: { type: 'string' },
            errors: {
              type: 'array',
              items: {
                type: 'object',
                properties: { path: { type: 'string' }, message: { type: 'string' } },
              },
            },
          },
        },
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/v1/writebacks': {
        post: {
          summary: 'Queue a writeback command',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 200 },
            },
            {
              name: 'Prefer',
              in: 'header',
              required: false,
              description:
                'wait=N (RFC 7240): answer 200 with the finished command if it finishes within N seconds (at most 30), else 202 as without it; with Preference-Applied',
              schema: { type: 'string', examples: ['wait=10'] },
            },
          ],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/WritebackRequest' }) },
          responses: {
            '202': {
              description: 'Queued',
              ...json({
                type: 'object',
                properties: { id: { type: 'string' }, status: { const: 'accepted' } },
              }),
            },
            '200': {
              description:
                'The finished command (Prefer: wait), or, for the same idempotency key and payload, the existing command',
              ...json({ $ref: '#/components/schemas/Writeback' }),
            },
            '400': error('Invalid request or input; errors lists each field'),
            '401': error('Missing or invalid API key'),
            '403': error('The connection exists but the key is not scoped to it'),
            '404': error('No connection has this id'),
            '409': error('idempotency_key_reused: same key, different payload'),
            '413': error('Request body too large'),
            '415': error('The body is not JSON (send Content-Type: application/json)'),
            '422': error('unsupported: the connector or connection cannot run this command'),
            '429': error('Rate limited; see Retry-After'),
          },
        },
      },
      '/v1/writebacks/{id}': {
        get: {
          summary: "A command's state, with the re-read resource or a coded error",
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
            {
              name: 'Prefer',
              in: 'header',
              required: false,
              description:
                'wait=N (RFC 7240): answer when the command is finished or after N seconds (at most 30), with Preference-Applied',
              schema: { type: 'string', examples: ['wait=10'] },
            },
          ],
          responses: {
            '200': { description: 'The command', ...json({ $ref: '#/components/schemas/Writeback' }) },
            '401': error('Missing or invalid API key'),
            '404': error('No command of this client has this id'),
          },
        },
      },
      '/v1/connections/{id}/capabilities': {
        get: {
          summary: 'Which commands this connection supports, on which write path',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The capability matrix' },
            '401': error('Missing or invalid API key'),
            '403': error('The connection exists but the key is not scoped to it'),
            '404': error('No connection has this id'),
          },
        },
      },
      '/v1/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
  };
}
