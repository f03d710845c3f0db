// Generic test support for every connector: deterministic random values and names, a batch
// writer, tables from a connector's declarations, seeding from declarations and throw-away test
// databases. Vendor generators, reference data and API fakes live beside their connector
// (`@tendril/connector-<id>/testing`); the contract suite is test support
// (`@tendril/testing/test-support/connector-contract`).
export * from './random.js';
export * from './names.js';
export * from './ddl.js';
export * from './batch-writer.js';
export * from './test-databases.js';
export * from './declared-seed.js';
export * from './connector-seeding.js';
export * from './fixtures.js';
