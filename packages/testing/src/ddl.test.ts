import { describe, expect, it } from 'vitest';
import { isTendrilError, type TableDefinition } from '@tendril/core';
import { planTables, postgresType } from './ddl.js';
import {
  SAMPLE_APPOINTMENT,
  SAMPLE_PATIENT,
  SAMPLE_PROCEDURE,
  SAMPLE_TABLES,
} from './sample-declarations.test-support.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isTendrilError(error) ? error.code : 'not a TendrilError';
  }
  return undefined;
}

describe('planTables', () => {
  it('gathers main, joined and delete-log tables once each, with merged columns and cursor columns', () => {
    const plans = planTables(SAMPLE_TABLES);
    expect(plans.map((p) => p.name)).toEqual([
      'patient',
      'appointment',
      'deletedobject',
      'procedurelog',
      'procedurecode',
    ]);
    const code = plans.find((p) => p.name === 'procedurecode');
    expect(code?.key).toEqual(['CodeNum']);
    expect([...(code?.columns.keys() ?? [])]).toEqual(['CodeNum', 'ProcCode', 'Descript', 'DateTStamp']);
    // cursor.also (`pc.DateTStamp`) marks the joined table's stamp for an index.
    expect([...(code?.cursorColumns ?? [])]).toEqual(['DateTStamp']);
    expect([...(plans.find((p) => p.name === 'deletedobject')?.cursorColumns ?? [])]).toEqual(['DateTStamp']);
  });

  it('merges a second declaration of the same table', () => {
    const narrow: TableDefinition = {
      ...SAMPLE_PATIENT,
      columns: { PatNum: 'bigint(20)', Language: 'varchar(100)' },
    };
    const plan = planTables([SAMPLE_PATIENT, narrow])[0];
    expect([...(plan?.columns.keys() ?? [])].at(-1)).toBe('Language');
    expect(plan?.columns.get('PatNum')).toBe('bigint(20)');
  });

  it('treats type spelling differences in case and spaces as the same type', () => {
    const shouty: TableDefinition = { ...SAMPLE_PATIENT, columns: { PatNum: 'BIGINT( 20 )' } };
    expect(() => planTables([SAMPLE_PATIENT, shouty])).not.toThrow();
  });

  it('refuses conflicting types, conflicting keys and types that are not plain SQL types', () => {
    const conflict: TableDefinition = {
      ...SAMPLE_PATIENT,
      columns: { PatNum: 'bigint(20)', LName: 'varchar(50)' },
    };
    expect(codeOf(() => planTables([SAMPLE_PATIENT, conflict]))).toBe('TENDRIL_E_CONNECTOR_DEFINITION');
    const otherKey: TableDefinition = { ...SAMPLE_PATIENT, key: ['LName'] };
    expect(codeOf(() => planTables([SAMPLE_PATIENT, otherKey]))).toBe('TENDRIL_E_CONNECTOR_DEFINITION');
    const injected: TableDefinition = {
      ...SAMPLE_APPOINTMENT,
      columns: { ...SAMPLE_APPOINTMENT.columns, Note: 'text); DROP TABLE patient; --' },
    };
    expect(codeOf(() => planTables([injected]))).toBe('TENDRIL_E_CONNECTOR_DEFINITION');
    const badName: TableDefinition = { ...SAMPLE_PROCEDURE, table: 'procedure log' };
    expect(codeOf(() => planTables([badName]))).toBe('TENDRIL_E_CONNECTOR_DEFINITION');
  });
});

describe('postgresType', () => {
  it.each([
    ['tinyint', 'smallint'],
    ['tinyint(4)', 'smallint'],
    ['tinyint(1)', 'smallint'],
    ['smallint', 'smallint'],
    ['int(11)', 'integer'],
    ['bigint(20)', 'bigint'],
    ['double', 'double precision'],
    ['float', 'real'],
    ['datetime', 'timestamp'],
    ['timestamp', 'timestamp'],
    ['date', 'date'],
    ['time', 'time'],
    ['varchar(255)', 'varchar(255)'],
    ['char(1)', 'char(1)'],
    ['text', 'text'],
    ['mediumtext', 'text'],
    ['decimal(10,2)', 'decimal(10,2)'],
  ])('%s → %s', (mysql, postgres) => {
    expect(postgresType(mysql)).toBe(postgres);
  });
});
