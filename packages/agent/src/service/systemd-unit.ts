import { TendrilError } from '@tendril/core';
import { serviceArguments, type ServiceSpec } from './service-spec.js';

/** Quotes one ExecStart word the way systemd parses it (double quotes, backslash escapes). */
function quoteWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `Environment=` values are one quoted assignment. */
function environmentLine(name: string, value: string): string {
  return `Environment=${quoteWord(`${name}=${value}`)}`;
}

/**
 * The systemd unit for the agent. `Restart=on-failure` is the outer guard: the inner supervisor
 * (`tendril run`) restarts a crashed or hung agent itself, and only exits non-zero when it gave up
 * (crash loop, exit 4) or the config is invalid (exit 2, not restarted: `RestartPreventExitStatus`).
 * The site key comes from a key file (mode 0600, owned by the service user) or an
 * `EnvironmentFile=` that systemd reads as root before dropping privileges.
 */
export function systemdUnit(spec: ServiceSpec): string {
  if (!spec.user)
    throw new TendrilError('TENDRIL_E_SERVICE', 'a systemd unit needs the user the agent runs as (--user)');
  const exec = [spec.nodePath, ...serviceArguments(spec)].map(quoteWord).join(' ');
  return [
    '# Written by `tendril service install` (docs/install-linux.md). Reinstall instead of editing by hand.',
    '[Unit]',
    `Description=${spec.description}`,
    'Wants=network-online.target',
    'After=network-online.target',
    'StartLimitIntervalSec=1h',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    `User=${spec.user}`,
    `Group=${spec.user}`,
    `WorkingDirectory=${quoteWord(spec.workingDirectory)}`,
    spec.siteKey.kind === 'key-file'
      ? environmentLine('TENDRIL_SITE_KEY_FILE', spec.siteKey.path)
      : `EnvironmentFile=${quoteWord(spec.siteKey.path)}`,
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=30',
    'RestartPreventExitStatus=2',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectSystem=full',
    'ProtectHome=read-only',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
