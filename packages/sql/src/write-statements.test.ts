import { writeStamp, type WriteTable } from '@tendril/core';
import knexFactory from 'knex';
import { describe, expect, it } from 'vitest';
import { createWritebackSql, type WriteStatement } from './write-statements.js';

const NOW = new Date('2030-01-01T17:00:00.123Z');
const table: WriteTable = {
  table: 'patient_data',
  columns: { pid: 'bigint(20)', lname: 'varchar(255)', last_updated: 'datetime', date: 'datetime' },
  columnNames: { lname: 'last_name' },
  where: { pid: { notIn: [0] } },
  stamp: { column: 'last_updated', clock: 'db-local', precision: 0 },
};

function recorder(dialect: 'mysql' | 'mssql', zone = 'Asia/Tokyo') {
  const sent: { sql: string; bindings: readonly unknown[] }[] = [];
  const journal: string[] = [];
  let gate = 0;
  const sql = createWritebackSql({
    knex: knexFactory({ client: dialect === 'mysql' ? 'mysql2' : 'mssql' }),
    dialect,
    timezone: zone,
    now: () => NOW,
    onStatement: (text) => journal.push(text),
    beforeFirstStatement: () => gate++,
    run: async (statement: WriteStatement) => {
      sent.push(statement.query.toSQL().toNative());
      return statement.kind === 'insert' ? [42] : statement.kind === 'update' ? 1 : [{ pid: '1' }];
    },
  });
  return { sql, sent, journal, gates: () => gate };
}

describe('write statements', () => {
  it('locks reads (FOR UPDATE; WITH (UPDLOCK, HOLDLOCK) on SQL Server), renames site columns, applies the stream filter', async () => {
    const mysql = recorder('mysql');
    await mysql.sql.select(table, {
      columns: ['pid', 'lname'],
      where: { lname: 'Doe', date: { gte: 'a', lt: 'b' } },
      lock: true,
    });
    expect(mysql.sent[0]).toEqual({
      sql: 'select `pid`, `last_name` as `lname` from `patient_data` where `pid` not in (?) and `last_name` = ? and `date` >= ? and `date` < ? for update',
      bindings: [0, 'Doe', 'a', 'b'],
    });
    const mssql = recorder('mssql');
    await mssql.sql.select(table, {
      aggregate: { fn: 'max', column: 'pid', as: 'NEXTID' },
      where: { lname: null },
      lock: true,
    });
    expect(mssql.sent[0]!.sql).toBe(
      'select max([pid]) as [NEXTID] from [patient_data] WITH (UPDLOCK, HOLDLOCK) where [pid] not in (@p0) and [last_name] is null',
    );
  });

  it('sets the stream cursor stamp on every write in its clock domain, and journals text without values', async () => {
    const { sql, sent, journal, gates } = recorder('mysql', 'Asia/Tokyo');
    expect(await sql.insert(table, { pid: 7, lname: 'Doe', date: writeStamp('db-utc') })).toEqual({
      insertId: '42',
    });
    expect(sent[0]).toEqual({
      sql: 'insert into `patient_data` (`date`, `last_name`, `last_updated`, `pid`) values (UTC_TIMESTAMP(0), ?, DATE_ADD(UTC_TIMESTAMP(0), INTERVAL ? MINUTE), ?)',
      bindings: ['Doe', 540, 7],
    });
    expect(await sql.update(table, { lname: 'Roe' }, { pid: 7 })).toEqual({ affectedRows: 1 });
    expect(sent[1]!.bindings).toEqual(['Roe', 540, 0, 7]);
    expect(journal.join('\n')).not.toMatch(/Doe|Roe/);
    expect(gates()).toBe(1);
    const phoenix = recorder('mssql', 'America/Phoenix');
    await phoenix.sql.update(table, { lname: 'Roe' }, { pid: 7 });
    expect(phoenix.sent[0]!.sql).toContain('[last_updated] = DATEADD(minute, @p1, SYSUTCDATETIME())');
    expect(phoenix.sent[0]!.bindings[1]).toBe(-420);
    const client = recorder('mysql', 'America/Phoenix');
    await client.sql.update(
      { ...table, stamp: { column: 'last_updated', clock: 'client', precision: 3 } },
      { lname: 'Roe' },
      { pid: 7 },
    );
    expect(client.sent[0]!.bindings).toContain('2030-01-01 10:00:00.123');
  });

  it('refuses a column the table does not declare, before anything is sent', async () => {
    const { sql, sent } = recorder('mysql');
    await expect(sql.insert(table, { pid: 7, ssn: '000' })).rejects.toMatchObject({
      code: 'TENDRIL_E_CONNECTOR_DEFINITION',
    });
    await expect(sql.select(table, { where: { nope: 1 } })).rejects.toThrow(/no declared column "nope"/);
    expect(sent).toEqual([]);
  });
});
