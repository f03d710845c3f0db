export * from './backoff.js';
export * from './crash-loop.js';
export * from './heartbeat.js';
export * from './messages.js';
export * from './supervise.js';
export * from './restart-endpoint.js';
export * from './run-supervised.js';
export * from './upgrade-launcher.js';
