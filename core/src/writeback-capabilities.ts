import type { WritebackConnectionConfig } from './writeback-config.js';
import {
  WRITE_PATHS,
  WRITEBACK_COMMANDS,
  type CapabilityState,
  type WritebackCommand,
  type WritePath,
} from './writeback-commands.js';
import type { WritebackDefinition } from './writeback-declare.js';

/**
 * The capability matrix (docs/writeback.md, "API"): what `GET /v1/connections/{id}/capabilities`
 * reports per command, decided from the connector's declaration and the connection's settings.
 */

/** How one command would run on one connection: the path chosen, or why it cannot run. */
export interface CommandCapability {
  readonly state: CapabilityState;
  readonly writePath?: WritePath;
  /** For `needs-config` and `unsupported`: what is missing. */
  readonly reason?: string;
}

/** The write paths a connector declares for one command. */
export function commandPaths(
  definition: WritebackDefinition | undefined,
  command: WritebackCommand,
): WritePath[] {
  const paths = definition?.commands[command]?.paths ?? {};
  return WRITE_PATHS.filter((p) => paths[p] !== undefined);
}

/**
 * Decides each command's capability for a connection: unsupported when the connector lacks it;
 * needs-config when writeback is off, credentials for the chosen path are missing, or the `sql`
 * path of a vendor that forbids it lacks the fixture-only opt-in.
 */
export function writebackCapabilities(
  definition: WritebackDefinition | undefined,
  settings: WritebackConnectionConfig | undefined,
): Record<WritebackCommand, CommandCapability> {
  const result = {} as Record<WritebackCommand, CommandCapability>;
  for (const command of WRITEBACK_COMMANDS) {
    const available = commandPaths(definition, command);
    if (available.length === 0) {
      result[command] = { state: 'unsupported', reason: 'the connector has no handler for this command' };
      continue;
    }
    const path: WritePath =
      settings?.writePath && available.includes(settings.writePath) ? settings.writePath : available[0]!;
    if (settings?.writePath && !available.includes(settings.writePath)) {
      result[command] = {
        state: 'unsupported',
        reason: `the connector has no ${settings.writePath} path for this command`,
      };
    } else if (!settings || !settings.enabled) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason: 'set connections[].writeback.enabled: true',
      };
    } else if (path === 'sql' && !settings.database) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason:
          'set connections[].writeback.database (a login with the rights of tendril grants --writeback)',
      };
    } else if (path === 'sql' && definition?.sqlNeedsUnsafeOptIn && !settings.allowUnsafeSqlWrites) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason:
          'the vendor forbids outside SQL writes; use writePath: vendor-api, or allowUnsafeSqlWrites: true on a fixture database only',
      };
    } else if (path === 'vendor-api' && !settings.api) {
      result[command] = {
        state: 'needs-config',
        writePath: path,
        reason: 'set connections[].writeback.api (the vendor API URL and keys)',
      };
    } else {
      result[command] = { state: 'supported', writePath: path };
    }
  }
  return result;
}
