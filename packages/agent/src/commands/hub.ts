import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TendrilError } from '@tendril/core';
import { startHubNode, type ReleaseRecord, type RemoteCommandRecord, type SiteRecord } from '@tendril/hub';
import type { Command } from 'commander';
import type { CliContext, CommandRegistrar } from '../cli-context.js';
import { loadHubConfigFile } from '../hub/hub-config-file.js';
import { runHubAdmin } from '../hub/hub-admin-client.js';
import { createRootLogger } from '../logger.js';
import { CONNECTOR_LOADERS } from '../registry.js';
import { waitForStopSignal } from './run.js';

function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

const CONFIG_HELP = 'hub config file (YAML, docs/hub.md)';

async function admin(ctx: CliContext, file: string, operation: string, args: Record<string, unknown>) {
  const config = await loadHubConfigFile(file, ctx.io.env);
  return runHubAdmin(config, operation, args);
}

function siteLine(site: SiteRecord): string {
  const state = site.purgedAt
    ? 'purged'
    : site.revokedAt
      ? 'revoked'
      : site.linkNode
        ? 'linked'
        : site.presence;
  return `${site.id}  ${site.name}  ${site.connector}  vendor=${site.vendor}  ${state}  connections=${site.connectionIds.join(',')}`;
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new TendrilError('TENDRIL_E_USAGE', '--port must be a whole number from 1 to 65535');
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function registerSiteCommands(hub: Command, ctx: CliContext): void {
  const site = hub
    .command('site')
    .description('sites: create (with an enrollment key), list, show, revoke, re-enroll, rotate, purge');
  site
    .command('create')
    .description('create a site and print its one-time enrollment key (valid 7 days)')
    .requiredOption('--config <file>', CONFIG_HELP)
    .requiredOption('--name <practice>', 'practice name')
    .requiredOption('--connector <id>', 'EHR connector id (tendril connectors)')
    .option('--vendor <name>', 'the vendor that owns the site (default: hub.yaml defaultVendor)')
    .option('--contact-name <name>', 'who can restart the agent on site')
    .option('--contact-email <email>', "the contact's e-mail")
    .option('--server <host>', 'database server, pre-filled at enrollment')
    .option('--port <n>', 'database port, pre-filled at enrollment')
    .option('--database <name>', 'database name, pre-filled at enrollment')
    .option('--json', 'print {siteId, enrollmentKey, expiresAt, vendor, connectionIds}')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const port = parsePort(opts['port'] as string | undefined);
      const result = (await admin(ctx, opts['config'] as string, 'site.create', {
        name: opts['name'],
        connector: opts['connector'],
        ...(opts['vendor'] ? { vendor: opts['vendor'] } : {}),
        ...(opts['contactName'] ? { contactName: opts['contactName'] } : {}),
        ...(opts['contactEmail'] ? { contactEmail: opts['contactEmail'] } : {}),
        ...(opts['server'] ? { server: opts['server'] } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(opts['database'] ? { database: opts['database'] } : {}),
      })) as {
        siteId: string;
        enrollmentKey: string;
        expiresAt: string;
        vendor: string;
        connectionIds: string[];
      };
      if (opts['json']) {
        ctx.write(JSON.stringify(result));
        return;
      }
      ctx.write(
        [
          `created site ${result.siteId} for vendor ${result.vendor}; connection ${result.connectionIds.join(', ')}`,
          '',
          'ENROLLMENT KEY (shown only this once; single use; expires ' + result.expiresAt + ')',
          '',
          `  ${result.enrollmentKey}`,
          '',
          'On the practice server: tendril init --hub <hub url> --enroll <key>',
        ].join('\n'),
      );
    });
  site
    .command('list')
    .description('every site with its vendor, state and connections')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { sites } = (await admin(ctx, opts.config, 'site.list', {})) as { sites: SiteRecord[] };
      ctx.write(opts.json ? JSON.stringify({ sites }) : sites.map(siteLine).join('\n') || '(no sites)');
    });
  site
    .command('show <siteId>')
    .description('one site: link, version, last status, events held')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (siteId: string, opts: { config: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'site.show', { siteId })) as {
        site: SiteRecord;
        events: number;
      };
      ctx.write(
        opts.json
          ? JSON.stringify(result)
          : `${siteLine(result.site)}\nevents held: ${result.events}\nlast seen: ${result.site.lastSeenAt ?? 'never'}`,
      );
    });
  site
    .command('revoke <siteId>')
    .description(
      'revoke a site: its credentials and enrollment keys stop working and its link closes at once',
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .action(async (siteId: string, opts: { config: string }) => {
      await admin(ctx, opts.config, 'site.revoke', { siteId });
      ctx.write(`revoked ${siteId}`);
    });
  site
    .command('enroll-key <siteId>')
    .description(
      'a new enrollment key for an existing site (a replaced server); the old credential is revoked when it is used',
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print {siteId, enrollmentKey, expiresAt}')
    .action(async (siteId: string, opts: { config: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'site.enroll-key', { siteId })) as {
        enrollmentKey: string;
        expiresAt: string;
      };
      ctx.write(
        opts.json
          ? JSON.stringify({ siteId, ...result })
          : `ENROLLMENT KEY for ${siteId} (shown once; expires ${result.expiresAt}):\n\n  ${result.enrollmentKey}\n`,
      );
    });
  site
    .command('rotate-credential <siteId>')
    .description(
      "send the site's agent a new credential over its link; the old one stops working once the new one is used",
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .action(async (siteId: string, opts: { config: string }) => {
      const { outcome } = (await admin(ctx, opts.config, 'site.rotate-credential', { siteId })) as {
        outcome: string;
      };
      if (outcome === 'not-linked') {
        ctx.write(`${siteId} has no link now: rotate when its agent is online`);
        ctx.setExitCode(3);
      } else ctx.write(`new credential ${outcome === 'sent' ? 'sent to' : 'requested for'} ${siteId}`);
    });
  site
    .command('purge <siteId>')
    .description(
      'delete every event and writeback of a site that left (and revoke it); the access log is kept',
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (siteId: string, opts: { config: string; yes?: boolean }) => {
      if (!opts.yes)
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `purge deletes every event of ${siteId} for good; add --yes to confirm`,
        );
      const result = (await admin(ctx, opts.config, 'site.purge', { siteId })) as {
        events: number;
        writebacks: number;
      };
      ctx.write(
        `purged ${siteId}: ${result.events} events, ${result.writebacks} writebacks deleted; the site is revoked`,
      );
    });
  const remote = (name: 'restart' | 'reload-config' | 'logs' | 'support-bundle', description: string) =>
    site
      .command(`${name} <siteId>`)
      .description(description)
      .requiredOption('--config <file>', CONFIG_HELP)
      .option('--json', 'print the command record as JSON');
  const runRemote = async (
    name: 'restart' | 'reload-config' | 'logs' | 'support-bundle' | 'upgrade',
    siteId: string,
    opts: { config: string; json?: boolean },
    args: Record<string, unknown> = {},
  ) => {
    const { command } = (await admin(ctx, opts.config, 'site.command', {
      siteId,
      command: name,
      ...(Object.keys(args).length > 0 ? { args } : {}),
    })) as { command: RemoteCommandRecord };
    reportRemote(name, siteId, opts, command);
  };
  const reportRemote = (
    name: 'restart' | 'reload-config' | 'logs' | 'support-bundle' | 'upgrade',
    siteId: string,
    opts: { json?: boolean },
    command: RemoteCommandRecord,
  ) => {
    if (opts.json) ctx.write(JSON.stringify(command));
    else if (command.status === 'ok') {
      const lines = command.output?.['lines'];
      const bundle = command.output?.['bundle'];
      ctx.write(
        Array.isArray(lines)
          ? lines.join('\n')
          : bundle
            ? JSON.stringify(bundle, null, 2)
            : `${siteId}: ${name}: ${command.message ?? 'done'}`,
      );
    } else {
      ctx.io.stderr.write(
        `tendril: ${siteId}: ${name} ${command.status.replace('_', ' ')}: ${command.message ?? ''}\n`,
      );
    }
    // docs/cli.md, "Exit codes": 3 when the practice refused or the site is offline, 1 when it failed.
    if (command.status !== 'ok')
      ctx.setExitCode(
        command.status === 'refused' || (command.status === 'failed' && !command.sentAt) ? 3 : 1,
      );
  };
  remote('restart', "restart the site's agent (its supervisor starts a fresh process)").action(
    (siteId: string, opts: { config: string; json?: boolean }) => runRemote('restart', siteId, opts),
  );
  remote(
    'reload-config',
    'the agent re-reads its own tendril.yaml; a bad one is refused with every problem and the running config stays',
  ).action((siteId: string, opts: { config: string; json?: boolean }) =>
    runRemote('reload-config', siteId, opts),
  );
  remote('logs', "the agent's newest log lines (PHI already redacted by the agent)")
    .option('--lines <n>', 'how many of the newest lines (1-2000)', '200')
    .action((siteId: string, opts: { config: string; json?: boolean; lines: string }) =>
      runRemote('logs', siteId, opts, { lines: Number(opts.lines) }),
    );
  remote(
    'support-bundle',
    "the agent's support bundle: schema metadata only, as tendril discover builds it",
  ).action((siteId: string, opts: { config: string; json?: boolean }) =>
    runRemote('support-bundle', siteId, opts),
  );
  site
    .command('upgrade <siteId>')
    .description(
      "install a stored release on the site's agent (tendril hub release list); the agent verifies it, switches, and rolls back when the new version is not healthy",
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .requiredOption('--version <v>', 'the release to install, as tendril hub release list shows it')
    .option('--json', 'print the command record as JSON')
    .action(async (siteId: string, opts: { config: string; version: string; json?: boolean }) => {
      const { command } = (await admin(ctx, opts.config, 'site.upgrade', {
        siteId,
        version: opts.version,
      })) as { command: RemoteCommandRecord };
      reportRemote('upgrade', siteId, opts, command);
    });
  site
    .command('commands <siteId>')
    .description('the remote commands asked of a site: who, when, and how each ended')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--limit <n>', 'newest entries', '50')
    .option('--json', 'print JSON')
    .action(async (siteId: string, opts: { config: string; limit: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'site.commands', {
        siteId,
        limit: Number(opts.limit),
      })) as { commands: RemoteCommandRecord[] };
      ctx.write(
        opts.json
          ? JSON.stringify(result)
          : result.commands
              .map(
                (c) =>
                  `${c.requestedAt}  ${c.actor}  ${c.name}${c.args.release ? ` ${c.args.release.version}` : ''}  ${c.status}${c.outcome ? ` → ${c.outcome}` : ''}  ${c.outcomeReason ?? c.message ?? ''}`,
              )
              .join('\n') || '(no commands)',
      );
    });
  site
    .command('access-log [siteId]')
    .description("who read which site's events, when (no event contents)")
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--limit <n>', 'newest entries', '100')
    .option('--json', 'print JSON')
    .action(async (siteId: string | undefined, opts: { config: string; limit: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'site.access-log', {
        ...(siteId ? { siteId } : {}),
        limit: Number(opts.limit),
      })) as { entries: { at: string; keyId: string; siteId: string; action: string; events: number }[] };
      ctx.write(
        opts.json
          ? JSON.stringify(result)
          : result.entries
              .map((e) => `${e.at}  key=${e.keyId}  site=${e.siteId}  ${e.action}  events=${e.events}`)
              .join('\n') || '(no reads)',
      );
    });
}

function registerReleaseCommands(hub: Command, ctx: CliContext): void {
  const releases = hub
    .command('release')
    .description('agent releases the hub serves for remote upgrades: add, list, remove');
  releases
    .command('add <tarball>')
    .description(
      'store a release built by pnpm release: tendril-<version>-<platform>.tar.gz with its .sha256 and .sig beside it (refused when the bytes do not match)',
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print the stored release as JSON')
    .action(async (tarball: string, opts: { config: string; json?: boolean }) => {
      const { release } = (await admin(ctx, opts.config, 'release.add', { path: resolve(tarball) })) as {
        release: ReleaseRecord;
      };
      ctx.write(
        opts.json
          ? JSON.stringify(release)
          : `stored release ${release.version} (${release.platform}, ${release.bytes} bytes, sha256 ${release.sha256})`,
      );
    });
  releases
    .command('list')
    .description('the stored releases, newest first')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'release.list', {})) as { releases: ReleaseRecord[] };
      ctx.write(
        opts.json
          ? JSON.stringify(result)
          : result.releases
              .map(
                (r) =>
                  `${r.version}  ${r.platform}  ${r.bytes} bytes  sha256=${r.sha256}  added ${r.addedAt}`,
              )
              .join('\n') || '(no releases)',
      );
    });
  releases
    .command('remove <version>')
    .description('remove a stored release (agents can no longer download it)')
    .requiredOption('--config <file>', CONFIG_HELP)
    .action(async (version: string, opts: { config: string }) => {
      await admin(ctx, opts.config, 'release.remove', { version });
      ctx.write(`removed release ${version}`);
    });
}

function registerKeyCommands(hub: Command, ctx: CliContext): void {
  const keys = hub
    .command('api-key')
    .description('vendor API keys: create (shown once), list, revoke, rotate');
  keys
    .command('create')
    .description('create a vendor key scoped to some of its sites, or all (*); printed once')
    .requiredOption('--config <file>', CONFIG_HELP)
    .requiredOption('--name <vendor>', 'the vendor the key belongs to')
    .requiredOption('--sites <ids>', 'comma-separated site ids of that vendor, or * for all of them')
    .option('--label <text>', 'a label for the key (default: the vendor name)')
    .option('--json', 'print {id, key}')
    .action(async (opts: { config: string; name: string; sites: string; label?: string; json?: boolean }) => {
      const sites =
        opts.sites.trim() === '*'
          ? '*'
          : opts.sites
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean);
      const result = (await admin(ctx, opts.config, 'api-key.create', {
        vendor: opts.name,
        sites,
        ...(opts.label ? { label: opts.label } : {}),
      })) as { id: string; key: string };
      ctx.write(
        opts.json
          ? JSON.stringify({ id: result.id, key: result.key })
          : `key ${result.id} (shown only this once):\n\n  ${result.key}\n`,
      );
    });
  keys
    .command('list')
    .description('keys with vendor, scope and state (never secrets)')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { keys: list } = (await admin(ctx, opts.config, 'api-key.list', {})) as {
        keys: {
          id: string;
          vendor: string;
          name: string;
          sites: string[] | '*';
          revokedAt?: string;
          expiresAt?: string;
        }[];
      };
      ctx.write(
        opts.json
          ? JSON.stringify({ keys: list })
          : list
              .map(
                (k) =>
                  `${k.id}  vendor=${k.vendor}  ${k.name}  sites=${k.sites === '*' ? '*' : k.sites.join(',')}  ${k.revokedAt ? 'revoked' : k.expiresAt ? `expires ${k.expiresAt}` : 'active'}`,
              )
              .join('\n') || '(no keys)',
      );
    });
  keys
    .command('revoke <keyId>')
    .description('revoke a key at once (its calls get 401)')
    .requiredOption('--config <file>', CONFIG_HELP)
    .action(async (keyId: string, opts: { config: string }) => {
      await admin(ctx, opts.config, 'api-key.revoke', { keyId });
      ctx.write(`revoked ${keyId}`);
    });
  keys
    .command('rotate <keyId>')
    .description(
      'a new key with the same scope; the old one keeps working for --grace seconds (default 1 day)',
    )
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--grace <seconds>', 'how long the old key still works', '86400')
    .option('--json', 'print {id, key, replaces, oldExpiresAt}')
    .action(async (keyId: string, opts: { config: string; grace: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'api-key.rotate', {
        keyId,
        graceSeconds: Number(opts.grace),
      })) as {
        id: string;
        key: string;
        oldExpiresAt: string;
      };
      ctx.write(
        opts.json
          ? JSON.stringify({ ...result, replaces: keyId })
          : `new key ${result.id} (shown once):\n\n  ${result.key}\n\n${keyId} stops working at ${result.oldExpiresAt}`,
      );
    });
}

function registerUserCommands(hub: Command, ctx: CliContext): void {
  const users = hub
    .command('user')
    .description('console users of a vendor: e-mail, password (scrypt) and a TOTP second factor');
  users
    .command('create')
    .requiredOption('--config <file>', CONFIG_HELP)
    .requiredOption('--vendor <name>', 'the vendor the user belongs to')
    .requiredOption('--email <email>', 'login e-mail')
    .option('--password-env <VAR>', 'read the password from this environment variable')
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print {id, vendor, email, totpSecret, otpauthUri}')
    .action(
      async (opts: {
        config: string;
        vendor: string;
        email: string;
        passwordEnv?: string;
        passwordStdin?: boolean;
        json?: boolean;
      }) => {
        const password = opts.passwordEnv
          ? ctx.io.env[opts.passwordEnv]
          : opts.passwordStdin
            ? await readStdin()
            : undefined;
        if (password === undefined)
          throw new TendrilError(
            'TENDRIL_E_USAGE',
            'a password is required: --password-env <VAR> or --password-stdin (never a flag value)',
          );
        const result = (await admin(ctx, opts.config, 'user.create', {
          vendor: opts.vendor,
          email: opts.email,
          password,
        })) as { id: string; totpSecret: string; otpauthUri: string };
        ctx.write(
          opts.json
            ? JSON.stringify(result)
            : [
                `created user ${result.id}`,
                '',
                'TOTP SECRET (shown only this once; add it to an authenticator app):',
                '',
                `  ${result.totpSecret}`,
                `  ${result.otpauthUri}`,
              ].join('\n'),
        );
      },
    );
  users
    .command('list')
    .requiredOption('--config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const result = (await admin(ctx, opts.config, 'user.list', {})) as {
        users: { id: string; vendor: string; email: string; revokedAt?: string }[];
      };
      ctx.write(
        opts.json
          ? JSON.stringify(result)
          : result.users
              .map((u) => `${u.id}  vendor=${u.vendor}  ${u.email}  ${u.revokedAt ? 'revoked' : 'active'}`)
              .join('\n') || '(no users)',
      );
    });
  users
    .command('revoke <userId>')
    .requiredOption('--config <file>', CONFIG_HELP)
    .action(async (userId: string, opts: { config: string }) => {
      await admin(ctx, opts.config, 'user.revoke', { userId });
      ctx.write(`revoked ${userId}`);
    });
}

/** `tendril hub --config hub.yaml` (run a hub node) and its admin commands (docs/hub.md). */
export const registerHubCommand: CommandRegistrar = (program, ctx) => {
  const hub = program
    .command('hub')
    .description('run a hub node (the vendor side: agent links, relay, vendor API), or administer one')
    // --config after a subcommand (hub site create --config …) belongs to that subcommand.
    .enablePositionalOptions()
    .option('--config <file>', CONFIG_HELP)
    .action(async (opts: { config?: string }) => {
      if (!opts.config) throw new TendrilError('TENDRIL_E_USAGE', 'tendril hub needs --config <hub.yaml>');
      const config = await loadHubConfigFile(opts.config, ctx.io.env);
      const logger = createRootLogger({ level: config.logLevel });
      const stopRequested = waitForStopSignal();
      const node = await startHubNode({
        config,
        logger: logger,
        version: packageVersion(),
        connectors: Object.keys(CONNECTOR_LOADERS),
      });
      ctx.write(
        `tendril: hub node ${node.nodeId} running on ${node.url} (admin endpoint ${node.adminUrl}, loopback only)${config.console.enabled ? `; console ${node.url}/console` : ''}`,
      );
      const signal = await stopRequested;
      logger.info({ event: 'hub.stop_requested', signal }, 'stop requested');
      await node.stop();
      logger.flush();
    });
  registerSiteCommands(hub, ctx);
  registerKeyCommands(hub, ctx);
  registerReleaseCommands(hub, ctx);
  registerUserCommands(hub, ctx);
};
