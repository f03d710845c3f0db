import {
  WRITEBACK_COMMANDS,
  WRITEBACK_ERROR_CODES,
  WRITEBACK_INPUT_SCHEMAS,
  WRITEBACK_STATUSES,
  WritebackEnvelopeSchema,
} from '@tendril/core';
import { z } from 'zod';

/** Every named schema of the vendor API; OpenAPI's `components.schemas` are generated from it. */
export const VENDOR_SCHEMAS = z.registry<{ id: string }>();

/**
 * The vendor API's shapes. Routes validate their parameters and queries with these, and the
 * OpenAPI document at /v1/openapi.json is generated from the same schemas (api/openapi.ts).
 */

export const ErrorBody = z
  .object({
    code: z.string(),
    message: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .register(VENDOR_SCHEMAS, { id: 'Error' });

export const SiteParams = z.object({ site: z.string().min(1).max(200) });
export const WritebackParams = z.object({ id: z.string().min(1).max(200) });
export const SubscriptionParams = z.object({ id: z.string().min(1).max(200) });

export const StreamHealth = z
  .object({
    connectionId: z.string(),
    stream: z.string(),
    status: z.string().describe('healthy, unhealthy or unknown (as the agent last reported)'),
    stale: z.boolean().describe('no successful read for longer than the agent allows'),
    lagSeconds: z.number().nullable().describe('seconds since the last successful read, at the report'),
    lastSuccessAt: z.string().nullable().describe('end of the last successful read'),
    lastErrorCode: z.string().nullable(),
  })
  .register(VENDOR_SCHEMAS, { id: 'StreamHealth' });

export const SiteView = z
  .object({
    id: z.string(),
    name: z.string(),
    connector: z.string(),
    connectionIds: z.array(z.string()),
    online: z.boolean().describe('a link is open now'),
    presence: z.enum(['never', 'online', 'offline']).describe('what site.online / site.offline last said'),
    health: z.enum(['ok', 'degraded', 'down', 'unknown']).describe("the agent's last reported health"),
    agentVersion: z.string().nullable(),
    lastSeenAt: z.string().nullable(),
    linkOpenedAt: z.string().nullable(),
    statusReportedAt: z.string().nullable(),
    problems: z.array(z.string()),
    streams: z.array(StreamHealth),
    lastWriteAt: z.string().nullable().describe('the newest written writeback of this site'),
    revoked: z.boolean(),
  })
  .register(VENDOR_SCHEMAS, { id: 'Site' });

export const SiteList = z.object({ sites: z.array(SiteView) }).register(VENDOR_SCHEMAS, { id: 'SiteList' });

export const WritebackView = z
  .object({
    id: z.string(),
    command: z.enum(WRITEBACK_COMMANDS),
    connectionId: z.string(),
    idempotencyKey: z.string(),
    status: z.enum(WRITEBACK_STATUSES),
    phase: z.enum(['queued', 'executing', 'verifying']).optional(),
    acceptedAt: z.string(),
    deadline: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    resourceType: z.enum(['Appointment', 'Patient']),
    resourceId: z.string().nullable(),
    sourceId: z.string().nullable(),
    resource: z.record(z.string(), z.unknown()).nullable(),
    matched: z.boolean().optional(),
    compensated: z.boolean().optional(),
    warnings: z.array(z.string()),
    error: z
      .object({
        code: z.enum(WRITEBACK_ERROR_CODES),
        message: z.string(),
        details: z.record(z.string(), z.unknown()).optional(),
      })
      .nullable(),
  })
  .register(VENDOR_SCHEMAS, { id: 'Writeback' });

export const WritebackAccepted = z
  .object({ id: z.string(), status: z.literal('accepted') })
  .register(VENDOR_SCHEMAS, { id: 'WritebackAccepted' });

/** The request body: the envelope from core, `input` one of the commands' input schemas. */
export const WritebackRequestBody = WritebackEnvelopeSchema.extend({
  input: z.union(Object.values(WRITEBACK_INPUT_SCHEMAS) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]),
}).register(VENDOR_SCHEMAS, { id: 'WritebackRequest' });

export const EventsQuery = z
  .object({
    after: z
      .string()
      .max(200)
      .optional()
      .describe('the `next` cursor of the previous page; absent: from the oldest event held'),
    limit: z.coerce.number().int().min(1).max(10_000).optional().describe('events per page (default 100)'),
  })
  .strict();

export const EventEnvelopeView = z
  .object({
    id: z.string(),
    type: z.string(),
    occurredAt: z.string(),
    connectionId: z.string(),
    resourceType: z.string(),
    resourceId: z.string(),
    sequence: z.number(),
    data: z.record(z.string(), z.unknown()),
  })
  .register(VENDOR_SCHEMAS, { id: 'Event' });

export const EventsPage = z
  .object({
    events: z.array(EventEnvelopeView),
    next: z.string().describe('pass as `after` for the next page (the same cursor when nothing is new)'),
    more: z.boolean().describe('true when the page was full: ask again at once'),
  })
  .register(VENDOR_SCHEMAS, { id: 'EventsPage' });

const Filter = z
  .string()
  .regex(/^(?:[A-Za-z0-9_.-]+\*?|\*)$/, 'must be a type name, optionally ending in * (e.g. appointment.*)');
const Sites = z
  .union([z.literal('*'), z.array(z.string().min(1).max(200)).min(1).max(10_000)])
  .describe("'*' for every site of the vendor (and new ones), or site ids; default: the key's sites");

/** The fields of a subscription a vendor sets (docs/delivery.md, "Subscriptions"). */
const subscriptionFields = {
  url: z
    .string()
    .min(1)
    .max(2048)
    .describe('https:// (http:// only for a loopback host, with allowInsecure)'),
  allowInsecure: z
    .boolean()
    .describe('allow http:// for a loopback host (tests, a receiver on the hub host)'),
  format: z.enum(['json', 'fhir', 'flat']),
  sites: Sites,
  resourceTypes: z.array(Filter).max(100).describe('empty: all; a trailing * matches a prefix'),
  eventTypes: z.array(Filter).max(100).describe('empty: all; e.g. appointment.*, site.*'),
  apiKey: z
    .object({
      header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name such as x-api-key'),
      value: z.string().min(1).max(4096),
    })
    .strict()
    .nullable()
    .describe('a header sent with every request; stored sealed, never shown again'),
  policy: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('SNS-shaped delivery policy (healthyRetryPolicy, throttlePolicy, requestPolicy)'),
  timeoutSeconds: z.number().int().min(1).max(30),
  enabled: z.boolean(),
  disableOn410: z.boolean(),
};

export const SubscriptionCreateBody = z
  .object({
    url: subscriptionFields.url,
    allowInsecure: subscriptionFields.allowInsecure.optional(),
    format: subscriptionFields.format.optional(),
    sites: subscriptionFields.sites.optional(),
    resourceTypes: subscriptionFields.resourceTypes.optional(),
    eventTypes: subscriptionFields.eventTypes.optional(),
    apiKey: subscriptionFields.apiKey.optional(),
    policy: subscriptionFields.policy.optional(),
    timeoutSeconds: subscriptionFields.timeoutSeconds.optional(),
    enabled: subscriptionFields.enabled.optional(),
    disableOn410: subscriptionFields.disableOn410.optional(),
  })
  .strict()
  .register(VENDOR_SCHEMAS, { id: 'SubscriptionCreate' });

export const SubscriptionPatchBody = z
  .object({
    url: subscriptionFields.url.optional(),
    allowInsecure: subscriptionFields.allowInsecure.optional(),
    format: subscriptionFields.format.optional(),
    sites: subscriptionFields.sites.optional(),
    resourceTypes: subscriptionFields.resourceTypes.optional(),
    eventTypes: subscriptionFields.eventTypes.optional(),
    apiKey: subscriptionFields.apiKey.optional(),
    policy: subscriptionFields.policy.optional(),
    timeoutSeconds: subscriptionFields.timeoutSeconds.optional(),
    enabled: subscriptionFields.enabled.optional(),
    disableOn410: subscriptionFields.disableOn410.optional(),
    rotateSecret: z
      .boolean()
      .optional()
      .describe('add a new secret (returned once); the current ones keep signing for 24 hours'),
  })
  .strict()
  .register(VENDOR_SCHEMAS, { id: 'SubscriptionPatch' });

export const SubscriptionView = z
  .object({
    id: z.string(),
    url: z.string(),
    allowInsecure: z.boolean(),
    format: z.enum(['json', 'fhir', 'flat']),
    sites: z.union([z.literal('*'), z.array(z.string())]),
    resourceTypes: z.array(z.string()),
    eventTypes: z.array(z.string()),
    apiKeyHeader: z.string().nullable(),
    policy: z.record(z.string(), z.unknown()).nullable(),
    timeoutSeconds: z.number(),
    enabled: z.boolean(),
    disableOn410: z.boolean(),
    secrets: z.number().describe('signing secrets in use (two during a rotation)'),
    state: z
      .string()
      .describe('active, or why nothing is sent: paused, disabled (410), unreachable (probing)'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .register(VENDOR_SCHEMAS, { id: 'Subscription' });

export const SubscriptionWithSecret = SubscriptionView.extend({
  secret: z.string().describe('whsec_…: shown this once; verify deliveries with it (Standard Webhooks)'),
}).register(VENDOR_SCHEMAS, { id: 'SubscriptionWithSecret' });

export const SubscriptionList = z
  .object({ subscriptions: z.array(SubscriptionView) })
  .register(VENDOR_SCHEMAS, { id: 'SubscriptionList' });

export const DeliveriesQuery = z.object({
  status: z.enum(['pending', 'delivered', 'dead']).optional().describe('dead: the dead letters'),
  after: z.coerce.number().int().min(0).optional().describe('the last id of the previous page'),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const DeliveryView = z
  .object({
    id: z.number(),
    eventId: z.string().describe('also the webhook-id of every attempt and replay'),
    eventType: z.string(),
    resourceType: z.string(),
    resourceId: z.string(),
    sequence: z.number(),
    status: z.enum(['pending', 'delivered', 'dead']),
    origin: z.string(),
    attempts: z.number(),
    lastStatus: z.number().nullable(),
    lastError: z.string().nullable(),
    deadReason: z.string().nullable(),
    replayOf: z.number().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .register(VENDOR_SCHEMAS, { id: 'Delivery' });

export const DeliveryPage = z
  .object({ deliveries: z.array(DeliveryView), next: z.number().nullable() })
  .register(VENDOR_SCHEMAS, { id: 'DeliveryPage' });

export const ReplayBody = z
  .object({
    deliveryIds: z
      .array(z.number().int().min(1))
      .min(1)
      .max(1000)
      .optional()
      .describe('these deliveries of the subscription (dead or delivered)'),
    dead: z.literal(true).optional().describe('every dead letter of the subscription (up to 1000)'),
  })
  .strict()
  .register(VENDOR_SCHEMAS, { id: 'Replay' });

export const ReplayAccepted = z
  .object({ replayed: z.number(), deliveryIds: z.array(z.number()) })
  .register(VENDOR_SCHEMAS, { id: 'ReplayAccepted' });
