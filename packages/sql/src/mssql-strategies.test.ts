import { defineTable, isTendrilError, t, type TendrilError } from '@tendril/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  chooseChangeStrategy,
  datetimePrecision,
  mssqlLadderFor,
  type ChangeStrategyProbe,
} from './change-strategy.js';
import { createSqlClient } from './client.js';
import {
  changeTrackingNeedsBaseline,
  changeTrackingPageQuery,
  changeTrackingRowKey,
  changeTrackingVersionsQuery,
} from './mssql-change-tracking.js';
import {
  changeTrackingStatusQuery,
  columnsProbeQuery,
  primaryKeyProbeQuery,
  readMssqlProbe,
} from './mssql-probe.js';
import {
  compareRowversion,
  ROWVERSION_ZERO,
  rowversionBytes,
  rowversionPageQuery,
  rowversionUpperQuery,
} from './mssql-rowversion.js';

/*
 * SQL Server change tracking and rowversion: the T-SQL knex's mssql dialect compiles (snapshots,
 * `.toSQL().toNative()`: the exact text and parameters tedious would send) and the pure decisions.
 * No SQL Server exists here: nothing in this file claims the SQL ran on one.
 */

const mssql = createSqlClient({
  url: 'mssql://tendril@127.0.0.1:1/tendril_none?trustServerCertificate=true',
});
const mysql = createSqlClient({ url: 'mysql://tendril@127.0.0.1:1/tendril_none' });
afterAll(async () => {
  await mssql.close();
  await mysql.close();
});

/** A composite-key table with a row filter and a join, like Dentrix Enterprise's resource table. */
const resources = defineTable({
  resourceType: 'Practitioner',
  table: 'DDB_RSC_BASE',
  key: ['URSCID', 'RSCDB'],
  columns: {
    URSCID: 'int',
    RSCDB: 'int',
    RSCTYPE: 'int',
    NAME_LAST: 'varchar(255)',
    SpecialtyID: 'int',
    DDB_LAST_MOD: 'datetime',
  },
  joins: [
    {
      table: 'DDB_DEF_TEXT',
      alias: 'sp',
      on: { DEFID: 'SpecialtyID' },
      columns: { DEFID: 'int', DESCRIPTION: 'varchar(255)' },
      key: ['DEFID'],
    },
  ],
  cursor: { mode: 'timestamp', column: 'DDB_LAST_MOD', clock: 'client', precision: 3 },
  where: { RSCTYPE: 1 },
  fields: { name: t.humanName({ family: 'NAME_LAST' }) },
});

const sqlOf = (builder: { toSQL(): { toNative(): unknown } }) => builder.toSQL().toNative();

function thrown(fn: () => unknown): TendrilError {
  try {
    fn();
  } catch (error) {
    if (isTendrilError(error)) return error;
    throw error;
  }
  throw new Error('expected a TendrilError');
}

describe('change tracking T-SQL (mssql dialect)', () => {
  it('reads CHANGE_TRACKING_CURRENT_VERSION() and the table minimum valid version as text', () => {
    expect(sqlOf(changeTrackingVersionsQuery(mssql, 'DDB_RSC_BASE'))).toMatchSnapshot();
  });

  it('first page: CHANGETABLE(CHANGES …) LEFT JOIN the table (filter in the join), <= cur, ordered by version and key', () => {
    const compiled = sqlOf(
      changeTrackingPageQuery(mssql, resources, { sinceVersion: '41', currentVersion: '97', limit: 500 }),
    );
    expect(compiled).toMatchSnapshot();
    const { sql, bindings } = compiled as { sql: string; bindings: unknown[] };
    expect(sql).toContain('from CHANGETABLE(CHANGES [dbo].[DDB_RSC_BASE], @p1) as [ct]');
    expect(sql).toContain(
      'left join [DDB_RSC_BASE] on [DDB_RSC_BASE].[URSCID] = [ct].[URSCID] and [DDB_RSC_BASE].[RSCDB] = [ct].[RSCDB] and [DDB_RSC_BASE].[RSCTYPE] = @p2',
    );
    expect(sql).not.toMatch(/where[^]*\[RSCTYPE\]/);
    // CHANGETABLE takes a plain parameter, bound as an integer; cur compares as bigint.
    expect(bindings.slice(0, 2)).toEqual([500, 41]);
    expect(bindings).toContain('97');
  });

  it('next page: (SYS_CHANGE_VERSION, URSCID, RSCDB) > after, each bound in its type', () => {
    const compiled = sqlOf(
      changeTrackingPageQuery(mssql, resources, {
        sinceVersion: '41',
        currentVersion: '97',
        after: { version: '60', key: ['12', '1'] },
        limit: 500,
      }),
    );
    expect(compiled).toMatchSnapshot();
    expect((compiled as { sql: string }).sql).toContain(
      '([ct].[SYS_CHANGE_VERSION] > CAST(@p4 AS bigint) or ([ct].[SYS_CHANGE_VERSION] = CAST(@p5 AS bigint) and ([ct].[URSCID] > CAST(@p6 AS int) or ([ct].[URSCID] = CAST(@p7 AS int) and ([ct].[RSCDB] > CAST(@p8 AS int))))))',
    );
  });

  it('refuses versions that are not integers or are beyond 2^53, and other dialects', () => {
    expect(
      thrown(() =>
        changeTrackingPageQuery(mssql, resources, { sinceVersion: '4.1', currentVersion: '9', limit: 1 }),
      ).code,
    ).toBe('TENDRIL_E_CURSOR_STATE');
    expect(
      thrown(() =>
        changeTrackingPageQuery(mssql, resources, {
          sinceVersion: '9007199254740993',
          currentVersion: '9007199254740999',
          limit: 1,
        }),
      ).code,
    ).toBe('TENDRIL_E_CURSOR_STATE');
    expect(thrown(() => changeTrackingVersionsQuery(mysql, 'DDB_RSC_BASE')).code).toBe(
      'TENDRIL_E_DB_DIALECT',
    );
  });

  it('needs a baseline without state or when state < min valid version (scenario 15)', () => {
    expect(changeTrackingNeedsBaseline(undefined, '5')).toBe(true);
    expect(changeTrackingNeedsBaseline('4', '5')).toBe(true);
    expect(changeTrackingNeedsBaseline('5', '5')).toBe(false);
    // Compared as 64-bit integers, not as text or doubles.
    expect(changeTrackingNeedsBaseline('10', '9')).toBe(false);
    expect(changeTrackingNeedsBaseline('9223372036854775806', '9223372036854775807')).toBe(true);
    expect(thrown(() => changeTrackingNeedsBaseline('5', null)).code).toBe('TENDRIL_E_CURSOR_STATE');
  });

  it('takes the key of a changed row from CHANGETABLE, and tells a deleted row from a present one', () => {
    expect(
      changeTrackingRowKey(resources, { '__ct.URSCID': 12, '__ct.RSCDB': 1, URSCID: null, RSCDB: null }),
    ).toEqual({
      key: ['12', '1'],
      present: false,
    });
    expect(
      changeTrackingRowKey(resources, { '__ct.URSCID': '12', '__ct.RSCDB': '1', URSCID: '12', RSCDB: '1' }),
    ).toEqual({
      key: ['12', '1'],
      present: true,
    });
    expect(thrown(() => changeTrackingRowKey(resources, { URSCID: 1, RSCDB: 1 })).code).toBe(
      'TENDRIL_E_MAPPING',
    );
  });
});

describe('rowversion T-SQL (mssql dialect)', () => {
  it('reads MIN_ACTIVE_ROWVERSION() as 0x text', () => {
    expect(sqlOf(rowversionUpperQuery(mssql))).toMatchSnapshot();
  });

  it('pages lower <= rv < upper by (rv, key), bound as binary(8) from 8-byte buffers', () => {
    const first = sqlOf(
      rowversionPageQuery(mssql, resources, {
        column: 'RowVer',
        lower: ROWVERSION_ZERO,
        upper: '0x00000000000007D1',
        limit: 1000,
      }),
    ) as { sql: string; bindings: unknown[] };
    expect(first).toMatchSnapshot();
    expect(first.sql).toContain(
      '[DDB_RSC_BASE].[RowVer] >= CAST(@p2 AS binary(8)) and [DDB_RSC_BASE].[RowVer] < CAST(@p3 AS binary(8))',
    );
    expect(first.bindings[2]).toEqual(Buffer.alloc(8));
    expect(first.bindings[3]).toEqual(Buffer.from('00000000000007d1', 'hex'));
    const next = sqlOf(
      rowversionPageQuery(mssql, resources, {
        column: 'RowVer',
        lower: ROWVERSION_ZERO,
        upper: '0x00000000000007D1',
        after: { cursor: '0x00000000000003E8', key: ['12', '1'] },
        limit: 1000,
      }),
    );
    expect(next).toMatchSnapshot();
  });

  it('keeps rowversions as text and orders them as unsigned 64-bit values', () => {
    expect(rowversionBytes('0xFFFFFFFFFFFFFFFF')).toEqual(Buffer.alloc(8, 0xff));
    expect(compareRowversion('0x00000000000000FF', '0x0000000000000100')).toBeLessThan(0);
    expect(compareRowversion('0x8000000000000000', '0x7FFFFFFFFFFFFFFF')).toBeGreaterThan(0);
    expect(thrown(() => rowversionBytes('2001')).code).toBe('TENDRIL_E_CURSOR_STATE');
    expect(
      thrown(() =>
        rowversionPageQuery(mssql, resources, {
          column: 'Row Ver',
          lower: ROWVERSION_ZERO,
          upper: ROWVERSION_ZERO,
          limit: 1,
        }),
      ).code,
    ).toBe('TENDRIL_E_CONNECTOR_DEFINITION');
  });
});

describe('discovery probes (mssql dialect)', () => {
  it('CT status, columns and primary key queries bind every name', () => {
    const status = sqlOf(changeTrackingStatusQuery(mssql, 'DDB_PAT_BASE')) as {
      sql: string;
      bindings: unknown[];
    };
    expect(status).toMatchSnapshot();
    expect(status.bindings).toContain('[dbo].[DDB_PAT_BASE]');
    expect(status.bindings).toContain('VIEW CHANGE TRACKING');
    expect(sqlOf(columnsProbeQuery(mssql, 'DDB_PAT_BASE'))).toMatchSnapshot();
    expect(sqlOf(primaryKeyProbeQuery(mssql, 'DDB_PAT_BASE'))).toMatchSnapshot();
    expect(thrown(() => columnsProbeQuery(mssql, "DDB_PAT_BASE'; --")).code).toBe(
      'TENDRIL_E_CONNECTOR_DEFINITION',
    );
  });

  it('reads the probe rows as SQL Server returns them', () => {
    const probe = readMssqlProbe(
      'DDB_PAT_BASE',
      [{ object_id: 581577110, ct_database: 1, ct_table: 0, ct_permission: 1, snapshot_isolation: 0 }],
      [
        {
          COLUMN_NAME: 'PATID',
          DATA_TYPE: 'int',
          DATETIME_PRECISION: null,
          CHARACTER_MAXIMUM_LENGTH: null,
          IS_NULLABLE: 'NO',
        },
        {
          COLUMN_NAME: 'LASTNAME',
          DATA_TYPE: 'varchar',
          DATETIME_PRECISION: null,
          CHARACTER_MAXIMUM_LENGTH: 255,
          IS_NULLABLE: 'YES',
        },
        {
          COLUMN_NAME: 'DDB_LAST_MOD',
          DATA_TYPE: 'datetime',
          DATETIME_PRECISION: 3,
          CHARACTER_MAXIMUM_LENGTH: null,
          IS_NULLABLE: 'YES',
        },
        {
          COLUMN_NAME: 'Stamp2',
          DATA_TYPE: 'datetime2',
          DATETIME_PRECISION: 7,
          CHARACTER_MAXIMUM_LENGTH: null,
          IS_NULLABLE: 'NO',
        },
        {
          COLUMN_NAME: 'Notes',
          DATA_TYPE: 'varchar',
          DATETIME_PRECISION: null,
          CHARACTER_MAXIMUM_LENGTH: -1,
          IS_NULLABLE: 'YES',
        },
        {
          COLUMN_NAME: 'RowVer',
          DATA_TYPE: 'timestamp',
          DATETIME_PRECISION: null,
          CHARACTER_MAXIMUM_LENGTH: null,
          IS_NULLABLE: 'NO',
        },
      ],
      [{ COLUMN_NAME: 'PATID' }, { COLUMN_NAME: 'PATDB' }],
    );
    expect(probe).toEqual({
      table: 'DDB_PAT_BASE',
      exists: true,
      primaryKey: ['PATID', 'PATDB'],
      columns: [
        { name: 'PATID', type: 'int', nullable: false },
        { name: 'LASTNAME', type: 'varchar(255)', nullable: true },
        { name: 'DDB_LAST_MOD', type: 'datetime', nullable: true },
        { name: 'Stamp2', type: 'datetime2(7)', nullable: false },
        { name: 'Notes', type: 'varchar(max)', nullable: true },
        { name: 'RowVer', type: 'rowversion', nullable: false },
      ],
      changeTracking: { database: true, table: false, canView: true },
      snapshotIsolation: false,
    });
    expect(
      readMssqlProbe(
        'X',
        [{ object_id: null, ct_database: 0, ct_table: 0, ct_permission: null, snapshot_isolation: 1 }],
        [],
        [],
      ),
    ).toMatchObject({
      exists: false,
      changeTracking: { database: false, table: false },
      snapshotIsolation: true,
    });
  });
});

describe('chooseChangeStrategy: the first usable rung of the ladder', () => {
  const base: ChangeStrategyProbe = {
    table: 'DDB_PAT_BASE',
    exists: true,
    primaryKey: ['PATID', 'PATDB'],
    columns: [
      { name: 'PATID', type: 'int', nullable: false },
      { name: 'DDB_LAST_MOD', type: 'datetime', nullable: true },
    ],
    changeTracking: { database: true, table: true, canView: true },
    snapshotIsolation: true,
  };
  const ladder = mssqlLadderFor(resources);
  const withRv = {
    ...base,
    columns: [...base.columns, { name: 'RowVer', type: 'rowversion', nullable: false }],
  };

  it('offers CT, rowversion, the declared stamp, then snapshot', () => {
    expect(ladder).toEqual([
      { mode: 'change-tracking' },
      { mode: 'rowversion' },
      { mode: 'timestamp', column: 'DDB_LAST_MOD' },
      { mode: 'snapshot' },
    ]);
  });

  it('CT when enabled on database and table with a primary key and permission; consistency follows snapshot isolation', () => {
    expect(chooseChangeStrategy(base, ladder)).toEqual({
      strategy: { mode: 'change-tracking', consistency: 'snapshot-transaction' },
      skipped: [],
    });
    expect(chooseChangeStrategy({ ...base, snapshotIsolation: false }, ladder).strategy).toEqual({
      mode: 'change-tracking',
      consistency: 'current-version-filter',
    });
  });

  it('falls to rowversion, naming why CT was skipped', () => {
    const off = { ...withRv, changeTracking: { database: false, table: false } };
    expect(chooseChangeStrategy(off, ladder)).toEqual({
      strategy: { mode: 'rowversion', column: 'RowVer' },
      skipped: [{ mode: 'change-tracking', reason: 'ct-database-off' }],
    });
    expect(
      chooseChangeStrategy({ ...withRv, changeTracking: { database: true, table: false } }, ladder).skipped,
    ).toEqual([{ mode: 'change-tracking', reason: 'ct-table-off' }]);
    expect(chooseChangeStrategy({ ...withRv, primaryKey: [] }, ladder).skipped).toEqual([
      { mode: 'change-tracking', reason: 'no-primary-key' },
    ]);
    expect(
      chooseChangeStrategy(
        { ...withRv, changeTracking: { database: true, table: true, canView: false } },
        ladder,
      ).skipped,
    ).toEqual([{ mode: 'change-tracking', reason: 'ct-no-permission' }]);
  });

  it('falls to the DDB_LAST_MOD stamp with its live type and precision (datetime: 3, 1/300 s)', () => {
    const noCt = { ...base, changeTracking: { database: false, table: false } };
    expect(chooseChangeStrategy(noCt, ladder)).toEqual({
      strategy: {
        mode: 'timestamp',
        column: 'DDB_LAST_MOD',
        sqlType: 'datetime',
        precision: 3,
        nullable: true,
      },
      skipped: [
        { mode: 'change-tracking', reason: 'ct-database-off' },
        { mode: 'rowversion', reason: 'no-rowversion-column' },
      ],
    });
    const datetime2 = { ...noCt, columns: [{ name: 'ddb_last_mod', type: 'datetime2(7)', nullable: false }] };
    expect(chooseChangeStrategy(datetime2, ladder).strategy).toEqual({
      mode: 'timestamp',
      column: 'ddb_last_mod',
      sqlType: 'datetime2(7)',
      precision: 7,
      nullable: false,
    });
  });

  it('falls to snapshot when the stamp is missing or not a date-time; a missing table has no strategy', () => {
    const noCt = { ...base, changeTracking: { database: false, table: false } };
    expect(
      chooseChangeStrategy({ ...noCt, columns: [{ name: 'PATID', type: 'int', nullable: false }] }, ladder),
    ).toEqual({
      strategy: { mode: 'snapshot' },
      skipped: [
        { mode: 'change-tracking', reason: 'ct-database-off' },
        { mode: 'rowversion', reason: 'no-rowversion-column' },
        { mode: 'timestamp', reason: 'column-missing' },
      ],
    });
    expect(
      chooseChangeStrategy(
        { ...noCt, columns: [{ name: 'DDB_LAST_MOD', type: 'varchar(30)', nullable: true }] },
        ladder,
      ).skipped.at(-1),
    ).toEqual({ mode: 'timestamp', reason: 'column-not-datetime' });
    expect(chooseChangeStrategy({ ...base, exists: false }, ladder)).toEqual({
      strategy: undefined,
      skipped: [],
    });
    expect(chooseChangeStrategy(noCt, [{ mode: 'window', column: 'DDB_LAST_MOD' }]).strategy).toEqual({
      mode: 'window',
      column: 'DDB_LAST_MOD',
      sqlType: 'datetime',
    });
  });

  it('knows the fraction digits of each SQL Server date-time type', () => {
    expect(datetimePrecision('datetime')).toBe(3);
    expect(datetimePrecision('smalldatetime')).toBe(0);
    expect(datetimePrecision('datetime2')).toBe(7);
    expect(datetimePrecision('datetime2(3)')).toBe(3);
  });
});
