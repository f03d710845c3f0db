import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from './service-spec.js';
import { systemdUnit } from './systemd-unit.js';
import { windowsInstallScript, winswXml } from './windows-service.js';

const linux: ServiceSpec = {
  name: 'tendril',
  description: 'Tendril agent for Smile Dental',
  nodePath: '/usr/bin/node',
  entryPath: '/opt/tendril/packages/agent/dist/bin.js',
  configFile: '/etc/tendril/tendril.yaml',
  workingDirectory: '/etc/tendril',
  siteKey: { kind: 'key-file', path: '/etc/tendril/site.key' },
  user: 'tendril',
};

const windows: ServiceSpec = {
  name: 'tendril',
  description: 'Tendril agent for Smile Dental',
  nodePath: 'C:\\Program Files\\nodejs\\node.exe',
  entryPath: 'C:\\Tendril\\app\\packages\\agent\\dist\\bin.js',
  configFile: 'C:\\ProgramData\\Tendril\\tendril.yaml',
  workingDirectory: 'C:\\ProgramData\\Tendril',
  siteKey: { kind: 'key-file', path: 'C:\\ProgramData\\Tendril\\site.key' },
  windowsAccount: 'SMILE\\svc_tendril',
};

describe('systemd unit', () => {
  it('matches the snapshot', () => {
    expect(systemdUnit(linux)).toMatchSnapshot();
  });

  it('uses an EnvironmentFile when asked, and quotes paths with spaces', () => {
    const unit = systemdUnit({
      ...linux,
      siteKey: { kind: 'environment-file', path: '/etc/tendril/site key.env' },
      configFile: '/srv/my practice/tendril.yaml',
    });
    expect(unit).toContain('EnvironmentFile="/etc/tendril/site key.env"');
    expect(unit).toContain(
      'ExecStart=/usr/bin/node /opt/tendril/packages/agent/dist/bin.js run --config "/srv/my practice/tendril.yaml"',
    );
    expect(unit).not.toContain('TENDRIL_SITE_KEY_FILE');
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('passes systemd-analyze verify (with real paths on this machine)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-unit-'));
    const entry = join(dir, 'bin.js');
    writeFileSync(entry, '');
    const unitFile = join(dir, 'tendril-verify.service');
    writeFileSync(
      unitFile,
      systemdUnit({
        ...linux,
        nodePath: process.execPath,
        entryPath: entry,
        configFile: join(dir, 'tendril.yaml'),
        workingDirectory: dir,
        user: 'root',
      }),
    );
    const result = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
    const problems = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((l) => l.includes('tendril-verify.service'));
    expect(problems).toEqual([]);
    expect(result.status).toBe(0);
  });
});

describe('Windows service (WinSW) and install script', () => {
  it('match the snapshots', () => {
    expect(winswXml(windows)).toMatchSnapshot();
    expect(windowsInstallScript(windows)).toMatchSnapshot();
  });

  it('sets the "log on as" account only for Windows authentication', () => {
    expect(windowsInstallScript(windows)).toContain('obj= $credential.UserName');
    expect(windowsInstallScript(windows)).toContain("-UserName 'SMILE\\svc_tendril'");
    const plain = windowsInstallScript({ ...windows, windowsAccount: undefined } as unknown as ServiceSpec);
    expect(plain).not.toContain('sc.exe config');
  });

  it('escapes XML', () => {
    expect(winswXml({ ...windows, description: 'Tendril agent for Smith & <Jones>' })).toContain(
      'Smith &amp; &lt;Jones&gt;',
    );
  });
});
