import { z } from 'zod';
import { VENDOR_SCHEMAS } from './schemas.js';

/** One documented route: the schemas it validates with are the ones documented. */
export interface RouteDoc {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI form: `/v1/sites/{site}`. */
  readonly path: string;
  readonly summary: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly headers?: readonly { name: string; description: string }[];
  readonly body?: z.ZodType;
  readonly responses: Readonly<Record<number, { description: string; schema?: z.ZodType }>>;
  /** False for routes without a key (the document itself). */
  readonly authenticated?: boolean;
}

const URI = (id: string) => `#/components/schemas/${id}`;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const id = VENDOR_SCHEMAS.get(schema)?.id;
  if (id) return { $ref: URI(id) };
  const generated = z.toJSONSchema(schema, {
    unrepresentable: 'any',
    io,
    metadata: VENDOR_SCHEMAS,
  }) as Record<string, unknown>;
  // Named schemas it uses are components of the document, not local definitions.
  const { $schema: _schema, $defs: _defs, ...rest } = generated;
  return JSON.parse(
    JSON.stringify(rest).replace(/"#\/\$defs\/([A-Za-z0-9_]+)"/g, (_m, id: string) => `"${URI(id)}"`),
  ) as Record<string, unknown>;
}

function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const property = jsonSchema(field as z.ZodType, 'input');
    const { description, ...rest } = property as { description?: string };
    return {
      name,
      in: where,
      required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

/**
 * The OpenAPI 3.1 document of the hub's vendor API, generated from the routes' own zod schemas:
 * parameters, bodies and responses cannot drift from what the routes enforce.
 */
export function buildOpenApi(
  routes: readonly RouteDoc[],
  info: { version: string },
): Record<string, unknown> {
  const generated = z.toJSONSchema(VENDOR_SCHEMAS, { unrepresentable: 'any', io: 'output', uri: URI }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  const components = Object.fromEntries(
    Object.entries(generated.schemas).map(([id, schema]) => {
      const { $schema: _s, $id: _i, ...rest } = schema;
      return [id, rest];
    }),
  );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      ...(route.authenticated === false ? { security: [] } : {}),
      parameters: [
        ...parameters(route.params, 'path'),
        ...parameters(route.query, 'query'),
        ...(route.headers ?? []).map((h) => ({
          name: h.name,
          in: 'header',
          required: false,
          description: h.description,
          schema: { type: 'string' },
        })),
      ],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, r]) => [
          status,
          {
            description: r.description,
            ...(r.schema
              ? { content: { 'application/json': { schema: jsonSchema(r.schema, 'output') } } }
              : {}),
          },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tendril hub: vendor API',
      version: info.version,
      description:
        'Sites, their health, their event log, writebacks routed to the practice, and webhook subscriptions (docs/hub.md). Send Authorization: Bearer <key> from tendril hub api-key create.',
    },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A vendor key (thk_…), scoped to sites.' },
      },
      schemas: components,
    },
    security: [{ apiKey: [] }],
    paths,
  };
}
