import { cellText, TendrilError, type TableDefinition } from '@tendril/core';
import type { Knex } from 'knex';
import type { SqlClient } from './client.js';
import {
  checkLimit,
  greaterThan,
  keyParts,
  objectName,
  requireMssql,
  resolveColumn,
  selectTableColumns,
} from './mssql-paging.js';

/**
 * SQL Server change tracking, rung 1 of the ladder (docs/sync-semantics.md, "Change-detection modes").
 * Tendril never enables CT: it uses it when the DBA already has. One poll:
 * 1. {@link changeTrackingVersionsQuery}: `cur` and the table's minimum valid version (in one
 *    SNAPSHOT transaction with the page reads when snapshot isolation is on).
 * 2. If `state < minValid` (or there is no state): baseline, a snapshot scan hash-diffed against
 *    the shadow store. Decide with {@link changeTrackingNeedsBaseline}.
 * 3. {@link changeTrackingPageQuery} until a short page; the new state is `cur`.
 *
 * Row shape of a page: the table's columns (all NULL when the row is gone or filtered out by
 * `table.where`), `"alias.column"` for joins, {@link CT_VERSION_ALIAS}, {@link CT_OPERATION_ALIAS}
 * and the changed row's key from CHANGETABLE under `"__ct.<KeyColumn>"`: the engine takes the
 * `sourceId` from there, so a deleted row still has its key.
 */

/** `SYS_CHANGE_VERSION` of the row, as decimal text (bigint never travels as a JS number). */
export const CT_VERSION_ALIAS = '__ct_version';
/** `SYS_CHANGE_OPERATION`: `I`, `U` or `D`. */
export const CT_OPERATION_ALIAS = '__ct_operation';
/** Prefix of the CHANGETABLE key columns in a page row: `"__ct.PATID"`. */
export const CT_KEY_PREFIX = '__ct.';
/** Alias of `CHANGETABLE(...)` in the page query. */
const CT = 'ct';

/** A change-tracking version as decimal text (versions are `bigint`). */
const VERSION = /^(0|[1-9]\d{0,18})$/;

function checkVersion(value: string, what: string): void {
  if (!VERSION.test(value)) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      `the stored change-tracking ${what} is not a non-negative integer; reset the stream to run a baseline`,
      { details: { what } },
    );
  }
}

/**
 * `SELECT CHANGE_TRACKING_CURRENT_VERSION(), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?))`,
 * both as decimal text. `min_valid_version` is NULL when CT is not (or no longer) enabled for the
 * table: the stream must then fall down the ladder.
 */
export function changeTrackingVersionsQuery(
  client: SqlClient,
  table: string,
  schema = 'dbo',
): Knex.QueryBuilder {
  requireMssql(client, 'change tracking');
  const { knex } = client;
  return knex.select({
    current_version: knex.raw('CONVERT(varchar(20), CHANGE_TRACKING_CURRENT_VERSION())'),
    min_valid_version: knex.raw('CONVERT(varchar(20), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?)))', [
      objectName(schema, table),
    ]),
  });
}

/**
 * True when the stored version can no longer be read incrementally: no state yet, or cleanup has
 * removed changes after it (`state < minValid`, docs/sync-semantics.md, "Change-detection modes" and scenario
 * 15).
 */
export function changeTrackingNeedsBaseline(
  state: string | undefined,
  minValid: string | null | undefined,
): boolean {
  if (state === undefined) return true;
  checkVersion(state, 'version');
  if (minValid === null || minValid === undefined) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      'change tracking is not enabled for this table any more; run discovery again to choose another mode',
    );
  }
  checkVersion(minValid, 'minimum valid version');
  return BigInt(state) < BigInt(minValid);
}

/** One page of changes: `(sinceVersion, currentVersion]`, after `after` in `(version, key…)` order. */
export interface ChangeTrackingPage {
  /** The stream's state: changes after this version are read. */
  readonly sinceVersion: string;
  /** `CHANGE_TRACKING_CURRENT_VERSION()` read at the start of the poll: the new state. */
  readonly currentVersion: string;
  readonly after?: { readonly version: string; readonly key: readonly string[] };
  readonly limit: number;
}

/**
 * `SELECT TOP (n) … FROM CHANGETABLE(CHANGES t, @since) AS ct LEFT JOIN t ON <pk> [AND <where>]
 * WHERE ct.SYS_CHANGE_VERSION <= @cur [AND (version, pk) > after] ORDER BY version, pk`.
 *
 * - `@since` is a plain parameter bound as a JS integer (tedious `int`/`bigint`): CHANGETABLE
 *   takes a variable or constant there, not an expression such as CAST. Versions past 2^53 are
 *   refused rather than rounded.
 * - `table.where` goes into the join condition, not the WHERE: a row that left the filter (an
 *   `RSCTYPE` change) must still come back, as absent, so its shadow row gets a confirmed delete.
 */
export function changeTrackingPageQuery(
  client: SqlClient,
  table: TableDefinition,
  page: ChangeTrackingPage,
  schema = 'dbo',
): Knex.QueryBuilder {
  requireMssql(client, 'change tracking');
  checkLimit(page.limit);
  checkVersion(page.sinceVersion, 'version');
  checkVersion(page.currentVersion, 'current version');
  const since = Number(page.sinceVersion);
  if (!Number.isSafeInteger(since)) {
    throw new TendrilError(
      'TENDRIL_E_CURSOR_STATE',
      'the change-tracking version is beyond 2^53 and cannot be bound exactly; reset the stream to run a baseline',
    );
  }
  const { knex } = client;
  const keys = table.key.map((name) => resolveColumn(client, table, name));
  const qb = knex.from(knex.raw('CHANGETABLE(CHANGES ??, ?) as ??', [`${schema}.${table.table}`, since, CT]));
  qb.select({ [CT_VERSION_ALIAS]: knex.raw('CONVERT(varchar(20), ??)', [`${CT}.SYS_CHANGE_VERSION`]) });
  qb.select({ [CT_OPERATION_ALIAS]: `${CT}.SYS_CHANGE_OPERATION` });
  const ctKeys: Record<string, string> = {};
  for (const key of keys) ctKeys[`${CT_KEY_PREFIX}${key.name}`] = `${CT}.${key.name}`;
  qb.select(ctKeys);
  // The main table joins CHANGETABLE on its key; the table's own LEFT JOINs follow.
  const main = table.table;
  const where = Object.entries(table.where ?? {});
  qb.leftJoin(main, function on(this: Knex.JoinClause) {
    for (const key of keys) this.on(key.ref, '=', `${CT}.${key.name}`);
    for (const [name, expected] of where) {
      const { ref } = resolveColumn(client, table, name);
      if (typeof expected === 'object') {
        if ('in' in expected) this.andOnIn(ref, [...expected.in]);
        else this.andOnNotIn(ref, [...expected.notIn]);
      } else this.andOnVal(ref, '=', expected);
    }
  });
  selectTableColumns(qb, client, table);
  qb.where(`${CT}.SYS_CHANGE_VERSION`, '<=', knex.raw('CAST(? AS bigint)', [page.currentVersion]));
  if (page.after) {
    const after = page.after;
    checkVersion(after.version, 'page position');
    qb.andWhere((next) =>
      greaterThan(next, [
        { ref: `${CT}.SYS_CHANGE_VERSION`, bind: () => knex.raw('CAST(? AS bigint)', [after.version]) },
        ...keyParts(client, table, after.key, (c) => `${CT}.${c.name}`),
      ]),
    );
  }
  qb.orderBy(
    [`${CT}.SYS_CHANGE_VERSION`, ...keys.map((k) => `${CT}.${k.name}`)].map((column) => ({
      column,
      order: 'asc',
    })),
  );
  return qb.limit(page.limit);
}

/**
 * The key of a changed row from a page row (`"__ct.<KeyColumn>"`), one string per key column, and
 * whether the row itself came back (false: deleted, or filtered out by `table.where`). The engine
 * confirms absent rows as deletes without a point lookup: CT's join is that lookup.
 */
export function changeTrackingRowKey(
  table: TableDefinition,
  row: Readonly<Record<string, unknown>>,
): { readonly key: string[]; readonly present: boolean } {
  const key = table.key.map((column) => {
    const value = row[`${CT_KEY_PREFIX}${column}`];
    if (value === null || value === undefined) {
      throw new TendrilError(
        'TENDRIL_E_MAPPING',
        `table ${table.table}: a change-tracking row lacks key column ${column}`,
        {
          details: { table: table.table, column },
        },
      );
    }
    return cellText(value).trim();
  });
  const present = table.key.every((column) => row[column] !== null && row[column] !== undefined);
  return { key, present };
}
