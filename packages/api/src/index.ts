export * from './status.js';
export * from './metrics.js';
export * from './status-page.js';
export * from './server.js';
