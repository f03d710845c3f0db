import { validateConfig } from '@tendril/core';
import { describe, expect, it } from 'vitest';
import { connectorCatalog, loadAllConnectors } from '../registry.js';
import {
  fleetConnectionProblems,
  plainSecretProblems,
  resolveFleetConnection,
} from './fleet-connection-config.js';

const connection = (database: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'smile-dental',
  connector: 'open-dental',
  timezone: 'America/New_York',
  database,
  ...extra,
});

describe('fleet connections: credentials only as references', () => {
  it('accepts references in URLs, password fields and ODBC strings', () => {
    expect(
      plainSecretProblems(connection({ url: 'mysql://reader:${secret:OD_PASSWORD}@db:3306/od' })),
    ).toEqual([]);
    expect(plainSecretProblems(connection({ url: 'mysql://reader:${OD_PASSWORD}@db:3306/od' }))).toEqual([]);
    expect(
      plainSecretProblems(connection({ dialect: 'mysql', host: 'db', user: 'r', password: '${secret:PW}' })),
    ).toEqual([]);
    expect(
      plainSecretProblems(connection({ odbc: 'Driver=X;UID=r;PWD=${secret:PW};', dialect: 'mysql' })),
    ).toEqual([]);
    expect(plainSecretProblems(connection({ url: 'mysql://reader@db:3306/od' }))).toEqual([]);
  });

  it('refuses plain-text credentials by path, never quoting the value', () => {
    const problems = [
      ...plainSecretProblems(connection({ url: 'mysql://reader:s3cr3t-value@db:3306/od' }), ['c']),
      ...plainSecretProblems(
        connection({ dialect: 'mysql', host: 'db', user: 'r', password: 's3cr3t-value' }),
        ['c'],
      ),
      ...plainSecretProblems(connection({ odbc: 'Driver=X;UID=r;PWD={s3cr3t-value};', dialect: 'mysql' }), [
        'c',
      ]),
      ...plainSecretProblems(
        connection({ url: 'mysql://r@db/od' }, { writeback: { api: { developerKey: 's3cr3t-value' } } }),
        ['c'],
      ),
    ];
    expect(problems.map((p) => p.path)).toEqual([
      'c.database.url',
      'c.database.password',
      'c.database.odbc',
      'c.writeback.api.developerKey',
    ]);
    expect(JSON.stringify(problems)).not.toContain('s3cr3t-value');
  });

  it('validates like a YAML connection, with every problem at once', async () => {
    const problems = await fleetConnectionProblems(
      connection(
        { url: 'mysql://reader:plain@db/od' },
        { timezone: 'Mars/Olympus', schedule: { poll: 'every ten minutes' } },
      ),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        'connection smile-dental.database.url',
        'connection smile-dental.schedule.poll',
        'connection smile-dental.timezone',
      ].sort(),
    );
    expect(await fleetConnectionProblems(connection({ url: 'mysql://reader:${secret:PW}@db/od' }))).toEqual(
      [],
    );
  });

  it('resolves references from the worker environment and reports a missing one', async () => {
    const raw = connection({ url: 'mysql://reader:${OD_PW}@db/od' });
    const ok = await resolveFleetConnection(raw, { OD_PW: 'from-env' }, undefined);
    expect(ok.ok && ok.connection.database).toEqual({ url: 'mysql://reader:from-env@db/od' });
    const missing = await resolveFleetConnection(raw, {}, undefined);
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.problems[0]!.message).toContain('OD_PW');
  });
});

describe('fleet config', () => {
  it('a fleet config needs no connections but a PostgreSQL store', async () => {
    const catalog = connectorCatalog(await loadAllConnectors());
    const fleet = validateConfig({ store: { postgres: 'postgres://x@h/db' }, fleet: true }, catalog);
    expect(fleet.ok && fleet.config.fleet).toMatchObject({ concurrency: 4, leaseSeconds: 900 });
    const sqlite = validateConfig({ store: { sqlite: './x.db' }, fleet: { concurrency: 2 } }, catalog);
    expect(!sqlite.ok && sqlite.problems.map((p) => p.path)).toEqual(['fleet']);
    const none = validateConfig({ store: { sqlite: './x.db' } }, catalog);
    expect(!none.ok && none.problems).toEqual([
      { path: 'connections', message: 'add at least one connection' },
    ]);
  });
});
