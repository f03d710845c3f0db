import { afterAll, describe, expect, it } from 'vitest';
import { defineTable, isTendrilError, t, type TableDefinition } from '@tendril/core';
import { createSqlClient, type Dialect, type SqlClient } from './client.js';
import {
  deleteLogPageQuery,
  keysPageQuery,
  lookupByKeysQuery,
  snapshotPageQuery,
  timestampPageQuery,
} from './queries.js';

/*
 * Compiled SQL per dialect, no server: `.toSQL().toNative()` gives the exact text and bindings the
 * driver receives. There is no SQL Server in this environment, so the mssql snapshots are the
 * evidence for the T-SQL (TOP, CAST to datetime / datetime2(7) / varchar, CONVERT style 121).
 * Clients are created lazily by knex and never connect here.
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
const clientFor = (dialect: Dialect) => clients.get(dialect) as SqlClient;

/** Composite key, a join whose stamp is a `datetime2(7)`, a `where` with all three condition forms. */
const appointmentBase = {
  resourceType: 'Appointment',
  table: 'appt',
  key: ['ClinicNum', 'AptNum'],
  columns: {
    ClinicNum: 'int',
    AptNum: 'bigint',
    PatNum: 'bigint',
    AptStatus: 'tinyint',
    Confirmed: 'varchar(20)',
    DateTStamp: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-local', precision: 3 },
  joins: [
    {
      table: 'patient',
      alias: 'p',
      on: { PatNum: 'PatNum' },
      columns: { PatNum: 'bigint', LName: 'varchar(100)', SecDateTEdit: 'datetime2(7)' },
      key: ['PatNum'],
    },
  ],
  where: { AptStatus: { notIn: [6, 7] }, ClinicNum: { in: [1, 2] }, Confirmed: 'yes' },
  fields: { description: t.col('Confirmed', t.str()), patientId: t.ref('Patient', 'PatNum') },
} as const satisfies TableDefinition<'Appointment'>;

const appointment = defineTable<'Appointment'>(appointmentBase);
const appointmentAlso = defineTable<'Appointment'>({
  ...appointmentBase,
  cursor: { ...appointmentBase.cursor, also: ['p.SecDateTEdit'] },
});

/** Single string key, a delete log with its own filter. */
const note = defineTable<'Patient'>({
  resourceType: 'Patient',
  table: 'note',
  key: ['NoteCode'],
  columns: { NoteCode: 'varchar(40)', Body: 'varchar(255)', Stamp: 'datetime2(7)' },
  cursor: { mode: 'timestamp', column: 'Stamp', clock: 'db-utc', precision: 7 },
  deleteLog: {
    table: 'deletedobject',
    key: ['DeletedObjectNum'],
    columns: {
      DeletedObjectNum: 'bigint',
      ObjectNum: 'varchar(40)',
      ObjectType: 'int',
      DateTStamp: 'datetime',
    },
    cursor: { column: 'DateTStamp', clock: 'db-local', precision: 0 },
    deletedKeyColumn: 'ObjectNum',
    where: { ObjectType: 9 },
  },
  fields: { gender: t.col('Body', t.str()) },
});

const WINDOW = { lower: '2024-03-05 09:45:00.000', upper: '2024-03-05 10:08:05.000', limit: 1000 } as const;
const AFTER = { cursor: '2024-03-05 09:50:00.003', key: ['7341', '9223372036854775806'] } as const;

function compiled(query: { toSQL(): { toNative(): { sql: string; bindings: readonly unknown[] } } }) {
  const { sql, bindings } = query.toSQL().toNative();
  return { sql, bindings: [...bindings] };
}

describe.each(DIALECT_LIST)('compiled SQL on %s', (dialect) => {
  const client = clientFor(dialect);

  it('timestampPageQuery: first page and a keyset page after (c, k1, k2)', () => {
    expect(compiled(timestampPageQuery(client, appointment, WINDOW))).toMatchSnapshot('first page');
    expect(compiled(timestampPageQuery(client, appointment, { ...WINDOW, after: AFTER }))).toMatchSnapshot(
      'after',
    );
  });

  it('timestampPageQuery with cursor.also: any stamp in the window, paged by key only', () => {
    expect(
      compiled(timestampPageQuery(client, appointmentAlso, { ...WINDOW, after: { key: AFTER.key } })),
    ).toMatchSnapshot();
  });

  it('snapshotPageQuery', () => {
    expect(
      compiled(snapshotPageQuery(client, appointment, { after: { key: AFTER.key }, limit: 500 })),
    ).toMatchSnapshot();
  });

  it('lookupByKeysQuery: composite and single keys', () => {
    expect(
      compiled(
        lookupByKeysQuery(client, appointment, [
          ['1', '10'],
          ['7341', '9223372036854775806'],
        ]),
      ),
    ).toMatchSnapshot('composite');
    expect(compiled(lookupByKeysQuery(client, note, [['a'], ['B']]))).toMatchSnapshot('single');
    expect(compiled(lookupByKeysQuery(client, note, []))).toMatchSnapshot('none');
  });

  it('deleteLogPageQuery', () => {
    const log = note.deleteLog;
    if (!log) throw new Error('fixture has a delete log');
    expect(
      compiled(
        deleteLogPageQuery(client, log, {
          lower: '2024-03-05 09:45:00',
          upper: '2024-03-05 10:08:05',
          after: { cursor: '2024-03-05 09:50:00', key: ['77'] },
          limit: 1000,
        }),
      ),
    ).toMatchSnapshot();
  });

  it('keysPageQuery', () => {
    expect(
      compiled(keysPageQuery(client, appointment, { after: { key: AFTER.key }, limit: 5000 })),
    ).toMatchSnapshot();
  });

  it('binds every cursor and key as its own parameter and never inlines a value', () => {
    const { sql, bindings } = compiled(timestampPageQuery(client, appointment, { ...WINDOW, after: AFTER }));
    for (const value of [WINDOW.lower, WINDOW.upper, AFTER.cursor, ...AFTER.key]) {
      expect(sql).not.toContain(value);
      expect(bindings).toContain(value);
    }
    // c > :c OR (c = :c AND (k1 > :k1 OR (k1 = :k1 AND k2 > :k2))): the cursor twice, k1 twice, k2 once.
    expect(bindings.filter((b) => b === AFTER.cursor)).toHaveLength(2);
    expect(bindings.filter((b) => b === AFTER.key[1])).toHaveLength(1);
    expect(bindings.filter((b) => b === AFTER.key[0])).toHaveLength(2);
  });
});

describe('dialect-specific binding', () => {
  it('mysql compares integer keys as integers: SIGNED, or UNSIGNED for unsigned columns', () => {
    const { sql } = compiled(
      keysPageQuery(clientFor('mysql'), appointment, { after: { key: AFTER.key }, limit: 10 }),
    );
    expect(sql).toContain('`appt`.`ClinicNum` > CAST(? AS SIGNED)');
    expect(sql).toContain('`appt`.`AptNum` > CAST(? AS SIGNED)');
    const unsigned = defineTable<'Patient'>({
      resourceType: 'Patient',
      table: 'u',
      key: ['Id', 'Code'],
      columns: { Id: 'bigint(20) unsigned', Code: 'varchar(10)' },
      cursor: { mode: 'snapshot' },
      fields: {},
    });
    const page = compiled(
      keysPageQuery(clientFor('mysql'), unsigned, {
        after: { key: ['18446744073709551610', 'x'] },
        limit: 10,
      }),
    );
    expect(page.sql).toContain('`u`.`Id` > CAST(? AS UNSIGNED)');
    expect(page.sql).toContain('`u`.`Code` > ?');
  });

  it('mssql casts every cursor and key to the declared type, strings included (varchar, not nvarchar)', () => {
    const client = clientFor('mssql');
    const { sql } = compiled(timestampPageQuery(client, appointment, { ...WINDOW, after: AFTER }));
    expect(sql).toMatch(/\[appt\]\.\[DateTStamp\] >= CAST\(@p\d+ AS datetime\)/);
    expect(sql).toMatch(/\[appt\]\.\[AptNum\] > CAST\(@p\d+ AS bigint\)/);
    expect(sql).toMatch(/select top \(@p\d+\)/);
    const also = compiled(timestampPageQuery(client, appointmentAlso, WINDOW)).sql;
    expect(also).toContain('[p].[SecDateTEdit] >= CAST(@p');
    expect(also).toContain('AS datetime2(7))');
    expect(compiled(lookupByKeysQuery(client, note, [['a']])).sql).toContain(
      '[note].[NoteCode] in (CAST(@p0 AS varchar(40)))',
    );
    expect(compiled(timestampPageQuery(client, note, WINDOW)).sql).toContain(
      'CONVERT(varchar(27), [note].[Stamp], 121) as [__cursor]',
    );
  });

  it('postgres casts cursors to timestamp and reads them back with to_char at microseconds', () => {
    const { sql } = compiled(timestampPageQuery(clientFor('postgres'), appointment, WINDOW));
    expect(sql).toContain(`"appt"."DateTStamp" >= $`);
    expect(sql).toContain('::timestamp');
    expect(sql).toContain(`to_char("appt"."DateTStamp", 'YYYY-MM-DD HH24:MI:SS.US') as "__cursor"`);
  });

  it('refuses a declared type it would have to splice into T-SQL unchecked', () => {
    const evil = defineTable<'Patient'>({
      resourceType: 'Patient',
      table: 'x',
      key: ['Id'],
      columns: { Id: 'int); DROP TABLE x; --', Stamp: 'datetime' },
      cursor: { mode: 'snapshot' },
      fields: {},
    });
    expect(() => snapshotPageQuery(clientFor('mssql'), evil, { after: { key: ['1'] }, limit: 1 })).toThrow(
      /plain SQL Server type/,
    );
    expect(() => keysPageQuery(clientFor('mssql'), evil, { limit: 1 })).toThrow(/plain SQL Server type/);
  });
});

describe('argument checks', () => {
  const client = clientFor('mysql');

  it('refuses a stored position that does not fit the key or lacks the cursor', () => {
    for (const after of [{ key: ['1'] }, { key: ['1', '2'] }]) {
      let caught: unknown;
      try {
        timestampPageQuery(client, appointment, { ...WINDOW, after });
      } catch (error) {
        caught = error;
      }
      expect(isTendrilError(caught, 'TENDRIL_E_CURSOR_STATE')).toBe(true);
    }
  });

  it('refuses a non-positive page size and a snapshot table in timestampPageQuery', () => {
    expect(() => snapshotPageQuery(client, appointment, { limit: 0 })).toThrow(/positive integer/);
    const plain = defineTable<'Patient'>({
      resourceType: 'Patient',
      table: 'y',
      key: ['Id'],
      columns: { Id: 'int' },
      cursor: { mode: 'snapshot' },
      fields: {},
    });
    expect(() => timestampPageQuery(client, plain, WINDOW)).toThrow(/no timestamp cursor/);
  });
});
