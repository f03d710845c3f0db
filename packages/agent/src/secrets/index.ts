export * from './secrets-file.js';
export * from './site-key.js';
