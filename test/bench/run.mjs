// Benchmarks (not tests): `pnpm bench <name> [options]`. Each prints its rates next to a baseline
// measured in the same run (the raw driver, raw HTTP…) and the ratio between them.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .map((f) => f.slice(0, -4));
const [name = 'backload', ...rest] = process.argv.slice(2);
if (!available.includes(name)) {
  console.error(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
  process.exit(2);
}
const child = spawn(process.execPath, [`${dir}${name}.mjs`, ...rest], { stdio: 'inherit' });
child.on('close', (code) => process.exit(code ?? 1));
