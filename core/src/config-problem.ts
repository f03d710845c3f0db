/**
 * One problem found while validating a configuration. Validation collects every problem before
 * failing, so a user fixes a file in one pass.
 */
export interface ConfigProblem {
  /** Dotted path of the offending key, e.g. `connections.0.timezone`. */
  readonly path: string;
  readonly message: string;
}
