import { canonicalJson } from './canonical-json.js';
import { sha256Hex } from './hash.js';
import { z } from 'zod';
import { WRITEBACK_COMMANDS, type WritebackCommand } from './writeback-commands.js';
import { isWritebackInstant, type WritebackFieldError } from './writeback-inputs.js';

/**
 * The envelope of a writeback request (docs/writeback.md, "Lifecycle and guarantees"), checked the same way wherever one
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
const DEADLINE_MESSAGE =
  'must be a real ISO-8601 UTC instant ending in Z (hours 00–23), such as 2030-01-02T15:30:00Z';
const KEY_MESSAGE = 'is required (body or Idempotency-Key header): 1–200 printable ASCII characters';

/**
 * The request body's envelope as a zod schema: what both APIs validate with and what their OpenAPI
 * documents are generated from. `input` is checked separately against the command's own schema
 * (`WRITEBACK_INPUT_SCHEMAS`), once the command is known.
 */
export const WritebackEnvelopeSchema = z
  .object({
    command: z.enum(WRITEBACK_COMMANDS, { error: `must be one of ${WRITEBACK_COMMANDS.join(', ')}` }),
    connectionId: z.string({ error: 'must be a connection id' }).min(1, 'must be a connection id'),
    idempotencyKey: z
      .string({ error: KEY_MESSAGE })
      .regex(IDEMPOTENCY_KEY, KEY_MESSAGE)
      .optional()
      .describe(
        'Required here or as the Idempotency-Key header; scoped to (client, connection), kept 30 days.',
      ),
    deadline: z
      .string({ error: DEADLINE_MESSAGE })
      // A real calendar instant (no month 13, no Feb 30, hours 00–23), not only its shape.
      .refine(isWritebackInstant, DEADLINE_MESSAGE)
      .optional()
      .describe('Default: accepted + 10 minutes; book and reschedule are capped at the new start.'),
    expectedHash: z
      .undefined({ error: 'preconditions by hash are not available in this version yet; leave it out' })
      .optional(),
    // Checked against the command's own schema (parseWritebackInput), which names its fields.
    input: z
      .unknown()
      .optional()
      .describe('The command input (one of the *Input schemas, chosen by command).'),
  })
  .strict();

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
  const withKey =
    fields['idempotencyKey'] === undefined && headerKey !== undefined
      ? { ...fields, idempotencyKey: headerKey }
      : fields;
  const parsed = WritebackEnvelopeSchema.safeParse(withKey);
  const errors: WritebackFieldError[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys')
        for (const key of issue.keys)
          errors.push({ path: key, message: 'is not a field of a writeback request' });
      else errors.push({ path: issue.path.map(String).join('.') || '(body)', message: issue.message });
    }
  }
  if (parsed.success && parsed.data.idempotencyKey === undefined)
    errors.push({ path: 'idempotencyKey', message: KEY_MESSAGE });
  if (!parsed.success || errors.length > 0) return { ok: false, errors };
  const data = parsed.data;
  return {
    ok: true,
    envelope: {
      command: data.command,
      connectionId: data.connectionId,
      idempotencyKey: data.idempotencyKey!,
      ...(data.deadline !== undefined ? { deadline: data.deadline } : {}),
      input: fields['input'],
    },
  };
}

/**
 * A command's deadline (docs/writeback.md, "Lifecycle and guarantees"): the requested one, else accepted + the connection's
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
