import { TendrilError, type TableDefinition } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import { CURSOR_ALIAS } from './queries.js';
import {
  applyRowCondition,
  checkIdentifier,
  checkLimit,
  greaterThan,
  keyParts,
  requireMssql,
  selectTableColumns,
} from './mssql-paging.js';

/**
 * SQL Server `rowversion`, rung 2 of the ladder (docs/sync-semantics.md, "Change-detection modes"). One poll:
 * 1. {@link rowversionUpperQuery} **first**: `upper = MIN_ACTIVE_ROWVERSION()`, the lowest
 *    rowversion still held by an open transaction (or the next one to be issued). Every row below
 *    it is committed, so nothing below `upper` can still appear later.
 * 2. {@link rowversionPageQuery}: `state <= rv < upper`, keyset-paged by (rv, key…).
 * 3. New state = `upper`. Deletes are not seen (reconciliation finds them).
 *
 * Rowversions travel as text `0x` + 16 hex digits (`CONVERT(varchar(18), rv, 1)`) and are bound
 * back as `CAST(@p AS binary(8))` from an 8-byte buffer: never a number (they are unsigned 64-bit).
 */

/** A rowversion as text: `0x` and 16 hex digits, the form `CONVERT(varchar(18), rv, 1)` gives. */
const ROWVERSION_TEXT = /^0x[0-9A-Fa-f]{16}$/;

/** The first rowversion of a fresh stream: every row is at or above it. */
export const ROWVERSION_ZERO = '0x0000000000000000';

/** An 8-byte buffer from a rowversion's text form; refuses anything else. */
export function rowversionBytes(text: string): Buffer {
  if (!ROWVERSION_TEXT.test(text)) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      'a stored rowversion is not 0x followed by 16 hex digits; reset the stream to run a baseline',
    );
  }
  return Buffer.from(text.slice(2), 'hex');
}

/** Orders two rowversion texts as the unsigned 64-bit numbers they are. */
export function compareRowversion(a: string, b: string): number {
  return Buffer.compare(rowversionBytes(a), rowversionBytes(b));
}

function bindRowversion(client: SqlClient, text: string): Knex.Raw {
  return client.knex.raw('CAST(? AS binary(8))', [rowversionBytes(text)]);
}

/** `SELECT CONVERT(varchar(18), MIN_ACTIVE_ROWVERSION(), 1) AS upper_rowversion`. */
export function rowversionUpperQuery(client: SqlClient): Knex.QueryBuilder {
  requireMssql(client, 'rowversion');
  const { knex } = client;
  return knex.select({ upper_rowversion: knex.raw('CONVERT(varchar(18), MIN_ACTIVE_ROWVERSION(), 1)') });
}

export interface RowversionPage {
  /** The `rowversion` column found by discovery (not a declared column: it is not mapped). */
  readonly column: string;
  /** The stream's state (inclusive). */
  readonly lower: string;
  /** `MIN_ACTIVE_ROWVERSION()` read at the start of the poll (exclusive): the new state. */
  readonly upper: string;
  /** Last row of the previous page: its rowversion text and key. */
  readonly after?: { readonly cursor: string; readonly key: readonly string[] };
  readonly limit: number;
}

/**
 * `SELECT TOP (n) <columns>, CONVERT(varchar(18), rv, 1) AS __cursor FROM t … WHERE <where> AND
 * rv >= CAST(@lower AS binary(8)) AND rv < CAST(@upper AS binary(8)) [AND (rv, key…) > after]
 * ORDER BY rv, key…`. The row shape is that of `timestampPageQuery`, with the rowversion text
 * under {@link CURSOR_ALIAS}.
 */
export function rowversionPageQuery(
  client: SqlClient,
  table: TableDefinition,
  page: RowversionPage,
): Knex.QueryBuilder {
  requireMssql(client, 'rowversion');
  checkLimit(page.limit);
  const { knex } = client;
  const rv = `${table.table}.${checkIdentifier(page.column, 'rowversion column')}`;
  const qb = knex(table.table);
  selectTableColumns(qb, client, table);
  qb.select({ [CURSOR_ALIAS]: knex.raw('CONVERT(varchar(18), ??, 1)', [rv]) });
  applyRowCondition(qb, client, table, table.where);
  qb.andWhere((window) => {
    window
      .where(rv, '>=', bindRowversion(client, page.lower))
      .andWhere(rv, '<', bindRowversion(client, page.upper));
  });
  if (page.after) {
    const after = page.after;
    qb.andWhere((next) =>
      greaterThan(next, [
        { ref: rv, bind: () => bindRowversion(client, after.cursor) },
        ...keyParts(client, table, after.key),
      ]),
    );
  }
  const keys = table.key.map((name) => `${table.table}.${name}`);
  qb.orderBy([rv, ...keys].map((column) => ({ column, order: 'asc' })));
  return qb.limit(page.limit);
}
