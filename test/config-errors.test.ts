import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

describe('bad config', () => {
  it('exits 2 and lists every problem at once, running nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-config-'));
    const file = join(dir, 'tendril.yaml');
    writeFileSync(
      file,
      [
        'store: { sqlite: ' + join(dir, 'never-created.db') + ' }',
        'connections:',
        '  - id: Smile_Dental',
        '    connector: open-dentl',
        '    timezone: Mars/Olympus_Mons',
        '    database: { url: "mysql://u:${TENDRIL_TEST_UNSET_PASSWORD}@127.0.0.1/od" }',
        '    sync: { settleSeconds: -5 }',
        '    colour: blue',
        '  - id: Smile_Dental',
        '    connector: open-dental',
        '    timezone: America/Chicago',
        '    database: { url: "mysql://u@127.0.0.1/od" }',
        '    options: { brokenAppointmentStatus: maybe }',
        '',
      ].join('\n'),
    );
    delete process.env['TENDRIL_TEST_UNSET_PASSWORD'];
    const result = await runCli(['sync', '--config', file, '--once']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const expected = [
      'connections.0.id',
      'connections.0.connector',
      'connections.0.timezone',
      'connections.0.database.url',
      'connections.0.sync.settleSeconds',
      'connections.0', // the unknown key `colour`
      'connections.1.id',
      'connections.1.options.brokenAppointmentStatus',
    ];
    for (const path of expected) expect(result.stderr).toContain(`- ${path}`);
    expect(result.stderr).toContain('TENDRIL_E_CONFIG_INVALID');
    expect(result.stderr).toContain('TENDRIL_TEST_UNSET_PASSWORD');
    expect(result.stderr).toMatch(/colour/);
    expect(result.stderr).toMatch(/duplicate connection id/);
  });

  it('exits 2 with the path when the file does not exist', async () => {
    const result = await runCli(['sync', '--config', '/nonexistent/tendril.yaml', '--once']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TENDRIL_E_CONFIG_NOT_FOUND');
  });

  it('exits 2 on an unknown option', async () => {
    const result = await runCli(['sync', '--bogus']);
    expect(result.code).toBe(2);
  });
});
