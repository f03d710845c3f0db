import { afterAll, describe, expect, it } from 'vitest';
import { applyTableOverrides, defineTable, t } from '@tendril/core';
import { createSqlClient, type Dialect, type SqlClient } from './client.js';
import { keysPageQuery, lookupByKeysQuery, snapshotPageQuery, timestampPageQuery } from './queries.js';

/*
 * Per-site overrides (connections[].tableMap) in compiled SQL, no server: the site's table and
 * column names are read (`site AS declared`), filters, joins, keyset and ORDER BY use the site
 * columns, and rows keep declared names. queries.test.ts keeps the un-overridden snapshots.
 */

const URLS: Record<Dialect, string> = {
  mysql: 'mysql://tendril@127.0.0.1:1/tendril_sql_none',
  mssql: 'mssql://tendril@127.0.0.1:1/tendril_sql_none?trustServerCertificate=true',
  postgres: 'postgres://tendril@127.0.0.1:1/tendril_sql_none',
  sqlite: 'sqlite::memory:',
};
const DIALECT_LIST = Object.keys(URLS) as Dialect[];
const clients = new Map<Dialect, SqlClient>(DIALECT_LIST.map((d) => [d, createSqlClient({ url: URLS[d] })]));
afterAll(async () => {
  for (const client of clients.values()) await client.close();
});

const declared = defineTable<'Appointment'>({
  resourceType: 'Appointment',
  table: 'Appointments',
  key: ['AppointmentId'],
  columns: {
    AppointmentId: 'int',
    PatientId: 'int',
    Status: 'int',
    Note: 'varchar(200)',
    LastModified: 'datetime',
    CreatedAt: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  joins: [
    {
      table: 'Patients',
      alias: 'p',
      on: { PatientId: 'PatientId' },
      columns: { PatientId: 'int', LastName: 'varchar(60)' },
      key: ['PatientId'],
    },
  ],
  where: { Status: { notIn: [9] } },
  fields: { description: t.col('Note', t.str()), patientId: t.ref('Patient', 'PatientId') },
});

const site = applyTableOverrides(declared, {
  table: 'dbo.tblAppt',
  cursor: 'CreatedAt',
  columns: { AppointmentId: 'ApptID', PatientId: 'PatID', Status: 'ApptStatus', CreatedAt: 'DateChanged' },
});

const WINDOW = { lower: '2024-03-05 09:45:00.000', upper: '2024-03-05 10:08:05.000', limit: 100 } as const;

function compiled(query: { toSQL(): { toNative(): { sql: string; bindings: readonly unknown[] } } }) {
  const { sql, bindings } = query.toSQL().toNative();
  return { sql, bindings: [...bindings] };
}

describe.each(DIALECT_LIST)('overridden table compiled on %s', (dialect) => {
  const client = clients.get(dialect) as SqlClient;

  it('timestampPageQuery selects site columns under declared names, pages on the site cursor', () => {
    const first = compiled(
      timestampPageQuery(client, site, {
        ...WINDOW,
        after: { cursor: '2024-03-05 09:50:00.003', key: ['42'] },
      }),
    );
    expect(first).toMatchSnapshot();
  });

  it('snapshot, lookup and key pages use the site key column', () => {
    expect(compiled(snapshotPageQuery(client, site, { after: { key: ['7'] }, limit: 50 }))).toMatchSnapshot(
      'snapshot',
    );
    expect(compiled(lookupByKeysQuery(client, site, [['1'], ['2']]))).toMatchSnapshot('lookup');
    expect(compiled(keysPageQuery(client, site, { limit: 50 }))).toMatchSnapshot('keys');
  });
});

describe('override semantics', () => {
  const mysql = clients.get('mysql') as SqlClient;

  it('aliases renamed columns to their declared names and leaves the others alone', () => {
    const { sql } = compiled(snapshotPageQuery(mysql, site, { limit: 10 }));
    expect(sql).toContain('`dbo`.`tblAppt`.`ApptID` as `AppointmentId`');
    expect(sql).toContain('`dbo`.`tblAppt`.`Note` as `Note`');
    expect(sql).toContain('`dbo`.`tblAppt`.`ApptStatus` not in (?)');
    expect(sql).toContain('on `p`.`PatientId` = `dbo`.`tblAppt`.`PatID`');
    expect(sql).not.toMatch(/`AppointmentId` (>|asc)/);
  });

  it('the declared table is untouched and an unchanged table compiles exactly as before', () => {
    expect(declared.table).toBe('Appointments');
    expect(declared.columnNames).toBeUndefined();
    const same = applyTableOverrides(declared, {});
    expect(compiled(snapshotPageQuery(mysql, same, { limit: 10 }))).toEqual(
      compiled(snapshotPageQuery(mysql, declared, { limit: 10 })),
    );
  });
});
