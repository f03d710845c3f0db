import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TendrilError } from '@tendril/core';
import { parse as parseYaml } from 'yaml';
import type { CommandRegistrar } from '../cli-context.js';
import type { ServiceSpec } from '../service/service-spec.js';
import { systemdUnit } from '../service/systemd-unit.js';
import {
  windowsInstallScript,
  windowsServiceFiles,
  windowsUninstallScript,
  winswXml,
} from '../service/windows-service.js';

export const SERVICE_PLATFORMS = ['linux', 'windows'] as const;
export type ServicePlatform = (typeof SERVICE_PLATFORMS)[number];

interface ServiceOptions {
  config: string;
  platform?: string;
  targetDir?: string;
  name: string;
  user: string;
  siteKeyFile?: string;
  environmentFile?: string;
  windowsAccount?: string;
  node?: string;
  entry?: string;
  dryRun?: boolean;
}

interface RawConfigFacts {
  practiceName?: string;
  windowsAccounts: string[];
}

/** Reads the few facts the service needs from the YAML without decrypting anything (no site key needed). */
async function readConfigFacts(file: string): Promise<RawConfigFacts> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_NOT_FOUND',
      `cannot read config file ${file}; check the path (tendril init writes tendril.yaml)`,
      { cause },
    );
  }
  const config = (raw ?? {}) as {
    site?: { practiceName?: unknown };
    connections?: { database?: { domain?: unknown; user?: unknown } }[];
  };
  const accounts = new Set<string>();
  for (const connection of Array.isArray(config.connections) ? config.connections : []) {
    const db = connection?.database;
    if (typeof db?.domain === 'string' && typeof db.user === 'string')
      accounts.add(`${db.domain}\\${db.user}`);
  }
  return {
    ...(typeof config.site?.practiceName === 'string' ? { practiceName: config.site.practiceName } : {}),
    windowsAccounts: [...accounts],
  };
}

function platformOf(value: string | undefined): ServicePlatform {
  const platform = value ?? (process.platform === 'win32' ? 'windows' : 'linux');
  if (!(SERVICE_PLATFORMS as readonly string[]).includes(platform))
    throw new TendrilError('TENDRIL_E_USAGE', `--platform must be one of ${SERVICE_PLATFORMS.join(', ')}`);
  return platform as ServicePlatform;
}

/** Builds the spec from the options and the config. */
export async function serviceSpecFor(opts: ServiceOptions, platform: ServicePlatform): Promise<ServiceSpec> {
  const pathApi = platform === 'windows' && process.platform !== 'win32' ? win32 : { resolve, dirname, join };
  const configFile = pathApi.resolve(opts.config);
  const facts = await readConfigFacts(resolve(opts.config));
  const workingDirectory = pathApi.dirname(configFile);
  if (opts.siteKeyFile && opts.environmentFile)
    throw new TendrilError('TENDRIL_E_USAGE', 'give --site-key-file or --environment-file, not both');
  if (opts.environmentFile && platform === 'windows')
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      '--environment-file is for systemd; on Windows use --site-key-file',
    );
  if (facts.windowsAccounts.length > 1 && !opts.windowsAccount) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `the config uses several Windows accounts (${facts.windowsAccounts.join(', ')}); a service logs on as one: pass --windows-account`,
    );
  }
  const windowsAccount = opts.windowsAccount ?? facts.windowsAccounts[0];
  return {
    name: opts.name,
    description: `Tendril agent${facts.practiceName ? ` for ${facts.practiceName}` : ''}`,
    nodePath: opts.node ?? process.execPath,
    entryPath: opts.entry
      ? pathApi.resolve(opts.entry)
      : fileURLToPath(new URL('../bin.js', import.meta.url)),
    configFile,
    workingDirectory,
    siteKey: opts.environmentFile
      ? { kind: 'environment-file', path: pathApi.resolve(opts.environmentFile) }
      : {
          kind: 'key-file',
          path: opts.siteKeyFile
            ? pathApi.resolve(opts.siteKeyFile)
            : pathApi.join(workingDirectory, 'site.key'),
        },
    ...(platform === 'linux' ? { user: opts.user } : {}),
    ...(platform === 'windows' && windowsAccount ? { windowsAccount } : {}),
  };
}

/** The files a platform's service consists of: name → content. */
export function serviceFiles(spec: ServiceSpec, platform: ServicePlatform): Record<string, string> {
  switch (platform) {
    case 'linux':
      return { [`${spec.name}.service`]: systemdUnit(spec) };
    case 'windows': {
      const files = windowsServiceFiles(spec.name);
      return {
        [files.xml]: winswXml(spec),
        [files.install]: windowsInstallScript(spec),
        [files.uninstall]: windowsUninstallScript(spec),
      };
    }
    default:
      throw new Error(`unreachable platform ${platform satisfies never}`);
  }
}

async function writeAll(dir: string, files: Record<string, string>): Promise<string[]> {
  const written: string[] = [];
  try {
    await mkdir(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      const path = join(dir, name);
      await writeFile(path, content, { mode: 0o644 });
      written.push(path);
    }
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_SERVICE',
      `cannot write the service files to ${dir}: run as root (Linux) or Administrator (Windows), or choose another folder with --target-dir`,
      { cause },
    );
  }
  return written;
}

/** `tendril service install|uninstall`: writes (or removes) the systemd unit or the Windows service files. */
export const registerServiceCommand: CommandRegistrar = (program, ctx) => {
  const service = program
    .command('service')
    .description('install or remove the agent as a system service (systemd on Linux, a Windows service)');
  const common = (command: ReturnType<typeof service.command>) =>
    command
      .requiredOption('--config <file>', 'config file (YAML) the service runs with')
      .option('--platform <platform>', `${SERVICE_PLATFORMS.join(' | ')}; default: this machine's`)
      // Not `--dir`: the odbc addon's loader (node-pre-gyp) reads process.argv and takes --dir as its own --directory.
      .option(
        '--target-dir <folder>',
        'where the service files go; default /etc/systemd/system (Linux) or the config folder (Windows)',
      )
      .option('--name <name>', 'service name', 'tendril')
      .option('--user <user>', 'Linux: the user the agent runs as', 'tendril')
      .option(
        '--site-key-file <file>',
        'file (mode 0600) holding the site key; default: site.key beside the config',
      )
      .option(
        '--environment-file <file>',
        'Linux: a root-only file with TENDRIL_SITE_KEY=… (systemd EnvironmentFile=) instead of a key file',
      )
      .option(
        '--windows-account <DOMAIN\\user>',
        'Windows: the "log on as" account; default: the Windows-authentication user in the config',
      )
      .option('--node <path>', 'Node.js executable; default: the one running this command')
      .option('--entry <path>', 'the tendril CLI entry (bin.js); default: this installation')
      .option('--dry-run', 'print the files instead of writing them');

  common(service.command('install').description('write the service definition')).action(
    async (opts: ServiceOptions) => {
      const platform = platformOf(opts.platform);
      const spec = await serviceSpecFor(opts, platform);
      const files = serviceFiles(spec, platform);
      if (opts.dryRun) {
        ctx.write(
          Object.entries(files)
            .map(([name, content]) => `# ---- ${name}\n${content}`)
            .join('\n'),
        );
        return;
      }
      const dir = resolve(
        opts.targetDir ?? (platform === 'linux' ? '/etc/systemd/system' : dirname(resolve(opts.config))),
      );
      const written = await writeAll(dir, files);
      const next =
        platform === 'linux'
          ? [
              'next (docs/install-linux.md):',
              `  sudo systemctl daemon-reload`,
              `  sudo systemctl enable --now ${spec.name}`,
              `  systemctl status ${spec.name}      # logs: journalctl -u ${spec.name} -f`,
            ]
          : [
              'next (docs/install-windows.md):',
              `  put WinSW-x64.exe (2.x) in ${dir} renamed to ${windowsServiceFiles(spec.name).wrapper}`,
              `  in PowerShell as Administrator: ${join(dir, windowsServiceFiles(spec.name).install)}`,
            ];
      ctx.write([...written.map((f) => `wrote ${f}`), ...next].join('\n'));
    },
  );

  common(
    service
      .command('uninstall')
      .description('remove the service definition (config, secrets and store stay)'),
  ).action(async (opts: ServiceOptions) => {
    const platform = platformOf(opts.platform);
    const spec = await serviceSpecFor(opts, platform);
    const dir = resolve(
      opts.targetDir ?? (platform === 'linux' ? '/etc/systemd/system' : dirname(resolve(opts.config))),
    );
    if (platform === 'windows') {
      const files = windowsServiceFiles(spec.name);
      if (!opts.dryRun) await writeAll(dir, { [files.uninstall]: windowsUninstallScript(spec) });
      ctx.write(
        `in PowerShell as Administrator run ${join(dir, files.uninstall)} (stops and removes the service); then delete ${files.xml} and ${files.wrapper}`,
      );
      return;
    }
    const unit = join(dir, `${spec.name}.service`);
    if (opts.dryRun) {
      ctx.write(`would remove ${unit}`);
      return;
    }
    try {
      await rm(unit);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new TendrilError(
        'TENDRIL_E_SERVICE',
        code === 'ENOENT'
          ? `${unit} does not exist: nothing to uninstall (wrong --target-dir or --name?)`
          : `cannot remove ${unit}: run as root`,
        { cause },
      );
    }
    ctx.write(
      [
        `removed ${unit}`,
        'then: sudo systemctl daemon-reload',
        `(run \`sudo systemctl disable --now ${spec.name}\` before uninstalling; if you did not: sudo systemctl stop ${spec.name}; sudo rm -f /etc/systemd/system/multi-user.target.wants/${spec.name}.service)`,
      ].join('\n'),
    );
  });
};
