import {
  customElementEvents,
  customElementRunDate,
  readOnlySelectProblem,
  TendrilError,
  type ConnectionConfig,
  type CustomElementRun,
  type CustomElementValue,
  type NightlyScriptConfig,
} from '@tendril/core';
import { classifyDbError, type SqlClient } from '@tendril/sql';
import type { Store } from '@tendril/store';
import type { Logger } from './logger.js';

/**
 * The rows one nightly script returned, as the named custom element receivers get: each row
 * becomes one event of `element` ({@link deliverNightlyScript}; `flat`: `{ element, data:
 * "<header>\n<row>" }`, the header being `columns` in the SELECT's order). Rows may hold patient
 * data: never log them.
 */
export type CustomElementBatch = CustomElementRun;

function cell(value: unknown): CustomElementValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return JSON.stringify(value);
}

/**
 * Runs one configured nightly script (read-only SELECT) through `SqlClient.execute` and returns
 * its rows. The config validator already refused anything but one SELECT; this checks again, so a
 * script built some other way cannot slip through. The database user's grants remain the real
 * guarantee: give Tendril a user with SELECT rights only.
 */
export async function runNightlyScript(
  deps: { readonly sql: SqlClient; readonly logger: Logger },
  input: {
    readonly connection: ConnectionConfig;
    readonly script: NightlyScriptConfig;
    readonly now?: () => Date;
  },
): Promise<CustomElementBatch> {
  const { connection, script } = input;
  const problem = readOnlySelectProblem(script.sql);
  if (problem) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `nightly script ${script.name} of connection ${connection.id}: sql ${problem}`,
      {
        details: { connectionId: connection.id, script: script.name },
      },
    );
  }
  const ranAtDate = (input.now ?? (() => new Date()))();
  const ranAt = ranAtDate.toISOString();
  // The run's day in the office's zone: part of each row event's id (one set of rows per local day).
  const runDate = customElementRunDate(ranAtDate, connection.timezone);
  let raw: Record<string, unknown>[];
  try {
    raw = await deps.sql.execute(deps.sql.knex.raw(script.sql));
  } catch (error) {
    throw error instanceof TendrilError ? error : classifyDbError(error);
  }
  const columns = raw.length > 0 ? Object.keys(raw[0]!) : [];
  const rows = raw.map((row) => Object.fromEntries(columns.map((c) => [c, cell(row[c])])));
  deps.logger.info(
    { event: 'nightly_script.ran', script: script.name, element: script.element, rows: rows.length },
    'nightly script ran',
  );
  return {
    connectionId: connection.id,
    script: script.name,
    element: script.element,
    ranAt,
    runDate,
    columns,
    rows,
  };
}

/** What {@link deliverNightlyScript} did: counts only (the rows themselves never reach a log). */
export interface NightlyScriptDelivery {
  readonly script: string;
  readonly element: string;
  readonly runDate: string;
  readonly rows: number;
  /** Row events written to the outbox now (and routed to the matching subscriptions). */
  readonly inserted: number;
  /** Rows already in the outbox from an earlier run of the same script on the same local day. */
  readonly existing: number;
}

/**
 * Runs a nightly script and puts its rows in the outbox as custom element events (one per row,
 * deterministic ids: core `customElementEvents`), `pageSize` rows per local transaction, each
 * with its delivery rows for the matching subscriptions. A run cut short and run again the same
 * day adds only the rows not yet stored.
 */
export async function deliverNightlyScript(
  deps: { readonly sql: SqlClient; readonly store: Store; readonly logger: Logger },
  input: {
    readonly connection: ConnectionConfig;
    readonly connectorId: string;
    readonly script: NightlyScriptConfig;
    readonly now?: () => Date;
  },
): Promise<NightlyScriptDelivery> {
  const run = await runNightlyScript(deps, input);
  const drafts = customElementEvents(run);
  const pageSize = input.connection.sync.pageSize;
  let inserted = 0;
  let existing = 0;
  for (let i = 0; i < drafts.length; i += pageSize) {
    const result = await deps.store.appendCustomEvents({
      connectionId: input.connection.id,
      connectorId: input.connectorId,
      events: drafts.slice(i, i + pageSize),
    });
    inserted += result.inserted.length;
    existing += result.existing;
  }
  const delivery = {
    script: run.script,
    element: run.element,
    runDate: run.runDate,
    rows: run.rows.length,
    inserted,
    existing,
  };
  deps.logger.info(
    { event: 'nightly_script.delivered', ...delivery },
    'nightly script rows queued for delivery',
  );
  return delivery;
}
