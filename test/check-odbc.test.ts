import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqlClient } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

interface CheckJson {
  exitCode: number;
  connections: {
    id: string;
    target: { odbc: boolean; dialect: string };
    steps: { step: string; status: string; message: string }[];
  }[];
}

/**
 * `tendril check` on an ODBC connection (`database: { odbc, dialect }`), through unixODBC's real
 * "SQLite3" driver (libsqliteodbc) on a file seeded by `tendril seed`: it must open the connection
 * through the ODBC adapter (not refuse it), and say honestly that it cannot test DNS/TCP/TLS.
 */
describe('tendril check through ODBC (SQLite3 driver)', () => {
  let dir: string;
  let file: string;
  let configFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril_nit_check_odbc-'));
    file = join(dir, 'ehr.db');
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      `sqlite:${file}`,
      '--patients',
      '20',
      '--seed',
      'odbc-check',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: join(dir, 'tendril.db') },
        logLevel: 'silent',
        connections: [
          {
            id: 'odbc-dental',
            connector: 'open-dental',
            timezone: 'America/New_York',
            database: { odbc: `Driver=SQLite3;Database=${file}`, dialect: 'sqlite' },
          },
        ],
      }),
    );
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('walks login, database, read rights and schema through the ODBC driver; network steps are skipped and say why', async () => {
    const result = await runCli(['check', '--config', configFile, '--json']);
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout) as CheckJson;
    const [connection] = report.connections;
    expect(connection!.target).toEqual({ dialect: 'sqlite', odbc: true });
    const steps = Object.fromEntries(connection!.steps.map((s) => [s.step, s]));
    for (const step of ['dns', 'tcp', 'tls']) {
      expect(steps[step]).toMatchObject({ status: 'skipped' });
      expect(steps[step]!.message).toContain('ODBC');
    }
    expect(steps['login']).toMatchObject({ status: 'ok' });
    expect(steps['login']!.message).toContain('ODBC driver');
    expect(steps['database']).toMatchObject({ status: 'ok' });
    expect(steps['read-rights']).toMatchObject({ status: 'ok' });
    expect(steps['read-rights']!.message).toMatch(/SELECT allowed on all \d+ tables/);
    expect(['ok', 'warning']).toContain(steps['schema']!.status);
    expect(result.code).toBe(0);
    expect(report.exitCode).toBe(0);
  });

  it('reports a table the connector reads that is missing (exit 13), read through ODBC', async () => {
    const db = createSqlClient({ url: `sqlite:${file}` });
    await db.execute(db.knex.raw('DROP TABLE clinic'));
    await db.close();
    const result = await runCli(['check', '--config', configFile, '--json']);
    const report = JSON.parse(result.stdout) as CheckJson;
    const schema = report.connections[0]!.steps.find((s) => s.step === 'schema')!;
    expect(schema.status).toBe('failed');
    expect(schema.message).toContain('clinic');
    expect(result.code).toBe(13);
  });
});
