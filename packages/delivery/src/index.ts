export * from './failure-class.js';
export * from './policy.js';
export * from './schedule.js';
export * from './signing.js';
export * from './token-bucket.js';
