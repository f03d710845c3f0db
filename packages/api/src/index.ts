export * from './status.js';
export * from './metrics.js';
export * from './status-page.js';
export * from './server.js';
export * from './api-keys.js';
export * from './openapi.js';
export * from './writeback-routes.js';
export * from './writeback-intake.js';
