import { TendrilError } from '@tendril/core';
import { z } from 'zod';
import type { HubContext } from './hub-context.js';
import { seal } from './console/secret-box.js';
import { newTotpSecret, otpauthUri } from './console/totp.js';
import {
  REMOTE_COMMANDS,
  ReleaseVersion,
  RemoteCommandArgs,
  type RemoteCommandName,
} from './link/protocol.js';
import type { RemoteCommandRecord } from './store/commands.js';
import { readReleaseFile } from './release-file.js';
import { ReleaseStore } from './store/releases.js';
import { unknownSite } from './store/sites.js';

const SiteId = z.string().min(1).max(200);

/** The arguments of every admin operation, validated the same whether they come over HTTP or not. */
export const ADMIN_ARGS = {
  'site.create': z
    .object({
      vendor: z.string().min(1).max(200).optional(),
      name: z.string().min(1).max(200),
      connector: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a connector id such as open-dental'),
      contactName: z.string().min(1).max(200).optional(),
      contactEmail: z
        .string()
        .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address')
        .optional(),
      server: z.string().min(1).max(255).optional(),
      port: z.number().int().min(1).max(65_535).optional(),
      database: z.string().min(1).max(255).optional(),
    })
    .strict(),
  'site.list': z.object({}).strict(),
  'site.show': z.object({ siteId: SiteId }).strict(),
  'site.revoke': z.object({ siteId: SiteId }).strict(),
  'site.enroll-key': z.object({ siteId: SiteId }).strict(),
  'site.rotate-credential': z.object({ siteId: SiteId }).strict(),
  'site.purge': z.object({ siteId: SiteId }).strict(),
  'site.access-log': z
    .object({ siteId: SiteId.optional(), limit: z.number().int().min(1).max(10_000).optional() })
    .strict(),
  'site.command': z
    .object({ siteId: SiteId, command: z.enum(REMOTE_COMMANDS), args: RemoteCommandArgs.optional() })
    .strict(),
  'site.upgrade': z.object({ siteId: SiteId, version: ReleaseVersion }).strict(),
  'release.add': z.object({ path: z.string().min(1).max(4096) }).strict(),
  'release.list': z.object({}).strict(),
  'release.remove': z.object({ version: ReleaseVersion }).strict(),
  'site.commands': z.object({ siteId: SiteId, limit: z.number().int().min(1).max(1000).optional() }).strict(),
  'site.command-output': z.object({ commandId: z.string().min(1).max(64) }).strict(),
  'api-key.create': z
    .object({
      vendor: z.string().min(1).max(200),
      label: z.string().min(1).max(200).optional(),
      sites: z.union([z.literal('*'), z.array(SiteId).min(1)]),
    })
    .strict(),
  'api-key.list': z.object({}).strict(),
  'api-key.revoke': z.object({ keyId: z.string().min(1).max(64) }).strict(),
  'api-key.rotate': z
    .object({
      keyId: z.string().min(1).max(64),
      graceSeconds: z
        .number()
        .int()
        .min(0)
        .max(30 * 86_400)
        .optional(),
    })
    .strict(),
  'user.create': z
    .object({
      vendor: z.string().min(1).max(200),
      email: z.string().regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address'),
      password: z.string().min(12, 'must be at least 12 characters'),
    })
    .strict(),
  'user.list': z.object({}).strict(),
  'user.revoke': z.object({ userId: z.string().min(1).max(64) }).strict(),
} as const;
export type AdminOperation = keyof typeof ADMIN_ARGS;
export const ADMIN_OPERATIONS = Object.keys(ADMIN_ARGS) as AdminOperation[];

/** What the admin operations need beyond the stores: how to reach links (in a running hub, or through the cluster). */
export interface AdminHooks {
  /** The site's credentials were revoked: close its link now, wherever it is. */
  siteRevoked(siteId: string): Promise<void>;
  /** Send a new credential down the site's link; false when no node holds one. */
  rotateCredential(siteId: string): Promise<'sent' | 'requested' | 'not-linked'>;
  /** Asks the site's agent to run a remote command and waits for its answer (stored with who asked). */
  runCommand(request: {
    siteId: string;
    actor: string;
    name: RemoteCommandName;
    args?: RemoteCommandArgs;
  }): Promise<RemoteCommandRecord>;
}

/**
 * The hub's admin operations (`tendril hub site|api-key|user …`). The CLI calls them through the
 * running hub's loopback admin endpoint, or directly on the store when no hub holds it.
 */
export function createHubAdmin(
  ctx: Pick<
    HubContext,
    'config' | 'sites' | 'keys' | 'events' | 'commands' | 'releases' | 'consoleKey' | 'now'
  >,
  hooks: AdminHooks,
) {
  const actor = 'admin';
  const vendorNamed = async (name: string) => {
    const vendor = await ctx.sites.vendorByName(name);
    if (!vendor) {
      const names = (await ctx.sites.listVendors()).map((v) => v.name);
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `no vendor is named ${name}; vendors: ${names.join(', ') || '(none yet)'}. A vendor is created by tendril hub site create --vendor <name>`,
      );
    }
    return vendor;
  };
  const siteOf = async (siteId: string) => {
    const site = await ctx.sites.getSite(siteId);
    if (!site) throw unknownSite(siteId);
    return site;
  };

  /** A stored release, or the refusal an operator can act on (before anything is sent to an agent). */
  const releaseOf = async (version: string) => {
    const release = await ctx.releases.get(version);
    if (!release) {
      const stored = (await ctx.releases.list()).map((r) => r.version);
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `no release ${version} is stored on this hub; stored: ${stored.join(', ') || '(none yet)'}. Add it with tendril hub release add <tarball>`,
      );
    }
    return release;
  };

  const operations: { [K in AdminOperation]: (args: z.infer<(typeof ADMIN_ARGS)[K]>) => Promise<unknown> } = {
    async 'site.create'(args) {
      const now = ctx.now();
      const created = await ctx.sites.createSite(
        { ...args, vendor: args.vendor ?? ctx.config.defaultVendor },
        now,
      );
      await ctx.sites.audit(actor, 'site.create', created.site.id, { connector: args.connector }, now);
      return {
        siteId: created.site.id,
        enrollmentKey: created.enrollmentKey,
        expiresAt: created.expiresAt,
        vendor: created.site.vendor,
        connectionIds: created.site.connectionIds,
      };
    },
    async 'site.list'() {
      return { sites: await ctx.sites.listSites() };
    },
    async 'site.show'(args) {
      return { site: await siteOf(args.siteId), events: await ctx.events.count(args.siteId) };
    },
    async 'site.revoke'(args) {
      await siteOf(args.siteId);
      const now = ctx.now();
      const revoked = await ctx.sites.revokeSite(args.siteId, now);
      await ctx.sites.audit(actor, 'site.revoke', args.siteId, {}, now);
      await hooks.siteRevoked(args.siteId);
      return { siteId: args.siteId, revoked };
    },
    async 'site.enroll-key'(args) {
      const site = await siteOf(args.siteId);
      if (site.revokedAt || site.purgedAt)
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `site ${args.siteId} is revoked; create a new site instead`,
        );
      const now = ctx.now();
      const key = await ctx.sites.newEnrollmentKey(args.siteId, now);
      await ctx.sites.audit(actor, 'site.enroll-key', args.siteId, {}, now);
      return { siteId: args.siteId, ...key };
    },
    async 'site.rotate-credential'(args) {
      const site = await siteOf(args.siteId);
      if (site.revokedAt) throw new TendrilError('TENDRIL_E_USAGE', `site ${args.siteId} is revoked`);
      const outcome = await hooks.rotateCredential(args.siteId);
      await ctx.sites.audit(actor, 'site.rotate-credential', args.siteId, { outcome }, ctx.now());
      return { siteId: args.siteId, outcome };
    },
    async 'site.purge'(args) {
      await siteOf(args.siteId);
      const now = ctx.now();
      await ctx.sites.revokeSite(args.siteId, now);
      await hooks.siteRevoked(args.siteId);
      const purged = await ctx.events.purgeSite(args.siteId);
      await ctx.sites.markPurged(args.siteId, now);
      await ctx.sites.audit(actor, 'site.purge', args.siteId, purged, now);
      return { siteId: args.siteId, ...purged };
    },
    async 'site.access-log'(args) {
      return { entries: await ctx.events.accessLog(args.siteId, args.limit ?? 100) };
    },
    async 'site.command'(args) {
      await siteOf(args.siteId);
      // An upgrade names a stored release, which the hub puts into the command itself.
      if (args.command === 'upgrade')
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          'an upgrade names a release: tendril hub site upgrade <site> --version <v> (tendril hub release list shows them)',
        );
      return {
        command: await hooks.runCommand({
          siteId: args.siteId,
          actor,
          name: args.command,
          ...(args.args ? { args: args.args } : {}),
        }),
      };
    },
    async 'site.upgrade'(args) {
      await siteOf(args.siteId);
      const release = await releaseOf(args.version);
      return {
        command: await hooks.runCommand({
          siteId: args.siteId,
          actor,
          name: 'upgrade',
          args: { release: ReleaseStore.commandRelease(release) },
        }),
      };
    },
    async 'release.add'(args) {
      const file = readReleaseFile(args.path, ctx.config.releases.publicKey);
      const now = ctx.now();
      const added = await ctx.releases.add({ ...file, addedBy: actor }, now);
      if (!added)
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `release ${file.version} is stored already; a version is never replaced (tendril hub release remove ${file.version} first if this one is wrong)`,
        );
      await ctx.sites.audit(actor, 'release.add', null, { version: file.version, sha256: file.sha256 }, now);
      return { release: await ctx.releases.get(file.version) };
    },
    async 'release.list'() {
      return { releases: await ctx.releases.list() };
    },
    async 'release.remove'(args) {
      await releaseOf(args.version);
      await ctx.releases.remove(args.version);
      await ctx.sites.audit(actor, 'release.remove', null, { version: args.version }, ctx.now());
      return { version: args.version, removed: true };
    },
    async 'site.commands'(args) {
      await siteOf(args.siteId);
      return { commands: await ctx.commands.history(args.siteId, args.limit ?? 50) };
    },
    async 'site.command-output'(args) {
      const command = await ctx.commands.get(args.commandId, { withOutput: true });
      if (!command) throw new TendrilError('TENDRIL_E_USAGE', `no command has the id ${args.commandId}`);
      return { command };
    },
    async 'api-key.create'(args) {
      const vendor = await vendorNamed(args.vendor);
      if (args.sites !== '*') {
        for (const siteId of args.sites) {
          const site = await ctx.sites.getSite(siteId);
          if (!site || site.vendorId !== vendor.id)
            throw new TendrilError(
              'TENDRIL_E_USAGE',
              `--sites: ${siteId} is not a site of vendor ${vendor.name}`,
            );
        }
      }
      const now = ctx.now();
      const created = await ctx.keys.create(
        { vendorId: vendor.id, name: args.label ?? vendor.name, sites: args.sites },
        now,
      );
      await ctx.sites.audit(actor, 'api-key.create', null, { keyId: created.id, vendor: vendor.name }, now);
      return { id: created.id, key: created.key, vendor: vendor.name, sites: args.sites };
    },
    async 'api-key.list'() {
      return { keys: await ctx.keys.list() };
    },
    async 'api-key.revoke'(args) {
      const now = ctx.now();
      const revoked = await ctx.keys.revoke(args.keyId, now);
      if (!revoked) throw new TendrilError('TENDRIL_E_USAGE', `no active key has the id ${args.keyId}`);
      await ctx.sites.audit(actor, 'api-key.revoke', null, { keyId: args.keyId }, now);
      return { id: args.keyId, revoked };
    },
    async 'api-key.rotate'(args) {
      const now = ctx.now();
      const rotated = await ctx.keys.rotate(args.keyId, args.graceSeconds ?? 86_400, now);
      if (!rotated) throw new TendrilError('TENDRIL_E_USAGE', `no active key has the id ${args.keyId}`);
      await ctx.sites.audit(actor, 'api-key.rotate', null, { keyId: args.keyId, newKeyId: rotated.id }, now);
      return { id: rotated.id, key: rotated.key, replaces: args.keyId, oldExpiresAt: rotated.oldExpiresAt };
    },
    async 'user.create'(args) {
      const now = ctx.now();
      // A vendor's staff may log in before its first site exists.
      const vendor = await ctx.sites.ensureVendor(args.vendor, now);
      const totpSecret = newTotpSecret();
      const email = args.email.toLowerCase();
      const id = await ctx.keys.createUser(
        {
          vendorId: vendor.id,
          email,
          password: args.password,
          totpSecretSealed: seal(ctx.consoleKey, totpSecret),
        },
        now,
      );
      await ctx.sites.audit(actor, 'user.create', null, { userId: id, vendor: vendor.name }, now);
      // The TOTP secret is shown this once, for the user's authenticator app.
      return { id, vendor: vendor.name, email, totpSecret, otpauthUri: otpauthUri(totpSecret, email) };
    },
    async 'user.list'() {
      return { users: await ctx.keys.listUsers() };
    },
    async 'user.revoke'(args) {
      const revoked = await ctx.keys.revokeUser(args.userId, ctx.now());
      if (!revoked) throw new TendrilError('TENDRIL_E_USAGE', `no active user has the id ${args.userId}`);
      return { id: args.userId, revoked };
    },
  };

  return {
    /** Validates the arguments (every problem at once) and runs the operation. */
    async run(operation: string, args: unknown): Promise<unknown> {
      if (!Object.hasOwn(ADMIN_ARGS, operation))
        throw new TendrilError('TENDRIL_E_USAGE', `unknown admin operation ${operation}`);
      const op = operation as AdminOperation;
      const parsed = ADMIN_ARGS[op].safeParse(args ?? {});
      if (!parsed.success) {
        const lines = parsed.error.issues.map(
          (i) => `  - ${i.path.map(String).join('.') || '(arguments)'}: ${i.message}`,
        );
        throw new TendrilError('TENDRIL_E_USAGE', `${operation}:\n${lines.join('\n')}`);
      }
      return (operations[op] as (a: unknown) => Promise<unknown>)(parsed.data);
    },
  };
}
export type HubAdmin = ReturnType<typeof createHubAdmin>;
