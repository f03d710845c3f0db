/**
 * Writeback (docs/writeback.md): the commands a vendor may send, their lifecycle and error codes,
 * and the write paths a connector can offer. Plain constants; the inputs are in
 * `writeback-inputs.ts`, the declaration SDK in `writeback-declare.ts`.
 */
export const WRITEBACK_COMMANDS = [
  'Appointment.book',
  'Appointment.cancel',
  'Appointment.confirm',
  'Appointment.reschedule',
  'Patient.create',
  'Patient.update',
] as const;
export type WritebackCommand = (typeof WRITEBACK_COMMANDS)[number];

export function isWritebackCommand(value: unknown): value is WritebackCommand {
  return typeof value === 'string' && (WRITEBACK_COMMANDS as readonly string[]).includes(value);
}

/** The resource a command writes: its result events are `<resource>.writeback.<status>`. */
export function commandResource(command: WritebackCommand): 'Appointment' | 'Patient' {
  return command.startsWith('Patient.') ? 'Patient' : 'Appointment';
}

/** Public lifecycle (docs/writeback.md). `accepted` covers queued, executing and verifying (see `phase`). */
export const WRITEBACK_STATUSES = ['accepted', 'written', 'failed', 'timed_out'] as const;
export type WritebackStatus = (typeof WRITEBACK_STATUSES)[number];
export const WRITEBACK_PHASES = ['queued', 'executing', 'verifying', 'done'] as const;
export type WritebackPhase = (typeof WRITEBACK_PHASES)[number];

/** The public `error.code` values of a failed writeback. Logs carry TENDRIL_E_WRITEBACK_*. */
export const WRITEBACK_ERROR_CODES = [
  'not_found',
  'inactive',
  'validation_failed',
  'conflict',
  'slot_conflict',
  'permission_denied',
  'vendor_error',
  'verification_failed',
  'patient_match_ambiguous',
  'patient_exists',
  'unsupported',
] as const;
export type WritebackErrorCode = (typeof WRITEBACK_ERROR_CODES)[number];

/** Ways a connector can write: the vendor's own API (sanctioned) or SQL. */
export const WRITE_PATHS = ['vendor-api', 'sql'] as const;
export type WritePath = (typeof WRITE_PATHS)[number];

/** What `GET /v1/connections/{id}/capabilities` reports per command. */
export const CAPABILITY_STATES = ['supported', 'unsupported', 'needs-config'] as const;
export type CapabilityState = (typeof CAPABILITY_STATES)[number];
