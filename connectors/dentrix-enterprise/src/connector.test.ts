import { isSentinelDate, mappingContext, toIsoDate, type TableDefinition } from '@tendril/core';
import {
  changeTrackingPageQuery,
  createSqlClient,
  grantsScript,
  keysPageQuery,
  lookupByKeysQuery,
  rowversionPageQuery,
  snapshotPageQuery,
  timestampAheadQuery,
  timestampPageQuery,
} from '@tendril/sql';
import { afterAll, describe, expect, it } from 'vitest';
import { appointmentEnd, appointmentLocalText, appointmentStart } from './appointment-time.js';
import { dentrixEnterprise, dentrixEnterpriseOptionsSchema } from './index.js';
import { appointmentStatus, RSC_TYPE } from './vocabularies.js';

/*
 * The connector's definition and pure rules, and the T-SQL every stream compiles to on knex's
 * mssql dialect (`.toSQL().toNative()`: the text and parameters tedious would send). There is no
 * SQL Server here: the snapshots are the evidence for the T-SQL, not a run against a server.
 */

const mssql = createSqlClient({
  url: 'mssql://tendril_reader@127.0.0.1:1/Dentrix?trustServerCertificate=true',
});
afterAll(async () => {
  await mssql.close();
});
const sqlOf = (builder: { toSQL(): { toNative(): unknown } }) => builder.toSQL().toNative();
const streams = Object.entries(dentrixEnterprise.streams) as [string, TableDefinition][];
const ctx = mappingContext({
  connectionId: 'dxe',
  connectorId: 'dentrix-enterprise',
  timezone: 'America/New_York',
});

describe('dentrix-enterprise connector definition', () => {
  it('loads with its identity, stable stream names and an honest verification level', () => {
    expect(dentrixEnterprise.id).toBe('dentrix-enterprise');
    expect(dentrixEnterprise.dialects).toEqual(['mssql']);
    expect(dentrixEnterprise.versions).toEqual(['11.0']);
    expect(dentrixEnterprise.verification).toEqual({
      level: 'real-columns',
      against:
        'Dentrix Enterprise 11 column names (public replica; further tables from public queries, per stream) on MariaDB + T-SQL snapshots; not run against SQL Server',
    });
    expect(Object.keys(dentrixEnterprise.streams)).toEqual([
      'patients',
      'practitioners',
      'offices',
      'operatories',
      'appointments',
      'appointment-types',
      'appointment-procedures',
      'procedures',
      'charges',
      'payments',
      'coverage-primary',
      'coverage-secondary',
    ]);
  });

  it('keys every stream on <ID>, <DB> and reads resources by RSCTYPE', () => {
    expect(streams.map(([s, t]) => [s, t.key])).toEqual([
      ['patients', ['PATID', 'PATDB']],
      ['practitioners', ['URSCID', 'RSCDB']],
      ['offices', ['URSCID', 'RSCDB']],
      ['operatories', ['URSCID', 'RSCDB']],
      ['appointments', ['APPTID', 'APPTDB']],
      ['appointment-types', ['PROC_CODEID', 'PROC_CODEDB']],
      ['appointment-procedures', ['APPTPROCID', 'APPTPROCDB']],
      ['procedures', ['PROC_LOGID', 'PROC_LOGDB']],
      ['charges', ['PROC_LOGID', 'PROC_LOGDB']],
      ['payments', ['PROC_LOGID', 'PROC_LOGDB']],
      ['coverage-primary', ['PATID', 'PATDB']],
      ['coverage-secondary', ['PATID', 'PATDB']],
    ]);
    expect(dentrixEnterprise.streams['offices']!.where).toEqual({ RSCTYPE: RSC_TYPE.clinic });
    expect(dentrixEnterprise.streams['practitioners']!.where).toEqual({ RSCTYPE: RSC_TYPE.provider });
    expect(dentrixEnterprise.streams['operatories']!.where).toEqual({ RSCTYPE: RSC_TYPE.operatory });
    // Every stamp-driven stream reads DDB_LAST_MOD on the client clock, falling back to the
    // creation column for rows never stamped.
    const fallbacks = {
      patients: 'EntryDateTime',
      appointments: 'CREATEDATE',
      'appointment-procedures': undefined,
      procedures: 'CREATEDATE',
      charges: 'CREATEDATE',
      payments: 'CREATEDATE',
      'coverage-primary': 'EntryDateTime',
      'coverage-secondary': 'EntryDateTime',
    } as const;
    for (const [stream, fallback] of Object.entries(fallbacks)) {
      const cursor = dentrixEnterprise.streams[stream]!.cursor;
      expect(cursor, stream).toMatchObject({
        mode: 'timestamp',
        column: 'DDB_LAST_MOD',
        clock: 'client',
        precision: 3,
      });
      expect(cursor.mode === 'timestamp' && cursor.fallback, stream).toBe(fallback ?? undefined);
    }
    for (const stream of ['practitioners', 'offices', 'operatories', 'appointment-types'])
      expect(dentrixEnterprise.streams[stream]!.cursor, stream).toEqual({ mode: 'snapshot' });
  });

  it('reads procedures and ledger lines of DDB_PROC_LOG_BASE by CHART_STATUS and CLASS', () => {
    expect(dentrixEnterprise.streams['procedures']!.where).toEqual({ CHART_STATUS: 102 });
    expect(dentrixEnterprise.streams['charges']!.where).toMatchObject({ CHART_STATUS: 102 });
    expect(dentrixEnterprise.streams['payments']!.where).toEqual({ CHART_STATUS: 90, CLASS: { in: [1, 3] } });
    // The three streams over one table declare the same columns: one set of reads and grants.
    const columns = ['procedures', 'charges', 'payments'].map((s) => dentrixEnterprise.streams[s]!.columns);
    expect(columns[1]).toBe(columns[0]);
    expect(columns[2]).toBe(columns[0]);
  });

  it('grants SELECT on every table a stream reads, the public-query tables included (T-SQL snapshot)', () => {
    const { script, selectTables } = grantsScript({
      connector: dentrixEnterprise,
      dialect: 'mssql',
      user: 'tendril_reader',
      password: 'S3cret!',
      database: 'Dentrix',
    });
    expect([...selectTables].sort()).toEqual([
      'DDB_APPT_BASE',
      'DDB_APPT_PROCCODE_BASE',
      'DDB_DEF_TEXT',
      'DDB_INSURANCE_BASE',
      'DDB_INSURED_BASE',
      'DDB_PAT_BASE',
      'DDB_PROC_CODE_BASE',
      'DDB_PROC_LOG_BASE',
      'DDB_RSC_BASE',
    ]);
    expect(script).toMatchSnapshot();
  });

  it('parses option defaults and rejects unknown options', () => {
    expect(dentrixEnterpriseOptionsSchema.parse({})).toEqual({ brokenAppointmentStatus: 'cancelled' });
    expect(dentrixEnterpriseOptionsSchema.safeParse({ brokenAppointmentStatus: 'broken' }).success).toBe(
      false,
    );
    expect(dentrixEnterpriseOptionsSchema.safeParse({ other: 1 }).success).toBe(false);
  });
});

describe('dentrix-enterprise rules', () => {
  it('maps STATUS 100 / 101 / 150 and treats every site-defined status as booked', () => {
    expect(appointmentStatus(100, 'cancelled')).toBe('cancelled');
    expect(appointmentStatus(100, 'noshow')).toBe('noshow');
    expect(appointmentStatus(101, 'cancelled')).toBe('waitlist');
    expect(appointmentStatus(150, 'cancelled')).toBe('fulfilled');
    for (const site of [0, 1, 2, 7, 99, undefined])
      expect(appointmentStatus(site, 'cancelled')).toBe('booked');
  });

  it("treats 1753-01-01 (SQL Server's smallest datetime, Dentrix's null date) as no date in core", () => {
    expect(isSentinelDate('1753-01-01 00:00:00.000')).toBe(true);
    expect(toIsoDate('1753-01-01 00:00:00.000')).toBeUndefined();
    // tedious hands SQL Server datetime values over as Date objects (useUTC): same rule.
    expect(toIsoDate(new Date(Date.UTC(1753, 0, 1)))).toBeUndefined();
    expect(toIsoDate('1800-01-01 00:00:00.000')).toBe('1800-01-01');
  });

  it('builds the local slot from APPTDATE + TIME_HOUR + TIME_MINUTE, with DST rules', () => {
    expect(appointmentLocalText('2025-06-02 00:00:00.000', 8, 5)).toBe('2025-06-02 08:05:00');
    expect(appointmentLocalText(new Date(Date.UTC(2025, 5, 2)), '13', '0')).toBe('2025-06-02 13:00:00');
    expect(appointmentLocalText('2025-06-02 00:00:00.000', 24, 0)).toBeUndefined();
    expect(appointmentLocalText('2025-06-02 00:00:00.000', 9, 60)).toBeUndefined();
    expect(appointmentLocalText('1753-01-01 00:00:00.000', 9, 0)).toBeUndefined();
    // 2025-03-09 02:30 does not exist in New York: moved forward to 03:30 EDT.
    expect(appointmentStart(['2025-03-09 00:00:00.000', 2, 30, null], ctx)).toBe('2025-03-09T07:30:00Z');
    expect(appointmentEnd(['2025-11-03 00:00:00.000', 1, 30, null, 45, null], ctx)).toBe(
      '2025-11-03T07:15:00Z',
    );
    // No usable length: the UTC end column, else nothing.
    expect(appointmentEnd(['2025-06-02 00:00:00.000', 9, 0, null, -5, '2025-06-02 13:40:00.000'], ctx)).toBe(
      '2025-06-02T13:40:00Z',
    );
    expect(appointmentEnd(['2025-06-02 00:00:00.000', 9, 0, null, null, null], ctx)).toBeUndefined();
  });
});

it('a wall time in the DST fall-back overlap takes the earlier instant (docs/sync-semantics.md, "Precision and time-zone traps")', () => {
  expect(appointmentStart(['2025-11-02 00:00:00.000', 1, 30, null], ctx)).toBe('2025-11-02T05:30:00Z');
});

describe('T-SQL of every stream (knex mssql dialect; snapshots, not run against SQL Server)', () => {
  const window = { lower: '2025-03-01 09:45:00.000', upper: '2025-03-01 10:08:05.123' };

  it.each(streams)('%s', (stream, table) => {
    const queries: Record<string, unknown> = {
      snapshotPage: sqlOf(snapshotPageQuery(mssql, table, { limit: 1000 })),
      snapshotNextPage: sqlOf(
        snapshotPageQuery(mssql, table, { after: { key: ['12345', '1'] }, limit: 1000 }),
      ),
      lookupByKeys: sqlOf(
        lookupByKeysQuery(mssql, table, [
          ['12345', '1'],
          ['7', '2'],
        ]),
      ),
      keysPage: sqlOf(keysPageQuery(mssql, table, { after: { key: ['12345', '1'] }, limit: 5000 })),
      changeTrackingPage: sqlOf(
        changeTrackingPageQuery(mssql, table, {
          sinceVersion: '1200',
          currentVersion: '1350',
          after: { version: '1201', key: ['12345', '1'] },
          limit: 1000,
        }),
      ),
      rowversionPage: sqlOf(
        rowversionPageQuery(mssql, table, {
          column: 'RowVer',
          lower: '0x00000000000007D0',
          upper: '0x0000000000000FA0',
          limit: 1000,
        }),
      ),
    };
    if (table.cursor.mode === 'timestamp') {
      queries['timestampPage'] = sqlOf(timestampPageQuery(mssql, table, { ...window, limit: 1000 }));
      const next = sqlOf(
        timestampPageQuery(mssql, table, {
          ...window,
          after: { cursor: '2025-03-01 10:00:00.003', key: ['12345', '1'] },
          limit: 1000,
        }),
      ) as { sql: string; bindings: unknown[] };
      queries['timestampNextPage'] = next;
      // After each poll: the rows stamped more than 60 s ahead of the clock (TENDRIL_W_CLOCK_SKEW).
      queries['timestampAhead'] = sqlOf(timestampAheadQuery(mssql, table, '2025-03-01 10:09:05.123'));
      // DDB_LAST_MOD compares as datetime (1/300 s values round-trip through the style-121 text),
      // keys as int; the cursor comes back as text, never a Date.
      const fallback = table.cursor.fallback;
      const stamp = `[${table.table}].[DDB_LAST_MOD]`;
      const cursor = fallback ? `COALESCE(${stamp}, [${table.table}].[${fallback}])` : stamp;
      expect(next.sql).toMatch(/CAST\(@p\d+ AS datetime\)/);
      expect(next.sql).toContain(`CONVERT(varchar(27), ${cursor}, 121) as [__cursor]`);
      expect(next.sql).toMatch(/CAST\(@p\d+ AS int\)/);
      expect(next.sql).not.toMatch(/datetime2/);
    }
    expect(queries).toMatchSnapshot();
  });
});

describe('T-SQL the engine sends in change-tracking / rowversion mode (knex mssql dialect; snapshots, not run against SQL Server)', () => {
  // The forms above plus these are every query the sync engine sends in these modes. The fake SQL
  // Server of `change-detection.fake-mssql.test.ts` refuses any T-SQL that is not in a snapshot.
  it.each(streams)('%s', (_stream, table) => {
    expect({
      changeTrackingFirstPage: sqlOf(
        changeTrackingPageQuery(mssql, table, { sinceVersion: '1200', currentVersion: '1350', limit: 1000 }),
      ),
      rowversionNextPage: sqlOf(
        rowversionPageQuery(mssql, table, {
          column: 'RowVer',
          lower: '0x00000000000007D0',
          upper: '0x0000000000000FA0',
          after: { cursor: '0x00000000000007D5', key: ['12345', '1'] },
          limit: 1000,
        }),
      ),
      lookupByOneKey: sqlOf(lookupByKeysQuery(mssql, table, [['12345', '1']])),
    }).toMatchSnapshot();
  });
});
