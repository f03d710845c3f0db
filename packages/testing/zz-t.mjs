import { BatchWriter } from './dist/batch-writer.js';
const orig = BatchWriter.prototype.write;
const times = {};
BatchWriter.prototype.write = async function (...a) { const t = performance.now(); try { return await orig.apply(this, a); } finally { times[this.table] = (times[this.table] ?? 0) + performance.now() - t; } };
process.on('exit', () => console.log(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v)]))));
await import('./zz-bench.mjs');
