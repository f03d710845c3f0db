import type { Knex } from 'knex';

/**
 * Where knex's own messages go (pino-compatible: `logger.warn({ … }, 'text')`). Only the three
 * levels knex uses are needed.
 */
export interface SqlLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

/** Longest message text kept; knex's messages that matter ("Connection Error: …") are short. */
const MAX_TEXT = 200;

/**
 * The loggable part of one knex message: its first line (no stack trace, no SQL on the lines
 * below), with every quoted literal replaced by `?` and cut to {@link MAX_TEXT} characters. knex
 * can pass a string, an Error, or (debug) a query object with its bindings: an object other than
 * an Error is never logged, only its kind. So neither bound values nor literal values quoted in a
 * driver message (which could be row data) can reach the log.
 */
export function knexLogText(message: unknown): string {
  if (message instanceof Error) return knexLogText(message.message);
  if (typeof message !== 'string') return 'knex message of a non-text kind (not logged)';
  const firstLine = message.split(/\r?\n/, 1)[0] ?? '';
  const unquoted = firstLine.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`/g, '?');
  return unquoted.length > MAX_TEXT ? `${unquoted.slice(0, MAX_TEXT)}…` : unquoted;
}

const silent = () => undefined;

/**
 * knex's `log` option. Without a logger every message is dropped: knex's default prints to
 * standard output (console.log, colored, with stacks), which would corrupt `--json` output, and
 * every failure it reports there is also thrown and classified by the caller anyway
 * (`classifyDbError`). With a logger, messages are logged as `event: "sql.knex"`, text only.
 */
export function knexLog(logger?: SqlLogger): NonNullable<Knex.Config['log']> {
  if (!logger) return { warn: silent, error: silent, deprecate: silent, debug: silent };
  const fields = (kind: string) => ({ event: 'sql.knex', knex: kind });
  return {
    warn: (message: unknown) => logger.warn(fields('warn'), knexLogText(message)),
    error: (message: unknown) => logger.error(fields('error'), knexLogText(message)),
    deprecate: (method: unknown, alternative: unknown) =>
      logger.debug(
        fields('deprecate'),
        knexLogText(`${String(method)} is deprecated, use ${String(alternative)}`),
      ),
    debug: (message: unknown) => logger.debug(fields('debug'), knexLogText(message)),
  };
}
