import type { WarningCode } from './errors.js';

/** What a transform may know besides the row: the connection and its settings. No I/O. */
export interface MappingContext {
  readonly connectionId: string;
  readonly connectorId: string;
  /** IANA zone of the office, for vendor local wall times. */
  readonly timezone: string;
  readonly currency: string;
  /** Validated connector options of this connection. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Framework id of another resource of this connection. */
  refId(resourceType: string, sourceId: string): string;
  /**
   * Reports that the field being mapped dropped a value for a coded reason (docs/errors.md,
   * "Warning codes"). `mapRow` supplies it and attributes the warning to the field; outside
   * `mapRow` it may be absent. Never pass the value: only the code.
   */
  warn?(code: WarningCode, field?: string): void;
}
