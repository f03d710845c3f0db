/** Documented exit codes of the `tendril` CLI (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** An unexpected failure (a bug, or the store could not be opened). */
  failure: 1,
  /** Invalid config file or command line: nothing was run. */
  invalidInput: 2,
  /** Ran, but at least one stream failed (database unreachable, permission missing…). */
  partialFailure: 3,
  /** `tendril run`: the supervisor gave up after too many crashes or hangs (TENDRIL_E_CRASH_LOOP). */
  crashLoop: 4,
  /** `tendril check`: the database server could not be reached (DNS, TCP or TLS step). */
  checkUnreachable: 10,
  /** `tendril check`: the server refused the login, or the database does not exist / may not be opened. */
  checkLogin: 11,
  /** `tendril check`: the user lacks the SELECT right on at least one table the connector reads. */
  checkRights: 12,
  /** `tendril check`: a table or column the connector reads is missing (a different EHR version?). */
  checkSchema: 13,
  /** `tendril discover`: a stream's table, column or type does not fit the live schema (the stream is paused). */
  discoverMismatch: 14,
  /** `tendril reconcile`: the delete guard tripped; nothing was deleted (review, then `--approve`). */
  reconcileGuard: 15,
  /** Interrupted (Ctrl-C) before it finished; nothing was written (`tendril init`, `tendril secrets set`). 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
