import { PHI_FIELD_NAMES } from '@tendril/core';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

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

/**
 * Redaction paths derived from the model's PHI fields and the config's secret fields, at the top
 * level and up to two levels down. Anything logged under one of these names is censored.
 */
export function redactionPaths(): string[] {
  const names = [...PHI_FIELD_NAMES, ...SECRET_FIELD_NAMES];
  return names.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);
}

/** The one root logger; callers derive `child({ connectionId })` and `child({ run })` from it. */
export function createRootLogger(
  options: { level?: LoggerOptions['level']; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      name: 'tendril',
      level: options.level ?? 'info',
      redact: { paths: redactionPaths(), censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination(2),
  );
}
