import { canonicalJson } from './canonical-json.js';
import { sha256Hex } from './hash.js';
import {
  isWritebackCommand,
  WRITEBACK_COMMANDS,
  type WritebackCommand,
  type WritebackFieldError,
} from './writeback.js';

/**
 * The envelope of a writeback request (writeback.md §3), checked the same way wherever one
 * arrives: the agent's `POST /v1/writebacks` and the hub's `POST /v1/sites/{site}/writebacks`.
 */
export interface WritebackEnvelope {
  readonly command: WritebackCommand;
  readonly connectionId: string;
  readonly idempotencyKey: string;
  readonly deadline?: string;
  /** The input as sent; checked against the command's schema by `parseWritebackInput`. */
  readonly input: unknown;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const ENVELOPE_FIELDS = new Set([
  'command',
  'connectionId',
  'idempotencyKey',
  'deadline',
  'expectedHash',
  'input',
]);

/**
 * Checks a request body's envelope, listing every problem at once. `headerKey` is the
 * `Idempotency-Key` header, used when the body has no `idempotencyKey`.
 */
export function parseWritebackEnvelope(
  body: unknown,
  headerKey?: string,
): { ok: true; envelope: WritebackEnvelope } | { ok: false; errors: WritebackFieldError[] } {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, errors: [{ path: '(body)', message: 'must be an object' }] };
  const fields = body as Record<string, unknown>;
  const errors: WritebackFieldError[] = [];
  for (const name of Object.keys(fields))
    if (!ENVELOPE_FIELDS.has(name))
      errors.push({ path: name, message: 'is not a field of a writeback request' });
  const { command, connectionId, deadline, expectedHash } = fields;
  const idempotencyKey = fields['idempotencyKey'] ?? headerKey;
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
  if (deadline !== undefined && (typeof deadline !== 'string' || !INSTANT.test(deadline)))
    errors.push({ path: 'deadline', message: 'must be an ISO-8601 UTC instant ending in Z' });
  if (expectedHash !== undefined)
    errors.push({
      path: 'expectedHash',
      message: 'preconditions by hash are not available in this version yet; leave it out',
    });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    envelope: {
      command: command as WritebackCommand,
      connectionId: connectionId as string,
      idempotencyKey: idempotencyKey as string,
      ...(deadline !== undefined ? { deadline: deadline as string } : {}),
      input: fields['input'],
    },
  };
}

/**
 * A command's deadline (writeback.md §3): the requested one, else accepted + the connection's
 * default; `book` and `reschedule` are capped at the new start. An error when it has already passed.
 */
export function writebackDeadline(
  envelope: WritebackEnvelope,
  input: Readonly<Record<string, unknown>>,
  acceptedMs: number,
  defaultDeadlineSeconds: number,
): { ok: true; deadlineMs: number } | { ok: false; error: WritebackFieldError } {
  let due =
    envelope.deadline === undefined
      ? acceptedMs + defaultDeadlineSeconds * 1000
      : Date.parse(envelope.deadline);
  // An appointment is never written after it should have begun.
  const start = input['start'];
  if (
    (envelope.command === 'Appointment.book' || envelope.command === 'Appointment.reschedule') &&
    typeof start === 'string'
  )
    due = Math.min(due, Date.parse(start));
  if (due <= acceptedMs)
    return {
      ok: false,
      error: {
        path: envelope.deadline === undefined ? 'input.start' : 'deadline',
        message: 'must be in the future',
      },
    };
  return { ok: true, deadlineMs: due };
}

/** SHA-256 of the canonical request: the same key with another payload is refused (409). */
export function writebackPayloadHash(envelope: WritebackEnvelope): string {
  return sha256Hex(
    canonicalJson({
      command: envelope.command,
      connectionId: envelope.connectionId,
      deadline: envelope.deadline ?? null,
      input: envelope.input ?? null,
    }),
  );
}
