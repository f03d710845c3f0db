import { afterAll, describe, expect, it } from 'vitest';
import { defineTable, t } from '@tendril/core';
import { createSqlClient, type Dialect, type SqlClient } from './client.js';
import { businessDateOf, windowBounds, windowLookupQuery, windowPageQuery } from './window-queries.js';

/** Compiled SQL of the window queries per dialect, no server (see queries.test.ts). */
const URLS: Record<Dialect, string> = {
  mysql: 'mysql://tendril@127.0.0.1:1/tendril_sql_none',
  mssql: 'mssql://tendril@127.0.0.1:1/tendril_sql_none?trustServerCertificate=true',
  postgres: 'postgres://tendril@127.0.0.1:1/tendril_sql_none',
  sqlite: 'sqlite::memory:',
};
const clients = new Map<Dialect, SqlClient>(
  Object.entries(URLS).map(([d, url]) => [d as Dialect, createSqlClient({ url })]),
);
afterAll(async () => {
  for (const client of clients.values()) await client.close();
});

const events = defineTable({
  resourceType: 'Appointment',
  table: 'events',
  key: ['Clinic', 'EventNum'],
  columns: { Clinic: 'int', EventNum: 'bigint', EventDate: 'date', Status: 'varchar(5)' },
  cursor: { mode: 'window', dateColumn: 'EventDate', pastDays: 7, futureDays: 14 },
  where: { Status: { notIn: ['P'] } },
  fields: { status: t.compute([], () => 'booked') },
});

describe('window queries', () => {
  it('computes the window around today, inclusive of both ends (until is the day after)', () => {
    expect(windowBounds(events, '2025-03-01')).toEqual({ from: '2025-02-22', until: '2025-03-16' });
    expect(
      windowBounds(
        defineTable({ ...events, cursor: { mode: 'window', dateColumn: 'EventDate' } }),
        '2024-12-31',
      ),
    ).toEqual({
      from: '2024-12-01',
      until: '2025-04-01',
    });
    expect(() => windowBounds(events, '03/01/2025')).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_CLOCK' }),
    );
  });

  it('rejects a table that is not in window mode, and a stored key of the wrong width', () => {
    const client = clients.get('mysql')!;
    const stamped = defineTable({ ...events, cursor: { mode: 'snapshot' } });
    expect(() =>
      windowPageQuery(client, stamped, { from: '2025-01-01', until: '2025-02-01', limit: 10 }),
    ).toThrow(expect.objectContaining({ code: 'TENDRIL_E_CONNECTOR_DEFINITION' }));
    expect(() =>
      windowPageQuery(client, events, {
        from: '2025-01-01',
        until: '2025-02-01',
        newKeysAfter: ['9'],
        limit: 10,
      }),
    ).toThrow(expect.objectContaining({ code: 'TENDRIL_E_CURSOR_STATE' }));
  });

  it.each(Object.keys(URLS) as Dialect[])(
    '%s: page query (window OR new keys, after a key) and lookup',
    (dialect) => {
      const client = clients.get(dialect)!;
      const page = windowPageQuery(client, events, {
        from: '2025-02-22',
        until: '2025-03-16',
        newKeysAfter: ['2', '900'],
        after: { key: ['1', '40'] },
        limit: 500,
      })
        .toSQL()
        .toNative();
      expect(page).toMatchSnapshot();
      expect(
        windowPageQuery(client, events, { from: '2025-02-22', until: '2025-03-16', limit: 500 })
          .toSQL()
          .toNative(),
      ).toMatchSnapshot();
      expect(
        windowLookupQuery(client, events, [['1', '40']])
          .toSQL()
          .toNative(),
      ).toMatchSnapshot();
    },
  );

  it('reads the business date text of a row as a day', () => {
    expect(businessDateOf({ __business_date: '2025-03-01' })).toBe('2025-03-01');
    expect(businessDateOf({ __business_date: '2025-03-01 00:00:00.000000' })).toBe('2025-03-01');
    expect(businessDateOf({ __business_date: null })).toBeUndefined();
    expect(businessDateOf({})).toBeUndefined();
  });
});
