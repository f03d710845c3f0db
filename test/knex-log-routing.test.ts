import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

/**
 * knex's own warnings (a database that is down) go to the connection's logger as one pino line,
 * text only, on standard error; standard output stays the command's JSON.
 */
describe('knex warnings in the agent log', () => {
  let dir: string;
  let configFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tendril_nit_knexlog-'));
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: join(dir, 'tendril.db') },
        logLevel: 'warn',
        connections: [
          {
            id: 'down-dental',
            connector: 'open-dental',
            timezone: 'America/New_York',
            // Nothing listens on port 1 of loopback.
            database: { url: 'mysql://tendril_reader:s3cret-pw@127.0.0.1:1/opendental' },
            streams: ['patients'],
          },
        ],
      }),
    );
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('logs "Acquire connection error" once per failure as a JSON line with the connection id, no stack, no secrets', async () => {
    const result = await runCli(['sync', '--once', '--json', '--config', configFile]);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout) as {
      connections: { streams: { error?: { code: string } }[] }[];
    };
    expect(report.connections[0]!.streams[0]!.error?.code).toBe('TENDRIL_E_DB_CONNECT');
    const lines = result.stderr
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const knex = lines.filter((l) => l['event'] === 'sql.knex');
    expect(knex.length).toBeGreaterThan(0);
    for (const line of knex) {
      expect(line).toMatchObject({ connectionId: 'down-dental', level: 40, knex: 'warn' });
      expect(String(line['msg'])).toMatch(/^Acquire connection error: .*ECONNREFUSED/);
    }
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain('s3cret-pw');
  });
});
