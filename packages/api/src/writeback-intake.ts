import {
  commandResource,
  parseWritebackEnvelope,
  parseWritebackInput,
  uuidV7,
  writebackCapabilities,
  writebackDeadline,
  writebackPayloadHash,
  WRITEBACK_DISABLED,
  type WritebackFieldError,
} from '@tendril/core';
import type { WritebackRecord } from '@tendril/store';
import type { WritebackApiOptions } from './writeback-api-options.js';

/** Who sends a command: an API key's id and scope, or the hub (its commands' scope is the site). */
export interface WritebackClient {
  readonly id: string;
  readonly connectionIds: readonly string[];
}

/** The outcome of one request, before it becomes an HTTP answer (or a link frame). */
export type WritebackIntakeResult =
  | { readonly kind: 'created' | 'existing' | 'key-reused'; readonly record: WritebackRecord }
  | {
      readonly kind: 'rejected';
      readonly status: 400 | 403 | 404 | 422;
      readonly code: 'validation_failed' | 'forbidden' | 'not_found' | 'unsupported';
      readonly message: string;
      readonly errors?: readonly WritebackFieldError[];
    };

const invalid = (message: string, errors: readonly WritebackFieldError[]): WritebackIntakeResult => ({
  kind: 'rejected',
  status: 400,
  code: 'validation_failed',
  message,
  errors,
});

/**
 * The agent's writeback intake (docs/writeback.md, "Lifecycle and guarantees" and "API"), shared by `POST /v1/writebacks` and commands
 * arriving over the hub link: envelope, scope, input schema, allow-list, capability and deadline,
 * then the queue with idempotency. A new command wakes the worker. `id` lets the hub's command
 * keep its id on the agent, so results carry the id the vendor was given.
 */
export async function acceptWritebackRequest(
  options: WritebackApiOptions,
  client: WritebackClient,
  body: unknown,
  extras: { headerKey?: string; id?: string } = {},
): Promise<WritebackIntakeResult> {
  const now = options.now ?? (() => new Date());
  const parsedEnvelope = parseWritebackEnvelope(body, extras.headerKey);
  if (!parsedEnvelope.ok) {
    const whole = parsedEnvelope.errors.length === 1 && parsedEnvelope.errors[0]!.path === '(body)';
    return invalid(
      whole ? 'the body must be a JSON object' : 'the request has problems; see errors',
      parsedEnvelope.errors,
    );
  }
  const envelope = parsedEnvelope.envelope;
  // An unknown connection is 404 whoever asks (docs/writeback.md, "API"); a known one outside the
  // key's scope is 403.
  const connection = options.connections.find((c) => c.id === envelope.connectionId);
  if (!connection)
    return {
      kind: 'rejected',
      status: 404,
      code: 'not_found',
      message: 'no connection has this id in the agent configuration',
    };
  if (!client.connectionIds.includes(envelope.connectionId)) {
    return {
      kind: 'rejected',
      status: 403,
      code: 'forbidden',
      message:
        'this key is not scoped to that connection; create one with tendril api-key create --connection <id>',
    };
  }
  const cmd = envelope.command;
  const settings = connection.writeback ?? WRITEBACK_DISABLED;
  const accepted = now();
  // Real dates only, no births in the future, bookings inside the horizon: before anything is queued.
  const parsed = parseWritebackInput(cmd, envelope.input, {
    now: accepted,
    bookingHorizonDays: settings.bookingHorizonDays,
  });
  if (!parsed.ok) return invalid('the input does not fit the command; see errors', parsed.errors);
  if (cmd === 'Patient.update' && 'birthDate' in parsed.input && !settings.allowBirthDateUpdate) {
    return invalid('the input does not fit the command; see errors', [
      {
        path: 'input.birthDate',
        message: 'is not on this connection’s update allow-list (writeback.allowBirthDateUpdate)',
      },
    ]);
  }
  const capability = writebackCapabilities(options.connectorFor(connection).writeback, settings)[cmd];
  if (capability.state !== 'supported') {
    return {
      kind: 'rejected',
      status: 422,
      code: 'unsupported',
      message: `this connection cannot run ${cmd}: ${capability.reason ?? capability.state}`,
    };
  }
  const due = writebackDeadline(envelope, parsed.input, accepted.getTime(), settings.defaultDeadlineSeconds);
  if (!due.ok) return invalid('the deadline (or the appointment start) has already passed', [due.error]);
  const result = await options.store.writebacks.accept({
    id: extras.id ?? uuidV7(accepted.getTime()),
    clientId: client.id,
    connectionId: connection.id,
    command: cmd,
    idempotencyKey: envelope.idempotencyKey,
    payloadHash: writebackPayloadHash(envelope),
    input: parsed.input,
    resourceType: commandResource(cmd),
    acceptedAt: accepted.toISOString(),
    deadline: new Date(due.deadlineMs).toISOString(),
  });
  if (result.kind === 'created') options.kick();
  return result;
}
