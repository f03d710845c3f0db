/**
 * The one catalog of coded errors. Messages name the fix and never carry a row value or a patient
 * identifier: callers pass field names, table names and codes only. See docs/errors.md.
 */
export const ERROR_CATALOG = {
  TENDRIL_E_CONFIG_INVALID: { retryable: false, summary: 'The configuration file has problems.' },
  TENDRIL_E_CONFIG_NOT_FOUND: { retryable: false, summary: 'The configuration file was not found.' },
  TENDRIL_E_CONNECTOR_UNKNOWN: { retryable: false, summary: 'No connector plugin has this id.' },
  TENDRIL_E_CONNECTOR_DEFINITION: {
    retryable: false,
    summary: 'A connector or table definition is invalid.',
  },
  TENDRIL_E_STREAM_UNKNOWN: { retryable: false, summary: 'The connector has no stream of this name.' },
  TENDRIL_E_DB_CONNECT: { retryable: true, summary: 'The EHR database could not be reached.' },
  TENDRIL_E_DB_AUTH: { retryable: true, summary: 'The EHR database refused the login.' },
  TENDRIL_E_DB_PERMISSION: { retryable: true, summary: 'The database user lacks a right it needs.' },
  TENDRIL_E_DB_QUERY: { retryable: true, summary: 'A query against the EHR database failed.' },
  TENDRIL_E_DB_DIALECT: { retryable: false, summary: 'This database dialect is not supported here.' },
  TENDRIL_E_CURSOR_NOT_ADVANCING: { retryable: false, summary: 'A page did not advance the keyset cursor.' },
  TENDRIL_E_CURSOR_STATE: {
    retryable: false,
    summary: "A stored cursor position does not fit the stream's table definition.",
  },
  TENDRIL_E_RECONCILE_GUARD: { retryable: false, summary: 'Too many deletes at once; nothing was emitted.' },
  TENDRIL_E_CLOCK: { retryable: true, summary: 'The database clock could not be read or parsed.' },
  TENDRIL_E_MAPPING: { retryable: false, summary: 'A row could not be mapped to the standard model.' },
  TENDRIL_E_VALIDATION: { retryable: false, summary: 'A mapped resource failed standard-model validation.' },
  TENDRIL_E_QUARANTINE_SHARE: {
    retryable: false,
    summary: "More than the allowed share of a page's rows failed mapping or validation; the stream stopped.",
  },
  TENDRIL_E_STORE: { retryable: true, summary: 'The agent store failed.' },
  TENDRIL_E_STORE_SCHEMA: { retryable: false, summary: 'The agent store was written by a newer Tendril.' },
  TENDRIL_E_STORE_PERMISSIONS: {
    retryable: false,
    summary: 'The agent store file or folder is readable by others and the agent may not tighten it.',
  },
  TENDRIL_E_STORE_KEY: {
    retryable: false,
    summary:
      'The agent store is encrypted and the site key is missing or is not the one it was encrypted with.',
  },
  TENDRIL_E_FORMAT: { retryable: false, summary: 'An event could not be rendered in the requested format.' },
  TENDRIL_E_DELIVERY_POLICY: {
    retryable: false,
    summary: 'A webhook delivery policy or delivery input is invalid.',
  },
  TENDRIL_E_WEBHOOK_SECRET: {
    retryable: false,
    summary: 'A webhook signing secret is missing, expired or malformed.',
  },
  TENDRIL_E_SEED: { retryable: false, summary: 'The data generator could not fill the database.' },
  TENDRIL_E_INTERNAL: {
    retryable: false,
    summary: 'An unexpected failure inside Tendril (a bug); the cause is attached.',
  },
  TENDRIL_E_USAGE: { retryable: false, summary: 'The command line was not understood.' },
  TENDRIL_E_INTERRUPTED: {
    retryable: false,
    summary: 'The command was interrupted (Ctrl-C) before it finished; nothing was written.',
  },
  TENDRIL_E_SECRETS: {
    retryable: false,
    summary: 'The encrypted secrets file or the site key is missing, wrong or unreadable.',
  },
  TENDRIL_E_SUPERVISOR: {
    retryable: false,
    summary: 'The supervisor could not do what was asked (e.g. restart an unsupervised agent).',
  },
  TENDRIL_E_CRASH_LOOP: {
    retryable: false,
    summary: 'The agent kept crashing or hanging; the supervisor stopped restarting it.',
  },
  TENDRIL_E_UPGRADE_DOWNLOAD: {
    retryable: true,
    summary: 'The release of a remote upgrade could not be downloaded from the hub.',
  },
  TENDRIL_E_UPGRADE_VERIFY: {
    retryable: false,
    summary: "A downloaded release's size, SHA-256 or Ed25519 signature did not match; nothing was unpacked.",
  },
  TENDRIL_E_UPGRADE_UNHEALTHY: {
    retryable: false,
    summary: 'The upgraded agent did not report healthy in time; the supervisor rolled back.',
  },
  TENDRIL_E_SERVICE: { retryable: false, summary: 'The service definition could not be written or removed.' },
  TENDRIL_E_UNAUTHORIZED: { retryable: false, summary: 'An API call lacked the right credentials.' },
  TENDRIL_E_SHUTDOWN: {
    retryable: true,
    summary: 'The agent stopped in the middle of a run; it resumes at the next start.',
  },
  TENDRIL_E_NOT_AVAILABLE: {
    retryable: false,
    summary: 'The capability is not available in this version yet.',
  },
  TENDRIL_E_STREAM_PAUSED: {
    retryable: true,
    summary: '`tendril discover` paused the stream because the live schema no longer fits it.',
  },
  TENDRIL_E_WRITEBACK_REJECTED: {
    retryable: false,
    summary: 'A writeback command was refused before execution (input, capability, idempotency key).',
  },
  TENDRIL_E_WRITEBACK_FAILED: {
    retryable: false,
    summary: 'A writeback command ran and failed; the EHR is unchanged (or was restored).',
  },
  TENDRIL_E_WRITEBACK_TIMED_OUT: {
    retryable: false,
    summary: "A writeback command's deadline passed before it started; nothing was written.",
  },
  TENDRIL_E_WRITEBACK_IN_DOUBT: {
    retryable: false,
    summary: 'The agent stopped while a writeback was executing; its outcome must be checked in the EHR.',
  },
  TENDRIL_E_WRITEBACK_VENDOR_UNREACHABLE: {
    retryable: true,
    summary: 'The vendor API of a writeback (vendor-api path) did not answer.',
  },
  TENDRIL_E_HUB_UNREACHABLE: { retryable: true, summary: 'The hub could not be reached.' },
  TENDRIL_E_HUB_REFUSED: {
    retryable: false,
    summary: 'The hub refused an enrollment key or an agent credential.',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/**
 * Warning codes: a value was dropped, the row was still mapped — or rows were left for a later
 * poll. A warning names the table and the model field or column, never the value (it can be PHI);
 * the engine counts and logs it (docs/errors.md, "Warning codes"). Adding a code means adding its
 * row to that page: a test checks it.
 */
export const WARNING_CATALOG = {
  TENDRIL_W_IMPOSSIBLE_DATE: {
    summary:
      'A date or time built from parts (year/month/day, hour/minute) does not exist; the field was omitted.',
  },
  TENDRIL_W_INVALID_VALUE: {
    summary:
      'The mapped value of an optional field (or one element of an optional list) failed validation; it was omitted and the row kept.',
  },
  TENDRIL_W_PHONE_UNPARSEABLE: {
    summary: 'A phone number is not a full number (e.g. 7 digits without an area code); it was omitted.',
  },
  TENDRIL_W_CLOCK_SKEW: {
    summary:
      'Rows are stamped more than 60 s ahead of the database clock; a poll reads them only once the clock catches up.',
  },
  TENDRIL_W_STORE_PLAINTEXT: {
    summary: 'No site key: the agent store keeps patient data (outbox, writeback payloads) in plain text.',
  },
} as const;

export type WarningCode = keyof typeof WARNING_CATALOG;

export interface TendrilErrorOptions {
  cause?: unknown;
  /** Structured, PHI-free context (table, column, stream, field path…). */
  details?: Record<string, unknown>;
  retryable?: boolean;
}

export class TendrilError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: TendrilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TendrilError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CATALOG[code].retryable;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

export function isTendrilError(error: unknown, code?: ErrorCode): error is TendrilError {
  return error instanceof TendrilError && (code === undefined || error.code === code);
}
