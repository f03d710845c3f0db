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
}
