import { describe, expect, it } from 'vitest';
import { isTendrilError, type TendrilError } from '@tendril/core';
import { classifyDbError, resolveDatabase } from './client.js';

function connectionOf(url: string): Record<string, unknown> {
  return resolveDatabase({ url }).knexConfig.connection as Record<string, unknown>;
}

function thrown(fn: () => unknown): TendrilError {
  try {
    fn();
  } catch (error) {
    if (isTendrilError(error)) return error;
    throw error;
  }
  throw new Error('expected a TendrilError');
}

describe('resolveDatabase', () => {
  it('reads mysql and mariadb URLs with text dates, string BIGINTs and a UTC session', () => {
    for (const scheme of ['mysql', 'mariadb']) {
      const resolved = resolveDatabase({
        url: `${scheme}://od%40clinic:p%3Ass%2Fw%25rd@db.local:3307/opendental`,
      });
      expect(resolved.dialect).toBe('mysql');
      expect(resolved.knexConfig.client).toBe('mysql2');
      expect(resolved.knexConfig.connection).toEqual({
        host: 'db.local',
        port: 3307,
        user: 'od@clinic',
        password: 'p:ss/w%rd',
        database: 'opendental',
        charset: 'utf8mb4',
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        timezone: '+00:00',
      });
      expect(typeof (resolved.knexConfig.pool as { afterCreate?: unknown }).afterCreate).toBe('function');
    }
  });

  it('reads postgres URLs with per-client text date parsers', () => {
    for (const scheme of ['postgres', 'postgresql']) {
      const resolved = resolveDatabase({ url: `${scheme}://tendril:secret@[::1]/ehr` });
      expect(resolved.dialect).toBe('postgres');
      const connection = resolved.knexConfig.connection as Record<string, unknown> & {
        types: { getTypeParser(oid: number, format?: string): (v: string) => unknown };
      };
      expect(connection).toMatchObject({
        host: '::1',
        port: 5432,
        user: 'tendril',
        password: 'secret',
        database: 'ehr',
      });
      // date, timestamp, timestamptz stay text; int4 keeps pg's parser.
      for (const oid of [1082, 1114, 1184])
        expect(connection.types.getTypeParser(oid, 'text')('2024-01-01 10:00:00.123456')).toBe(
          '2024-01-01 10:00:00.123456',
        );
      expect(connection.types.getTypeParser(23, 'text')('42')).toBe(42);
    }
  });

  it('reads sqlite URLs in all three forms', () => {
    expect(connectionOf('sqlite:./data/ehr.db')).toEqual({ filename: './data/ehr.db' });
    expect(connectionOf('sqlite:///var/lib/ehr.db')).toEqual({ filename: '/var/lib/ehr.db' });
    expect(connectionOf('sqlite::memory:')).toEqual({ filename: ':memory:' });
    expect(resolveDatabase({ url: 'sqlite::memory:' }).knexConfig.useNullAsDefault).toBe(true);
  });

  it('reads mssql and sqlserver URLs with encrypt, trustServerCertificate, instance and domain', () => {
    const plain = resolveDatabase({ url: 'mssql://sa:x@sql.local:1444/dentrix' });
    expect(plain.dialect).toBe('mssql');
    expect(plain.knexConfig.connection).toEqual({
      server: 'sql.local',
      port: 1444,
      user: 'sa',
      password: 'x',
      database: 'dentrix',
      options: { encrypt: true, trustServerCertificate: false, appName: 'tendril' },
    });
    expect(
      connectionOf(
        'sqlserver://svc:pw@sql.local/ehr?encrypt=false&trustServerCertificate=true&instance=SQLEXPRESS&domain=CLINIC',
      ),
    ).toEqual({
      server: 'sql.local',
      user: 'svc',
      password: 'pw',
      database: 'ehr',
      domain: 'CLINIC',
      type: 'ntlm',
      options: {
        encrypt: false,
        trustServerCertificate: true,
        appName: 'tendril',
        instanceName: 'SQLEXPRESS',
      },
    });
    expect(thrown(() => resolveDatabase({ url: 'mssql://h/db?encrypt=maybe' })).code).toBe(
      'TENDRIL_E_CONFIG_INVALID',
    );
  });

  it('accepts a database given by parts', () => {
    const resolved = resolveDatabase({
      dialect: 'mssql',
      host: 'h',
      instance: 'DENTRIX',
      user: 'u',
      password: 'p',
      database: 'd',
      trustServerCertificate: true,
    });
    expect(resolved.knexConfig.connection).toEqual({
      server: 'h',
      user: 'u',
      password: 'p',
      database: 'd',
      options: { encrypt: true, trustServerCertificate: true, appName: 'tendril', instanceName: 'DENTRIX' },
    });
    expect(resolveDatabase({ dialect: 'sqlite', filename: 'x.db' }).knexConfig.connection).toEqual({
      filename: 'x.db',
    });
    expect(thrown(() => resolveDatabase({ dialect: 'sqlite' })).code).toBe('TENDRIL_E_CONFIG_INVALID');
  });

  it('names the accepted schemes for an unknown one', () => {
    const error = thrown(() => resolveDatabase({ url: 'oracle://u:p@h/db' }));
    expect(error.code).toBe('TENDRIL_E_DB_DIALECT');
    for (const scheme of [
      'mysql:',
      'mariadb:',
      'mssql:',
      'sqlserver:',
      'postgres:',
      'postgresql:',
      'sqlite:',
    ])
      expect(error.message).toContain(scheme);
    expect(error.message).not.toContain(':p@');
  });

  it('never echoes a password with a bad percent-escape', () => {
    const error = thrown(() => resolveDatabase({ url: 'mysql://u:s3cr%ZZet@h/db' }));
    expect(error.code).toBe('TENDRIL_E_CONFIG_INVALID');
    expect(error.message).not.toContain('s3cr');
  });
});

describe('classifyDbError (driver error shapes the int tests cannot produce: SQL Server, knex pool timeout)', () => {
  // Shapes taken from tedious 19 (lib/errors.js, lib/token/handler.js) and knex 3.
  const withFields = (message: string, fields: Record<string, unknown>) =>
    Object.assign(new Error(message), fields);

  it('tedious login failure (ELOGIN) is an auth error', () => {
    expect(classifyDbError(withFields("Login failed for user 'svc'.", { code: 'ELOGIN' })).code).toBe(
      'TENDRIL_E_DB_AUTH',
    );
  });

  it('SQL Server 229 (SELECT permission denied) is a permission error', () => {
    const error = classifyDbError(
      withFields("The SELECT permission was denied on the object 'appt'", {
        code: 'EREQUEST',
        number: 229,
        state: 5,
      }),
    );
    expect(error.code).toBe('TENDRIL_E_DB_PERMISSION');
    expect(error.details).toMatchObject({ code: 'EREQUEST', errno: 229 });
  });

  it('tedious socket errors and knex pool timeouts are connect errors', () => {
    expect(classifyDbError(withFields('Failed to connect to h:1433', { code: 'ESOCKET' })).code).toBe(
      'TENDRIL_E_DB_CONNECT',
    );
    expect(
      classifyDbError(withFields('Knex: Timeout acquiring a connection.', { name: 'KnexTimeoutError' })).code,
    ).toBe('TENDRIL_E_DB_CONNECT');
    expect(
      classifyDbError(
        new AggregateError([
          withFields('connect ECONNREFUSED ::1:1', { code: 'ECONNREFUSED', address: '::1', port: 1 }),
        ]),
      ).code,
    ).toBe('TENDRIL_E_DB_CONNECT');
  });

  it('keeps the original error as cause, passes TendrilErrors through, and never copies the driver message', () => {
    const original = withFields("select * from `patient` where `LName` = 'Smith' - Unknown column 'x'", {
      code: 'ER_BAD_FIELD_ERROR',
      errno: 1054,
      sqlState: '42S22',
    });
    const error = classifyDbError(original);
    expect(error.code).toBe('TENDRIL_E_DB_QUERY');
    expect(error.cause).toBe(original);
    expect(error.message).not.toContain('Smith');
    expect(error.message).toContain('ER_BAD_FIELD_ERROR');
    expect(classifyDbError(error)).toBe(error);
  });
});
