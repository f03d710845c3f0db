export * from './types.js';
export * from './delivery-types.js';
export * from './writeback-types.js';
export * from './fleet-types.js';
export { writebackResult } from './writeback-rows.js';
export type { StoreTables } from './tables.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite/open.js';
export type { SqliteDatabase } from './sqlite/driver.js';
export { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres/open.js';
export {
  createPostgresKysely,
  type PostgresConnectionOptions,
  type PostgresSource,
} from './postgres/connection.js';
export { POSTGRES_SCHEMA_VERSION } from './postgres/migrations.js';
export { openFleetStore } from './postgres/fleet-store.js';
