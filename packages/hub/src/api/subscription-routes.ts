import { subscriptionProblems, type WritebackFieldError } from '@tendril/core';
import { deliveryConfigValidators } from '@tendril/delivery';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../hub-context.js';
import { keySees, type VendorPrincipal } from '../store/api-keys.js';
import type { SubscriptionFields, SubscriptionView as StoredView } from '../store/subscriptions.js';
import type { RouteDoc } from './openapi.js';
import {
  DeliveriesQuery,
  DeliveryPage,
  ErrorBody,
  ReplayAccepted,
  ReplayBody,
  SubscriptionCreateBody,
  SubscriptionList,
  SubscriptionParams,
  SubscriptionPatchBody,
  SubscriptionView,
  SubscriptionWithSecret,
} from './schemas.js';

const NOT_FOUND = 'no subscription of this key has this id';

/** The subscription routes as documented in /v1/openapi.json (docs/hub.md, "Webhooks from the hub"). */
export const SUBSCRIPTION_ROUTES: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/subscriptions',
    summary: 'Subscribe a webhook URL to events of the key’s sites; the whsec_ secret is returned once',
    body: SubscriptionCreateBody,
    responses: {
      201: { description: 'Created, with its secret', schema: SubscriptionWithSecret },
      400: { description: 'Invalid; errors lists each field', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/subscriptions',
    summary: 'The subscriptions this key may see',
    responses: {
      200: { description: 'Subscriptions (never their secrets)', schema: SubscriptionList },
      401: { description: 'No valid key', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/subscriptions/{id}',
    summary: 'One subscription and its delivery state',
    params: SubscriptionParams,
    responses: {
      200: { description: 'The subscription', schema: SubscriptionView },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: NOT_FOUND, schema: ErrorBody },
    },
  },
  {
    method: 'patch',
    path: '/v1/subscriptions/{id}',
    summary: 'Change a subscription (effective at once, on every node); rotateSecret returns a new secret',
    params: SubscriptionParams,
    body: SubscriptionPatchBody,
    responses: {
      200: { description: 'Changed (with `secret` after a rotation)', schema: SubscriptionWithSecret },
      400: { description: 'Invalid; errors lists each field', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: NOT_FOUND, schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/v1/subscriptions/{id}/deliveries',
    summary:
      "The subscription's deliveries, oldest first (status=dead: its dead letters), with their last outcome",
    params: SubscriptionParams,
    query: DeliveriesQuery,
    responses: {
      200: { description: 'A page of deliveries (no event bodies)', schema: DeliveryPage },
      400: { description: 'A bad query', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: NOT_FOUND, schema: ErrorBody },
    },
  },
  {
    method: 'post',
    path: '/v1/subscriptions/{id}/replay',
    summary:
      'Send deliveries again: new deliveries, same webhook-id and body, a fresh retry budget, queued behind the resource’s pending events',
    params: SubscriptionParams,
    body: ReplayBody,
    responses: {
      202: { description: 'Queued', schema: ReplayAccepted },
      400: { description: 'Invalid; errors lists each field', schema: ErrorBody },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: NOT_FOUND, schema: ErrorBody },
    },
  },
  {
    method: 'delete',
    path: '/v1/subscriptions/{id}',
    summary: 'Delete a subscription: nothing more is queued for it or sent to it',
    params: SubscriptionParams,
    responses: {
      204: { description: 'Deleted' },
      401: { description: 'No valid key', schema: ErrorBody },
      404: { description: NOT_FOUND, schema: ErrorBody },
    },
  },
];

type Problem = (
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  errors?: readonly WritebackFieldError[],
) => FastifyReply;

/**
 * Every problem of a subscription as a whole, each naming its field: the agent's own checks of a
 * configured subscription (URL scheme and loopback rule, policy, timeout below the lease), so a
 * vendor's subscription is held to exactly what an agent's is.
 */
function fieldProblems(ctx: HubContext, fields: SubscriptionFields): WritebackFieldError[] {
  const raw = {
    subscriptions: [
      {
        id: 'check',
        url: fields.url,
        allowInsecure: fields.allowInsecure,
        ...(fields.policy ? { policy: fields.policy } : {}),
        timeoutSeconds: fields.timeoutSeconds,
        secrets: [],
      },
    ],
    delivery: ctx.config.delivery,
  };
  return subscriptionProblems(raw, new Set(), deliveryConfigValidators).map((p) => ({
    path: p.path.replace(/^subscriptions\.0\./, '').replace(/^delivery\./, 'delivery.'),
    message: p.message,
  }));
}

/** Site ids this key may not use (answered as a field error that does not say whether they exist). */
async function unseenSites(ctx: HubContext, principal: VendorPrincipal, sites: '*' | readonly string[]) {
  const errors: WritebackFieldError[] = [];
  if (sites === '*') {
    if (principal.sites !== '*')
      errors.push({ path: 'sites', message: "this key is narrowed to some sites: list them instead of '*'" });
    return errors;
  }
  for (const [i, id] of sites.entries()) {
    const site = await ctx.sites.getSite(id);
    if (!site || !keySees(principal, site) || site.purgedAt)
      errors.push({ path: `sites.${i}`, message: 'no site of this key has this id' });
  }
  return errors;
}

/** Adds the subscription's delivery state (active, paused, disabled, unreachable). */
async function withState(ctx: HubContext, view: StoredView) {
  const states = ctx.delivery ? await ctx.delivery.store.deliveries.subscriptionStates() : [];
  return { ...view, state: states.find((s) => s.subscriptionId === view.id)?.state ?? 'active' };
}

/**
 * `POST/GET/PATCH/DELETE /v1/subscriptions` (docs/hub.md, "Webhooks from the hub"), inside the vendor API's
 * plugin (its key check, rate limits and error answers). A change is announced to every node, so
 * it takes effect at once wherever the dispatchers run.
 */
export function registerSubscriptionRoutes(
  app: FastifyInstance,
  ctx: HubContext,
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<VendorPrincipal | undefined>,
  problem: Problem,
): void {
  const log = ctx.logger.child({ component: 'vendor-api' });
  const announce = async () => {
    ctx.delivery?.wake({ subscriptions: true });
    await ctx.hubDb.notify({ kind: 'subscriptions' }).catch(() => undefined);
  };
  const invalid = (reply: FastifyReply, errors: readonly WritebackFieldError[]) =>
    problem(reply, 400, 'validation_failed', 'the subscription has problems; see errors', errors);
  const zodErrors = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
    issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));

  app.post('/v1/subscriptions', { bodyLimit: ctx.config.api.bodyLimitBytes }, async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const body = SubscriptionCreateBody.safeParse(request.body);
    if (!body.success) return invalid(reply, zodErrors(body.error.issues));
    const fields: SubscriptionFields = {
      url: body.data.url,
      allowInsecure: body.data.allowInsecure ?? false,
      format: body.data.format ?? 'json',
      sites: body.data.sites ?? principal.sites,
      resourceTypes: body.data.resourceTypes ?? [],
      eventTypes: body.data.eventTypes ?? [],
      apiKey: body.data.apiKey ?? null,
      policy: body.data.policy ?? null,
      timeoutSeconds: body.data.timeoutSeconds ?? 15,
      enabled: body.data.enabled ?? true,
      disableOn410: body.data.disableOn410 ?? true,
    };
    const errors = [...fieldProblems(ctx, fields), ...(await unseenSites(ctx, principal, fields.sites))];
    if (errors.length > 0) return invalid(reply, errors);
    const created = await ctx.subscriptions.create(principal, fields, ctx.now());
    log.info(
      { event: 'hub.subscription_created', subscriptionId: created.view.id, keyId: principal.keyId },
      'subscription created',
    );
    await announce();
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .header('location', `/v1/subscriptions/${created.view.id}`)
      .send({ ...(await withState(ctx, created.view)), secret: created.secret });
  });

  app.get('/v1/subscriptions', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const views = await ctx.subscriptions.list(principal);
    const subscriptions = [];
    for (const view of views) subscriptions.push(await withState(ctx, view));
    return reply.header('cache-control', 'no-store').send({ subscriptions });
  });

  app.get('/v1/subscriptions/:id', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const params = SubscriptionParams.safeParse(request.params);
    const view = params.success ? await ctx.subscriptions.get(principal, params.data.id) : undefined;
    if (!view) return problem(reply, 404, 'not_found', NOT_FOUND);
    return reply.header('cache-control', 'no-store').send(await withState(ctx, view));
  });

  app.patch('/v1/subscriptions/:id', { bodyLimit: ctx.config.api.bodyLimitBytes }, async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const params = SubscriptionParams.safeParse(request.params);
    const current = params.success ? await ctx.subscriptions.fields(principal, params.data.id) : undefined;
    if (!params.success || !current) return problem(reply, 404, 'not_found', NOT_FOUND);
    const body = SubscriptionPatchBody.safeParse(request.body);
    if (!body.success) return invalid(reply, zodErrors(body.error.issues));
    const { rotateSecret, ...changes } = body.data;
    const merged: SubscriptionFields = { ...current, ...changes };
    const errors = [
      ...fieldProblems(ctx, merged),
      ...(changes.sites !== undefined ? await unseenSites(ctx, principal, changes.sites) : []),
    ];
    if (errors.length > 0) return invalid(reply, errors);
    const updated = await ctx.subscriptions.update(
      principal,
      params.data.id,
      { ...changes, ...(rotateSecret ? { rotateSecret } : {}) },
      ctx.now(),
    );
    if (!updated) return problem(reply, 404, 'not_found', NOT_FOUND);
    // Enabling (again) also lifts a pause or a 410's disable: delivery resumes where it stopped,
    // as `tendril deliveries resume` does on an agent.
    if (changes.enabled === true && ctx.delivery) {
      const state = (await ctx.delivery.store.deliveries.subscriptionStates()).find(
        (s) => s.subscriptionId === params.data.id,
      );
      if (state && (state.state === 'paused' || state.state === 'disabled'))
        await ctx.delivery.store.deliveries.setSubscriptionState({
          subscriptionId: params.data.id,
          state: 'active',
          nowMs: ctx.now().getTime(),
          resetFailures: true,
        });
    }
    log.info(
      {
        event: 'hub.subscription_changed',
        subscriptionId: params.data.id,
        keyId: principal.keyId,
        fields: Object.keys(body.data),
      },
      'subscription changed',
    );
    await announce();
    return reply.header('cache-control', 'no-store').send({
      ...(await withState(ctx, updated.view)),
      ...(updated.secret ? { secret: updated.secret } : {}),
    });
  });

  app.get('/v1/subscriptions/:id/deliveries', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const params = SubscriptionParams.safeParse(request.params);
    const view = params.success ? await ctx.subscriptions.get(principal, params.data.id) : undefined;
    if (!view || !ctx.delivery) return problem(reply, 404, 'not_found', NOT_FOUND);
    const query = DeliveriesQuery.safeParse(request.query);
    if (!query.success)
      return problem(
        reply,
        400,
        'validation_failed',
        'the query has problems; see errors',
        zodErrors(query.error.issues),
      );
    const limit = query.data.limit ?? 100;
    const rows = await ctx.delivery.store.deliveries.list({
      subscriptionId: view.id,
      ...(query.data.status ? { status: query.data.status } : {}),
      ...(query.data.after !== undefined ? { afterId: query.data.after } : {}),
      limit,
    });
    return reply.header('cache-control', 'no-store').send({
      deliveries: rows.map((d) => ({
        id: d.id,
        eventId: d.eventId,
        eventType: d.eventType,
        resourceType: d.resourceType,
        resourceId: d.resourceId,
        sequence: d.sequence,
        status: d.status,
        origin: d.origin,
        attempts: d.attempts,
        lastStatus: d.lastStatus ?? null,
        lastError: d.lastError ?? null,
        deadReason: d.deadReason ?? null,
        replayOf: d.replayOf ?? null,
        createdAt: new Date(d.createdAtMs).toISOString(),
        finishedAt: d.finishedAtMs === undefined ? null : new Date(d.finishedAtMs).toISOString(),
      })),
      next: rows.length === limit ? rows.at(-1)!.id : null,
    });
  });

  app.post(
    '/v1/subscriptions/:id/replay',
    { bodyLimit: ctx.config.api.bodyLimitBytes },
    async (request, reply) => {
      const principal = await authenticate(request, reply);
      if (!principal) return reply;
      const params = SubscriptionParams.safeParse(request.params);
      const view = params.success ? await ctx.subscriptions.get(principal, params.data.id) : undefined;
      if (!view || !ctx.delivery) return problem(reply, 404, 'not_found', NOT_FOUND);
      const body = ReplayBody.safeParse(request.body);
      if (!body.success) return invalid(reply, zodErrors(body.error.issues));
      if ((body.data.deliveryIds === undefined) === (body.data.dead === undefined))
        return invalid(reply, [{ path: '(body)', message: 'give either deliveryIds or dead: true' }]);
      const deliveries = ctx.delivery.store.deliveries;
      let selected;
      if (body.data.dead) {
        selected = await deliveries.list({ subscriptionId: view.id, status: 'dead', limit: 1000 });
      } else {
        selected = [];
        const errors: WritebackFieldError[] = [];
        for (const [i, id] of body.data.deliveryIds!.entries()) {
          const found = await deliveries.get(id);
          // Another subscription's delivery answers like one that does not exist.
          if (!found || found.delivery.subscriptionId !== view.id)
            errors.push({
              path: `deliveryIds.${i}`,
              message: 'no delivery of this subscription has this id',
            });
          else if (found.delivery.status === 'pending')
            errors.push({
              path: `deliveryIds.${i}`,
              message: 'is still pending; it is sent (or retried) already',
            });
          else selected.push(found.delivery);
        }
        if (errors.length > 0) return invalid(reply, errors);
      }
      const ids =
        selected.length === 0
          ? []
          : await deliveries.enqueue({
              subscriptionId: view.id,
              items: selected.map((d) => ({ eventId: d.eventId, replayOf: d.id })),
              origin: 'replay',
              nowMs: ctx.now().getTime(),
            });
      log.info(
        {
          event: 'hub.subscription_replay',
          subscriptionId: view.id,
          keyId: principal.keyId,
          replayed: ids.length,
        },
        'deliveries replayed',
      );
      return reply
        .code(202)
        .header('cache-control', 'no-store')
        .send({ replayed: ids.length, deliveryIds: ids });
    },
  );

  app.delete('/v1/subscriptions/:id', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const params = SubscriptionParams.safeParse(request.params);
    const removed = params.success && (await ctx.subscriptions.remove(principal, params.data.id, ctx.now()));
    if (!removed) return problem(reply, 404, 'not_found', NOT_FOUND);
    log.info(
      { event: 'hub.subscription_deleted', subscriptionId: params.data.id, keyId: principal.keyId },
      'subscription deleted',
    );
    await announce();
    return reply.code(204).send();
  });
}
