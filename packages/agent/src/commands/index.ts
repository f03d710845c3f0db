import type { CommandRegistrar } from '../cli-context.js';
import { registerConnectorsCommand } from './connectors.js';
import { registerDemoCommand } from './demo.js';
import { registerEventsCommand } from './events.js';
import { registerSeedCommand } from './seed.js';
import { registerSyncCommand } from './sync.js';

/** Every `tendril` command, in help order. A new command adds its registrar here. */
export const COMMAND_REGISTRARS: readonly CommandRegistrar[] = [
  registerConnectorsCommand,
  registerSeedCommand,
  registerSyncCommand,
  registerEventsCommand,
  registerDemoCommand,
];
