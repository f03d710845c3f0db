export * from './types.js';
export * from './delivery-types.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { SQLITE_SCHEMA_VERSION } from './sqlite-migrations.js';
