import type { TendrilConfig } from '@tendril/core';
import { PHI_FIELD_NAMES } from '@tendril/core';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { terminalLogDestination } from './progress.js';

/** Config fields that hold secrets. */
const SECRET_FIELD_NAMES = [
  'password',
  'url',
  'apiKey',
  'secret',
  'secrets',
  'authorization',
  'token',
] as const;

/** The root logger's name: every line carries `"name":"tendril"`. */
export const LOGGER_NAME = 'tendril';

const CENSORED = '[redacted]';

/**
 * Redaction paths derived from the model's PHI fields and the config's secret fields, at the top
 * level and up to two levels down. Anything logged under one of these names is censored.
 */
export function redactionPaths(): string[] {
  const names = [...PHI_FIELD_NAMES, ...SECRET_FIELD_NAMES];
  return names.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);
}

/** A URL that carries nothing secret: http(s), no user or password, no query or fragment (a status page address). */
function isPlainUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.search === '' &&
      url.hash === ''
    );
  } catch {
    return false;
  }
}

/**
 * What a redacted field becomes. Two values pass because they are known not to be data: the
 * logger's own `name` binding (`"name":"tendril"`, which the top-level `name` path would
 * otherwise hit) and a `url` that is a plain http(s) address (the status page), while a URL with
 * credentials, a query or another scheme (a database URL) is censored.
 */
export function censor(value: unknown, path: readonly string[]): unknown {
  const key = path[path.length - 1];
  if (path.length === 1 && key === 'name' && value === LOGGER_NAME) return value;
  if (key === 'url' && isPlainUrl(value)) return value;
  return CENSORED;
}

/** Log lines kept in memory for the hub's `logs` command (docs/hub.md, "Remote commands"). */
export const RECENT_LOG_LINES = 2000;
const recent: string[] = [];

/**
 * The newest log lines of this process (at most `limit`), as written: pino has already censored
 * PHI and secret fields (redactionPaths), so what the hub receives is what the journal holds.
 */
export function recentLogLines(limit: number): string[] {
  return recent.slice(-Math.max(0, Math.min(limit, RECENT_LOG_LINES)));
}

/** Passes every line on to `destination` and keeps the newest in memory. */
function keepingRecent(destination: DestinationStream): DestinationStream {
  const target = destination as DestinationStream & {
    flush?: (cb?: (error?: Error) => void) => void;
    flushSync?: () => void;
  };
  const tee = {
    write(line: string) {
      recent.push(line.endsWith('\n') ? line.slice(0, -1) : line);
      // Trimmed in bulk, so a log line costs no array shift.
      if (recent.length >= RECENT_LOG_LINES * 2) recent.splice(0, recent.length - RECENT_LOG_LINES);
      return target.write(line);
    },
    flush: target.flush ? (cb?: (error?: Error) => void) => target.flush!(cb) : undefined,
    flushSync: target.flushSync ? () => target.flushSync!() : undefined,
  };
  return tee;
}

/** The one root logger; callers derive `child({ connectionId })` and `child({ run })` from it. */
export function createRootLogger(
  options: { level?: LoggerOptions['level']; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      name: LOGGER_NAME,
      level: options.level ?? 'info',
      redact: { paths: redactionPaths(), censor: censor as (value: unknown, path: string[]) => unknown },
      base: { pid: process.pid },
    },
    // On a terminal, log lines go around the progress line (progress.ts), never onto it.
    keepingRecent(
      options.destination ?? (process.stderr.isTTY ? terminalLogDestination() : pino.destination(2)),
    ),
  );
}

/**
 * The logger a command runs with: standard error, or with `logFile` in the config a file rotated
 * by size and day (pino-roll) — for Windows services, which have no journal. The folder is created.
 */
export async function createConfiguredLogger(
  config: Pick<TendrilConfig, 'logLevel' | 'logFile'>,
): Promise<Logger> {
  if (!config.logFile) return createRootLogger({ level: config.logLevel });
  const { default: roll } = await import('pino-roll');
  const destination = await roll({
    file: config.logFile.path,
    size: config.logFile.maxSize,
    frequency: config.logFile.frequency,
    limit: { count: config.logFile.keep, removeOtherLogFiles: true },
    mkdir: true,
  });
  return createRootLogger({ level: config.logLevel, destination });
}
