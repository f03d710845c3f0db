/** Documented exit codes of the `tendril` CLI (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** An unexpected failure (a bug, or the store could not be opened). */
  failure: 1,
  /** Invalid config file or command line: nothing was run. */
  invalidInput: 2,
  /** Ran, but at least one stream failed (database unreachable, permission missing…). */
  partialFailure: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
