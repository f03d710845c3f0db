export * from './logger.js';
export * from './key-order.js';
export * from './sync-stream.js';
export * from './sync-connection.js';
