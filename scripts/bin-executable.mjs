// tsc writes files 0644: make the CLI entry point executable, so a symlink to it runs (its
// first line is `#!/usr/bin/env node`). Called after every build.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../packages/agent/dist/bin.js', import.meta.url), 0o755);
