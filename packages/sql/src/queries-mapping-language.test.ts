import { afterAll, describe, expect, it } from 'vitest';
import { defineTable, t, type TableDefinition } from '@tendril/core';
import { createSqlClient, type Dialect, type SqlClient } from './client.js';
import { changeTrackingPageQuery } from './mssql-change-tracking.js';
import { keysPageQuery, lookupByKeysQuery, snapshotPageQuery, timestampPageQuery } from './queries.js';

/*
 * The SQL core builds for the mapping language's query-level words, per dialect, compiled only
 * (`.toSQL().toNative()`, no server): a cursor that falls back to a second column when the first
 * is NULL, and joins with constant conditions (key/value side tables). The mssql snapshots are the
 * evidence for the T-SQL; the same queries run on MariaDB in test/mapping-language.test.ts.
 */

const URLS: Record<Dialect, string> = {
  mysql: 'mysql://tendril@127.0.0.1:1/tendril_sql_none',
  mssql: 'mssql://tendril@127.0.0.1:1/tendril_sql_none?trustServerCertificate=true',
  postgres: 'postgres://tendril@127.0.0.1:1/tendril_sql_none',
  sqlite: 'sqlite::memory:',
};
const DIALECTS = Object.keys(URLS) as Dialect[];
const clients = new Map<Dialect, SqlClient>(DIALECTS.map((d) => [d, createSqlClient({ url: URLS[d] })]));
afterAll(async () => {
  for (const client of clients.values()) await client.close();
});
const sqlOf = (builder: { toSQL(): { toNative(): unknown } }) =>
  builder.toSQL().toNative() as { sql: string; bindings: unknown[] };

/** A patient whose stamp can be NULL (then its creation time counts) and whose race is a definition row. */
const patient = defineTable({
  resourceType: 'Patient',
  table: 'PAT',
  key: ['PATID', 'PATDB'],
  columns: {
    PATID: 'int',
    PATDB: 'int',
    Race: 'smallint',
    LAST_MOD: 'datetime',
    CREATED: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LAST_MOD', fallback: 'CREATED', clock: 'db-local', precision: 3 },
  joins: [
    {
      table: 'DEF_TEXT',
      alias: 'race',
      on: { DEFID: 'Race' },
      onValues: { TYPE: 100, KIND: 'R' },
      key: ['DEFID', 'TYPE'],
      columns: { DEFID: 'int', TYPE: 'int', KIND: 'varchar(2)', DESCRIPTION: 'varchar(255)' },
    },
  ],
  fields: { race: t.col('race.DESCRIPTION', t.coding('urn:test:race'), (c) => (c ? [c] : undefined)) },
}) as TableDefinition;

const window = { lower: '2025-03-01 09:45:00.000', upper: '2025-03-01 10:08:05.123' };

describe.each(DIALECTS)('%s', (dialect) => {
  const client = clients.get(dialect)!;

  it('pages a fallback cursor by COALESCE(stamp, fallback), each window branch on its own column', () => {
    const first = sqlOf(timestampPageQuery(client, patient, { ...window, limit: 100 }));
    const next = sqlOf(
      timestampPageQuery(client, patient, {
        ...window,
        after: { cursor: '2025-03-01 10:00:00.003', key: ['12', '1'] },
        limit: 100,
      }),
    );
    expect({ first, next }).toMatchSnapshot();
    // The coalesced value is what is ordered, compared after a page and returned as the cursor text.
    expect(next.sql.match(/COALESCE/g)?.length).toBe(4);
    expect(first.sql).toMatch(/is null/i);
  });

  it('adds constant join conditions as parameters bound in the joined column type', () => {
    const page = sqlOf(
      snapshotPageQuery(client, { ...patient, cursor: { mode: 'snapshot' } }, { limit: 10 }),
    );
    expect(page).toMatchSnapshot();
    expect(page.bindings).toEqual(expect.arrayContaining(['100', 'R']));
    expect(sqlOf(lookupByKeysQuery(client, patient, [['12', '1']])).bindings).toEqual(
      expect.arrayContaining(['100', 'R']),
    );
    // A key scan reads no joined column, so it joins nothing.
    expect(sqlOf(keysPageQuery(client, patient, { limit: 10 })).sql).not.toMatch(/join/i);
  });
});

it('mssql change tracking reads the same join with its constant conditions', () => {
  const page = sqlOf(
    changeTrackingPageQuery(clients.get('mssql')!, patient, {
      sinceVersion: '1200',
      currentVersion: '1350',
      limit: 100,
    }),
  );
  expect(page.sql).toContain('[race].[TYPE] = CAST(@p');
  expect(page.sql).toContain('[race].[KIND] = CAST(@p');
  expect(page).toMatchSnapshot();
});
