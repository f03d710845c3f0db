/** The slice of pino the hub logs through; operational events carry an `event` field. No PHI, no secrets. */
export interface HubLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): HubLogger;
}

/** A logger that drops everything (tests, tools). */
export const silentHubLogger: HubLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentHubLogger,
};
