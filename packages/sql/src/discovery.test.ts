import { afterAll, describe, expect, it } from 'vitest';
import { applyTableOverrides, defineTable, t } from '@tendril/core';
import { createSqlClient, type Dialect, type SqlClient } from './client.js';
import { compareStream, discoveryQueries, findLiveTable, typeFits, type LiveSchema } from './discovery.js';

/* Discovery's comparison on hand-made live schemas, and the metadata SQL per dialect (no server). */

const table = defineTable<'Appointment'>({
  resourceType: 'Appointment',
  table: 'Appointments',
  key: ['AppointmentId'],
  columns: {
    AppointmentId: 'int',
    PatientId: 'int',
    Status: 'varchar(20)',
    StartTime: 'datetime',
    LastModified: 'datetime',
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
  fields: {
    status: t.col('Status', t.lookup({ a: 'booked' }, 'booked')),
    patientId: t.ref('Patient', 'PatientId'),
  },
});

function schema(
  overrides: Partial<Record<'appointments' | 'patients', LiveSchema['tables'][number] | null>> = {},
): LiveSchema {
  const appointments = {
    schema: 'dbo',
    name: 'Appointments',
    primaryKey: ['AppointmentId'],
    columns: [
      { name: 'AppointmentId', type: 'int', nullable: false },
      { name: 'PatientId', type: 'int', nullable: true },
      { name: 'Status', type: 'varchar(40)', nullable: true },
      { name: 'StartTime', type: 'datetime', nullable: true },
      { name: 'LastModified', type: 'datetime', nullable: false },
    ],
  };
  const patients = {
    schema: 'dbo',
    name: 'Patients',
    primaryKey: ['PatientId'],
    columns: [
      { name: 'PatientId', type: 'int', nullable: false },
      { name: 'LastName', type: 'nvarchar(60)', nullable: true },
    ],
  };
  const tables = [
    overrides.appointments === undefined ? appointments : overrides.appointments,
    overrides.patients === undefined ? patients : overrides.patients,
  ].filter((x): x is NonNullable<typeof x> => x !== null);
  return { dialect: 'mssql', defaultSchema: 'dbo', tables };
}

describe('compareStream', () => {
  it('ok when every table and column is there in a compatible type; another type of the same family is a note', () => {
    const result = compareStream('appointments', table, schema());
    expect(result.status).toBe('ok');
    expect(result.checkedColumns).toBe(7);
    // varchar(40) for varchar(20) is silent; nvarchar for varchar is noted.
    expect(result.findings).toEqual([
      expect.objectContaining({
        status: 'note',
        table: 'Patients',
        column: 'LastName',
        found: 'nvarchar(60)',
      }),
    ]);
    expect(result.tables).toEqual(['Appointments', 'Patients']);
  });

  it('missing table, missing column and type mismatch are reported per item', () => {
    expect(compareStream('appointments', table, schema({ patients: null })).status).toBe('missing');
    const noColumn = schema();
    const withoutStart = {
      ...noColumn.tables[0]!,
      columns: noColumn.tables[0]!.columns.filter((c) => c.name !== 'StartTime'),
    };
    const missing = compareStream('appointments', table, {
      ...noColumn,
      tables: [withoutStart, noColumn.tables[1]!],
    });
    expect(missing.status).toBe('missing');
    expect(missing.findings).toContainEqual(
      expect.objectContaining({ status: 'missing', column: 'StartTime', role: 'column' }),
    );
    const retyped = {
      ...noColumn.tables[0]!,
      columns: noColumn.tables[0]!.columns.map((c) =>
        c.name === 'StartTime' ? { ...c, type: 'varchar(30)' } : c,
      ),
    };
    const mismatch = compareStream('appointments', table, {
      ...noColumn,
      tables: [retyped, noColumn.tables[1]!],
    });
    expect(mismatch.status).toBe('type-mismatch');
    expect(mismatch.findings).toContainEqual(
      expect.objectContaining({
        status: 'type-mismatch',
        column: 'StartTime',
        expected: 'datetime',
        found: 'varchar(30)',
      }),
    );
  });

  it('a cursor column must keep its exact type (datetime2 binds differently from datetime)', () => {
    const base = schema();
    const cursor = {
      ...base.tables[0]!,
      columns: base.tables[0]!.columns.map((c) =>
        c.name === 'LastModified' ? { ...c, type: 'datetime2(7)' } : c,
      ),
    };
    const result = compareStream('appointments', table, { ...base, tables: [cursor, base.tables[1]!] });
    expect(result.status).toBe('type-mismatch');
    expect(result.findings[0]).toMatchObject({ role: 'cursor', column: 'LastModified' });
  });

  it('checks the site names of an overridden table and reports the declared name too', () => {
    const site = applyTableOverrides(table, { table: 'sched.tblAppt', columns: { StartTime: 'ApptStart' } });
    const base = schema();
    const renamed = {
      ...base.tables[0]!,
      schema: 'sched',
      name: 'tblAppt',
      columns: base.tables[0]!.columns.map((c) => (c.name === 'StartTime' ? { ...c, name: 'ApptStart' } : c)),
    };
    expect(compareStream('appointments', site, { ...base, tables: [renamed, base.tables[1]!] }).status).toBe(
      'ok',
    );
    const result = compareStream('appointments', site, base);
    expect(result.status).toBe('missing');
    expect(result.findings[0]!.message).toContain('sched.tblAppt');
  });

  it('the fingerprint changes with the live schema and not otherwise', () => {
    const a = compareStream('appointments', table, schema()).fingerprint;
    expect(compareStream('appointments', table, schema()).fingerprint).toBe(a);
    const base = schema();
    const added = {
      ...base.tables[0]!,
      columns: [...base.tables[0]!.columns, { name: 'Extra', type: 'int', nullable: true }],
    };
    expect(
      compareStream('appointments', table, { ...base, tables: [added, base.tables[1]!] }).fingerprint,
    ).not.toBe(a);
  });

  it('resolves names case-insensitively except on postgres, and unqualified names in the default schema', () => {
    const base = schema();
    expect(findLiveTable(base, 'appointments')?.name).toBe('Appointments');
    expect(findLiveTable({ ...base, dialect: 'postgres' }, 'appointments')).toBeUndefined();
    expect(findLiveTable(base, 'other.Appointments')).toBeUndefined();
  });
});

describe('typeFits', () => {
  it('compares families for columns, signs for integer keys, exact base types for cursors', () => {
    expect(typeFits('tinyint', 'tinyint(4)', 'column')).toBe(true);
    expect(typeFits('bigint(20)', 'bigint(20) unsigned', 'key')).toBe(false);
    expect(typeFits('varchar(100)', 'text', 'column')).toBe(true);
    expect(typeFits('date', 'varchar(10)', 'column')).toBe(false);
    expect(typeFits('timestamp', 'datetime', 'cursor')).toBe(false);
    expect(typeFits('rowversion', 'timestamp', 'cursor')).toBe(true);
  });
});

describe('metadata SQL per dialect (compiled, no server)', () => {
  const urls: Record<Dialect, string> = {
    mysql: 'mysql://tendril@127.0.0.1:1/none',
    mssql: 'mssql://tendril@127.0.0.1:1/none?trustServerCertificate=true',
    postgres: 'postgres://tendril@127.0.0.1:1/none',
    sqlite: 'sqlite::memory:',
  };
  const clients: SqlClient[] = [];
  afterAll(async () => {
    for (const c of clients) await c.close();
  });
  it.each(Object.keys(urls) as Dialect[])('%s', (dialect) => {
    const client = createSqlClient({ url: urls[dialect] });
    clients.push(client);
    const compiled = Object.fromEntries(
      Object.entries(discoveryQueries(client)).map(([k, q]) => [k, q.toSQL().toNative()]),
    );
    expect(compiled).toMatchSnapshot();
  });
});
