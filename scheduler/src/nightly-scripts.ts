import {
  readOnlySelectProblem,
  TendrilError,
  type ConnectionConfig,
  type NightlyScriptConfig,
} from '@tendril/core';
import { classifyDbError, type SqlClient } from '@tendril/sql';
import type { Logger } from './logger.js';

/** A cell of a script's result, reduced to what every output format can carry. */
export type CustomElementValue = string | number | boolean | null;

/**
 * The rows one nightly script returned, as the named custom element receivers get. Delivery turns
 * each row into one event of `element` (`flat`: `{ element, data: "<header>\n<row>" }`, the header
 * being `columns` in the SELECT's order). Rows may hold patient data: never log them.
 */
export interface CustomElementBatch {
  readonly connectionId: string;
  readonly script: string;
  readonly element: string;
  /** When the script ran (agent clock, ISO instant). */
  readonly ranAt: string;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, CustomElementValue>>[];
}

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
  const ranAt = (input.now ?? (() => new Date()))().toISOString();
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
  return { connectionId: connection.id, script: script.name, element: script.element, ranAt, columns, rows };
}
