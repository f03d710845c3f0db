import type { CommandRegistrar } from '../cli-context.js';
import { registerConnectorsCommand } from './connectors.js';
import { registerDemoCommand } from './demo.js';
import { registerEventsCommand } from './events.js';
import { registerSeedCommand } from './seed.js';
import { registerSyncCommand } from './sync.js';
import { registerRunCommand } from './run.js';
import { registerInitCommand } from './init.js';
import { registerCheckCommand } from './check.js';
import { registerServiceCommand } from './service.js';
import { registerDiscoverCommand } from './discover.js';
import { registerGrantsCommand } from './grants.js';
import { registerDeliverCommand } from './deliver.js';
import { registerDeliveriesCommand } from './deliveries.js';
import { registerBackloadCommand } from './backload.js';
import { registerReconcileCommand } from './reconcile.js';
import { registerApiKeyCommand } from './api-key.js';
import { registerConnectionsCommand } from './connections.js';
import { registerConfigCommand } from './config.js';
import { registerSecretsCommand } from './secrets.js';
import { registerNewCommand } from './new.js';
import { registerMapCommand } from './map.js';
import { registerHubCommand } from './hub.js';
import { registerQuarantineCommand } from './quarantine.js';
import { registerStoreCommand } from './store.js';

/** Every `tendril` command, in help order. A new command adds its registrar here. */
export const COMMAND_REGISTRARS: readonly CommandRegistrar[] = [
  registerConnectorsCommand,
  registerSeedCommand,
  registerSyncCommand,
  registerRunCommand,
  registerEventsCommand,
  registerDemoCommand,
  registerInitCommand,
  registerCheckCommand,
  registerServiceCommand,
  registerDiscoverCommand,
  registerGrantsCommand,
  registerDeliverCommand,
  registerDeliveriesCommand,
  registerQuarantineCommand,
  registerBackloadCommand,
  registerReconcileCommand,
  registerApiKeyCommand,
  registerConnectionsCommand,
  registerConfigCommand,
  registerStoreCommand,
  registerSecretsCommand,
  registerNewCommand,
  registerMapCommand,
  registerHubCommand,
];
