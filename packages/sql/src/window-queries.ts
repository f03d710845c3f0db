import {
  cellText,
  TendrilError,
  WINDOW_DEFAULTS,
  type ColumnType,
  type TableDefinition,
} from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { bindCursor, bindKey, checkDeclaredType, cursorText } from './column-binding.js';
import { lookupByKeysQuery, snapshotPageQuery, type CursorPosition } from './queries.js';

/**
 * Reads of a `window` stream (docs/sync-semantics.md, "Change-detection modes": `window`): tables with no
 * usable change stamp but a business date (OpenEMR `pc_eventDate`). A poll reads every row whose business
 * date falls in the window around today, plus every row with a key above the largest key already seen (new
 * rows booked far ahead or entered late), keyset-paged by key. Rows carry the business date's own
 * text under {@link BUSINESS_DATE_ALIAS} so the engine can keep it in the shadow store: the next
 * poll's delete candidates are the shadow rows dated inside the window that it did not see.
 */

/** Alias of the business date's text form in every row of a window query. */
export const BUSINESS_DATE_ALIAS = '__business_date';

/** One page of a window poll. Days are `YYYY-MM-DD`. */
export interface WindowPage {
  /** First day of the window (inclusive). */
  readonly from: string;
  /** The day after the window's last day (exclusive), so `datetime` dates on the last day count. */
  readonly until: string;
  /**
   * Rows whose key is above this also qualify. Absent: every row qualifies (the first scan of a
   * stream, a backload), so history outside the window is read once.
   */
  readonly newKeysAfter?: readonly string[];
  readonly after?: CursorPosition;
  readonly limit: number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function windowSpec(table: TableDefinition): { dateColumn: string; pastDays: number; futureDays: number } {
  if (table.cursor.mode !== 'window') {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `table ${table.table} has no window cursor; read it with its own mode's query`,
      {
        details: { table: table.table, mode: table.cursor.mode },
      },
    );
  }
  return {
    dateColumn: table.cursor.dateColumn,
    pastDays: table.cursor.pastDays ?? WINDOW_DEFAULTS.pastDays,
    futureDays: table.cursor.futureDays ?? WINDOW_DEFAULTS.futureDays,
  };
}

/** `YYYY-MM-DD` shifted by whole days, on the proleptic calendar (no zone enters). */
function addDays(day: string, days: number): string {
  const ms = Date.parse(`${day}T00:00:00Z`) + days * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The window of a `window` table around `today` (the connection's local day, computed by the
 * caller from the database clock): `from` = today − pastDays, `until` = today + futureDays + 1 day.
 */
export function windowBounds(table: TableDefinition, today: string): { from: string; until: string } {
  if (!DAY.test(today) || Number.isNaN(Date.parse(`${today}T00:00:00Z`))) {
    throw new TendrilError(
      'TENDRIL_E_CLOCK',
      'the window day is not of the form YYYY-MM-DD; check the connection timezone',
    );
  }
  const { pastDays, futureDays } = windowSpec(table);
  return { from: addDays(today, -pastDays), until: addDays(today, futureDays + 1) };
}

/** Qualified reference and declared type of the business date column (main table or `alias.column`). */
function dateColumnOf(
  client: SqlClient,
  table: TableDefinition,
): { ref: string; type: ColumnType; name: string } {
  const { dateColumn } = windowSpec(table);
  const dot = dateColumn.indexOf('.');
  const type =
    dot < 0
      ? table.columns[dateColumn]
      : table.joins?.find((j) => j.alias === dateColumn.slice(0, dot))?.columns[dateColumn.slice(dot + 1)];
  if (type === undefined) {
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_DEFINITION',
      `table ${table.table}: window date column "${dateColumn}" is not declared in columns`,
      {
        details: { table: table.table, column: dateColumn },
      },
    );
  }
  checkDeclaredType(client, type, dateColumn);
  return { ref: dot < 0 ? `${table.table}.${dateColumn}` : dateColumn, type, name: dateColumn };
}

function selectBusinessDate(client: SqlClient, qb: Knex.QueryBuilder, table: TableDefinition): void {
  const column = dateColumnOf(client, table);
  qb.select(client.knex.raw('? as ??', [cursorText(client, column.ref), BUSINESS_DATE_ALIAS]));
}

/** `(k1, k2, …) > (v1, v2, …)` written out column by column, each value bound in its key's type. */
function keyAbove(
  client: SqlClient,
  qb: Knex.QueryBuilder,
  table: TableDefinition,
  values: readonly string[],
  index = 0,
): void {
  const name = table.key[index] as string;
  const type = table.columns[name] as ColumnType;
  const ref = `${table.table}.${name}`;
  const bound = () => bindKey(client, type, name, values[index] as string);
  qb.where(ref, '>', bound());
  if (index + 1 < table.key.length) {
    qb.orWhere((equal) => {
      equal.where(ref, '=', bound()).andWhere((deeper) => keyAbove(client, deeper, table, values, index + 1));
    });
  }
}

/**
 * One page of a window poll: `table.where`, then (`from <= date < until` OR key > `newKeysAfter`),
 * after `page.after` in key order. Same select list and joins as the snapshot scan, plus
 * {@link BUSINESS_DATE_ALIAS}.
 */
export function windowPageQuery(
  client: SqlClient,
  table: TableDefinition,
  page: WindowPage,
): Knex.QueryBuilder {
  const date = dateColumnOf(client, table);
  for (const day of [page.from, page.until]) {
    if (!DAY.test(day))
      throw new TendrilError('TENDRIL_E_CLOCK', 'window bounds must be days of the form YYYY-MM-DD', {
        details: { table: table.table },
      });
  }
  if (page.newKeysAfter && page.newKeysAfter.length !== table.key.length) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `table ${table.table}: the stored largest key does not match the stream's key (${table.key.join(', ')}); the connector definition changed, so reset the stream to run a baseline`,
      {
        details: {
          table: table.table,
          keyColumns: table.key.length,
          storedColumns: page.newKeysAfter.length,
        },
      },
    );
  }
  const qb = snapshotPageQuery(client, table, {
    ...(page.after ? { after: page.after } : {}),
    limit: page.limit,
  });
  selectBusinessDate(client, qb, table);
  const newKeysAfter = page.newKeysAfter;
  if (newKeysAfter) {
    qb.andWhere((either) => {
      either
        .where((inside) => {
          inside
            .where(date.ref, '>=', bindCursor(client, date.type, date.name, page.from))
            .andWhere(date.ref, '<', bindCursor(client, date.type, date.name, page.until));
        })
        .orWhere((fresh) => keyAbove(client, fresh, table, newKeysAfter));
    });
  }
  return qb;
}

/**
 * Point lookup of a window table's rows by key, with {@link BUSINESS_DATE_ALIAS}: confirms delete
 * candidates and learns the new date of a row moved out of the window (scenario 16).
 */
export function windowLookupQuery(
  client: SqlClient,
  table: TableDefinition,
  keys: readonly (readonly string[])[],
): Knex.QueryBuilder {
  const qb = lookupByKeysQuery(client, table, keys);
  selectBusinessDate(client, qb, table);
  return qb;
}

/** The business date of a window row as `YYYY-MM-DD`, or undefined when the row has none. */
export function businessDateOf(row: Readonly<Record<string, unknown>>): string | undefined {
  const value = row[BUSINESS_DATE_ALIAS];
  if (value === null || value === undefined) return undefined;
  const day = cellText(value).trim().slice(0, 10);
  return DAY.test(day) ? day : undefined;
}
