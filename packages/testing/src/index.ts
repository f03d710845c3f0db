export * from './random.js';
export * from './ddl.js';
export * from './batch-writer.js';
export * from './open-dental-generator.js';
export * from './edit-patients.js';
export * as openDentalReference from './open-dental-reference.js';
