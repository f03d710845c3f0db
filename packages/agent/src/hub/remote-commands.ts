import { isTendrilError, type HubLinkConfig } from '@tendril/core';
import { MAX_LOG_LINES, type CommandFrame, type CommandOutcome, type UpgradeRelease } from '@tendril/hub';

/** What a remote command needs from the running agent. */
export interface RemoteCommandContext {
  /** The practice's switches (`hub.remote` in tendril.yaml). */
  readonly remote: HubLinkConfig['remote'];
  /** True when a supervisor started this process (only then can it be restarted from afar). */
  readonly supervised: boolean;
  /** Asks the supervisor for a fresh child. */
  restart(reason: string): void;
  /** Re-reads and validates the config file the agent was started with (throws with every problem). */
  validateConfig(): Promise<void>;
  /** The newest log lines (already PHI-redacted by the logger). */
  recentLogs(lines: number): string[];
  /** Schema metadata per connection, as `tendril discover` writes it (never row values). */
  supportBundle(): Promise<Record<string, unknown>>;
  /** This agent's version. */
  readonly version: string;
  /**
   * The release key this install shipped with (`lib/release-public-key.pem`, written by
   * `pnpm release`); undefined in a development checkout, which has none.
   */
  releasePublicKey(): string | undefined;
  /**
   * Downloads, verifies and stages the release, then hands it to the supervisor; runs after the
   * answer went out. Reports failures itself (log and `status.lastUpgrade`).
   */
  upgrade(request: {
    readonly commandId: string;
    readonly release: UpgradeRelease;
    readonly credential: string;
  }): Promise<void>;
}

/** What the link knows that a command may need: the credential it is linked with now. */
export interface RemoteCommandLink {
  readonly credential: string;
}

export interface RemoteCommandAnswer {
  readonly status: CommandOutcome;
  readonly message: string;
  readonly output?: Record<string, unknown>;
  /** Runs once the answer is on its way (a restart must not cut its own answer off). */
  readonly after?: () => void;
}

const DEFAULT_LOG_LINES = 200;

function refused(switchName: 'restart' | 'logs' | 'upgrade', command: string): RemoteCommandAnswer {
  return {
    status: 'refused',
    message: `the practice turned ${command} off in its tendril.yaml (hub.remote.${switchName}: false)`,
  };
}

const NOT_SUPERVISED: RemoteCommandAnswer = {
  status: 'failed',
  message:
    'this agent runs without the supervisor (tendril run --no-supervise), so nothing would start it again; restart its service on site',
};

function failure(error: unknown, fallback: string): RemoteCommandAnswer {
  return { status: 'failed', message: isTendrilError(error) ? error.message : fallback };
}

/**
 * Runs one remote command from the hub (docs/hub.md, "Remote commands"). The practice's
 * `hub.remote` switches are checked first; the answer always says plainly what happened.
 * `reload-config` validates the file before anything changes: a bad file is refused with every
 * problem and the running config stays; a good one is applied by a supervised restart, which
 * starts the agent on it.
 */
export async function runRemoteCommand(
  frame: CommandFrame,
  ctx: RemoteCommandContext,
  link: RemoteCommandLink,
): Promise<RemoteCommandAnswer> {
  const { name, args } = frame.command;
  switch (name) {
    case 'restart': {
      if (!ctx.remote.restart) return refused('restart', 'remote restart');
      if (!ctx.supervised) return NOT_SUPERVISED;
      return {
        status: 'ok',
        message: 'restarting: the supervisor starts a fresh agent process',
        after: () => ctx.restart('hub'),
      };
    }
    case 'reload-config': {
      if (!ctx.remote.restart) return refused('restart', 'remote reload-config');
      try {
        await ctx.validateConfig();
      } catch (error) {
        return {
          status: 'failed',
          message: `the config file was not applied; the running config stays. ${isTendrilError(error) ? error.message : 'it could not be read'}`,
        };
      }
      if (!ctx.supervised)
        return {
          status: 'ok',
          message:
            'the config file is valid; this agent is not supervised, so it takes effect at its next restart',
        };
      return {
        status: 'ok',
        message: 'the config file is valid; restarting the agent on it',
        after: () => ctx.restart('hub:reload-config'),
      };
    }
    case 'logs': {
      if (!ctx.remote.logs) return refused('logs', 'remote logs');
      const lines = ctx.recentLogs(Math.min(args.lines ?? DEFAULT_LOG_LINES, MAX_LOG_LINES));
      return {
        status: 'ok',
        message: `${lines.length} line${lines.length === 1 ? '' : 's'} since this agent process started`,
        output: { lines },
      };
    }
    case 'support-bundle': {
      if (!ctx.remote.logs) return refused('logs', 'the remote support bundle');
      try {
        return {
          status: 'ok',
          message: 'schema metadata only',
          output: { bundle: await ctx.supportBundle() },
        };
      } catch (error) {
        return failure(error, 'the support bundle could not be built');
      }
    }
    case 'upgrade': {
      if (!ctx.remote.upgrade) return refused('upgrade', 'remote upgrade');
      if (!ctx.supervised)
        return {
          status: 'failed',
          message:
            'this agent runs without the supervisor (tendril run --no-supervise), and only the supervisor can switch versions and roll back; upgrade it on site',
        };
      const release = args.release;
      if (!release)
        return {
          status: 'failed',
          message:
            'the upgrade command came without its release (version, SHA-256, signature); the hub must fill args.release',
        };
      if (release.version === ctx.version)
        return {
          status: 'refused',
          message: `this agent already runs version ${release.version}; nothing to do`,
        };
      if (ctx.releasePublicKey() === undefined)
        return {
          status: 'failed',
          message:
            'this install has no release key (lib/release-public-key.pem), so no release can be verified: it is a development checkout, not a release from `pnpm release`. Install a release to upgrade remotely',
        };
      return {
        status: 'ok',
        message: `downloading and verifying ${release.version}; the outcome follows as agent.upgraded or agent.upgrade_failed`,
        after: () => void ctx.upgrade({ commandId: frame.command.id, release, credential: link.credential }),
      };
    }
    default:
      name satisfies never;
      return { status: 'failed', message: 'unknown command' };
  }
}
