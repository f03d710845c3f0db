export * from './types.js';
export * from './delivery-types.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { SQLITE_SCHEMA_VERSION } from './sqlite-migrations.js';
export * from './writeback-types.js';
export { writebackResult } from './writeback-rows.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { POSTGRES_SCHEMA_VERSION } from './postgres-migrations.js';
export * from './postgres-fleet-store.js';
