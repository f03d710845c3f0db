import knexFactory from 'knex';
import { isTendrilError, type DatabaseConfig, type TendrilError } from '@tendril/core';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDatabase } from './client.js';

/*
 * What tedious would receive for each SQL Server login form, without a server: the knex config
 * from resolveDatabase is handed to knex's own mssql client, whose `_generateConnection()` builds
 * the tedious `ConnectionConfig` exactly as it does before connecting.
 */

const instances: { destroy(): Promise<void> }[] = [];
afterAll(async () => {
  for (const instance of instances) await instance.destroy();
});

// Tedious's generated connection config is untyped driver internals; tests read a few keys from it.
type TediousConfig = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function tediousConfig(db: DatabaseConfig): TediousConfig {
  const knex = knexFactory(resolveDatabase(db).knexConfig);
  instances.push(knex);
  return (knex.client as unknown as { _generateConnection(): TediousConfig })._generateConnection();
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

describe('SQL Server logins as tedious receives them', () => {
  it('SQL login on a default instance: port 1433, encrypted, certificate checked', () => {
    const config = tediousConfig({ url: 'mssql://tendril_reader:s3cret@dentrix-sql.clinic.local/Dentrix' });
    expect(config.server).toBe('dentrix-sql.clinic.local');
    expect(config.authentication).toMatchObject({
      type: 'default',
      options: { userName: 'tendril_reader', password: 's3cret' },
    });
    expect(config.authentication.options.domain).toBeUndefined();
    expect(config.options).toMatchObject({
      database: 'Dentrix',
      port: 1433,
      encrypt: true,
      trustServerCertificate: false,
      appName: 'tendril',
    });
    expect(config.options.instanceName).toBeUndefined();
  });

  it('named instance from the URL: instanceName set and no port (the SQL Browser finds it)', () => {
    const config = tediousConfig({
      url: 'sqlserver://u:p@SQL01/Dentrix?instance=DENTRIXENT&trustServerCertificate=true',
    });
    expect(config.server).toBe('SQL01');
    expect(config.options.instanceName).toBe('DENTRIXENT');
    expect(config.options.port).toBeUndefined();
    expect(config.options.trustServerCertificate).toBe(true);
  });

  it('named instance written SERVER\\INSTANCE in the host (parts form)', () => {
    const config = tediousConfig({
      dialect: 'mssql',
      host: 'SQL01\\DENTRIXENT',
      user: 'u',
      password: 'p',
      database: 'Dentrix',
    });
    expect(config.server).toBe('SQL01');
    expect(config.options.instanceName).toBe('DENTRIXENT');
    expect(config.options.port).toBeUndefined();
  });

  it('an explicit port on a default instance is kept', () => {
    expect(
      tediousConfig({ dialect: 'mssql', host: 'h', port: 14330, user: 'u', password: 'p' }).options.port,
    ).toBe(14330);
  });

  it('encrypt=false and a self-signed certificate are passed through', () => {
    const config = tediousConfig({ url: 'mssql://u:p@h/db?encrypt=false&trustServerCertificate=true' });
    expect(config.options).toMatchObject({ encrypt: false, trustServerCertificate: true });
  });

  it('Windows login: NTLM with domain, user and password', () => {
    const config = tediousConfig({
      url: 'mssql://svc_tendril:pw@SQL01/Dentrix?domain=CLINIC&instance=DENTRIXENT',
    });
    expect(config.authentication).toMatchObject({
      type: 'ntlm',
      options: { userName: 'svc_tendril', password: 'pw', domain: 'CLINIC' },
    });
    expect(config.options.instanceName).toBe('DENTRIXENT');
  });

  it('refuses an instance given twice and an NTLM login without a password, naming the fix', () => {
    const twice = thrown(() => resolveDatabase({ dialect: 'mssql', host: 'SQL01\\A', instance: 'B' }));
    expect(twice.code).toBe('TENDRIL_E_CONFIG_INVALID');
    expect(twice.message).toContain('instance is given twice');
    const blank = thrown(() => resolveDatabase({ dialect: 'mssql', host: '\\A' }));
    expect(blank.code).toBe('TENDRIL_E_CONFIG_INVALID');
    const ntlm = thrown(() => resolveDatabase({ url: 'mssql://svc@SQL01/Dentrix?domain=CLINIC' }));
    expect(ntlm.code).toBe('TENDRIL_E_CONFIG_INVALID');
    expect(ntlm.message).toContain('NTLM');
  });
});
