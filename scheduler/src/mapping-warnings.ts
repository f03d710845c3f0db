import { subscribeMappingWarnings, type MappingWarningMessage, type WarningCode } from '@tendril/core';
import type { Logger } from './logger.js';

/** Every this many occurrences of one warning, its running count is logged again. */
const LOG_EVERY = 1_000;

/** How often one warning occurred (names only: code, table, field — never a value). */
export interface MappingWarningCount {
  readonly code: WarningCode;
  readonly table: string;
  readonly field: string;
  readonly count: number;
}

export interface MappingWarningTracker {
  /** Counts since the last `take`, for one connection, and resets them. */
  take(connectionId: string): MappingWarningCount[];
  /** Stops listening. */
  stop(): void;
}

/**
 * Counts and logs the mapping warnings core publishes (docs/errors.md, "Warning codes"): the first
 * occurrence of each (connection, table, field, code) at `warn` with `event: 'mapping.warning'`, then
 * every {@link LOG_EVERY}th with its running count, so a table full of bad dates logs a handful of
 * lines, not one per row. `only` restricts it to the connections it names.
 */
export function trackMappingWarnings(logger: Logger, only?: ReadonlySet<string>): MappingWarningTracker {
  const totals = new Map<string, number>();
  const pending = new Map<string, Map<string, { message: MappingWarningMessage; count: number }>>();
  const stop = subscribeMappingWarnings((message) => {
    if (only && !only.has(message.connectionId)) return;
    const key = `${message.connectionId}\u0000${message.table}\u0000${message.field}\u0000${message.code}`;
    const total = (totals.get(key) ?? 0) + 1;
    totals.set(key, total);
    let forConnection = pending.get(message.connectionId);
    if (!forConnection)
      pending.set(
        message.connectionId,
        (forConnection = new Map<string, { message: MappingWarningMessage; count: number }>()),
      );
    const entry = forConnection.get(key);
    if (entry) entry.count += 1;
    else forConnection.set(key, { message, count: 1 });
    if (total === 1 || total % LOG_EVERY === 0) {
      logger.warn(
        {
          event: 'mapping.warning',
          code: message.code,
          connectionId: message.connectionId,
          table: message.table,
          resourceType: message.resourceType,
          field: message.field,
          count: total,
        },
        total === 1
          ? 'a mapped value was dropped (see docs/errors.md); further occurrences are counted'
          : 'a mapped value keeps being dropped',
      );
    }
  });
  return {
    take(connectionId) {
      const forConnection = pending.get(connectionId);
      pending.delete(connectionId);
      return [...(forConnection?.values() ?? [])].map(({ message, count }) => ({
        code: message.code,
        table: message.table,
        field: message.field,
        count,
      }));
    },
    stop,
  };
}
