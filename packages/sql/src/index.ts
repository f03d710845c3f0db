export * from './client.js';
export * from './clock.js';
export * from './column-binding.js';
export * from './cursor-text.js';
export * from './queries.js';
