import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { REPO_ROOT } from './paths.js';

/**
 * A throw-away copy of this workspace for tests that change the tree itself (scaffolding a
 * connector, then building and testing it): sources, built `dist/` and `.tsbuildinfo` (so `tsc -b`
 * only rebuilds what changed), each package's own `node_modules` links, and the root
 * `node_modules` as a symlink to this checkout's (the packages are read, never written: the
 * scaffolder only adds links inside the copy and runs pnpm with `--lockfile-only`).
 */
export interface ScratchWorkspace {
  readonly root: string;
  /** Runs a command in the copy; resolves with its exit code and output. */
  run(command: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  remove(): void;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const SKIPPED_AT_ROOT = new Set(['node_modules', '.git', 'test-results', '.tendril']);

export function createScratchWorkspace(): ScratchWorkspace {
  const root = mkdtempSync(join(tmpdir(), 'tendril-scratch-'));
  cpSync(REPO_ROOT, root, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: (source) => !SKIPPED_AT_ROOT.has(relative(REPO_ROOT, source).split(sep)[0] ?? ''),
  });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  // A child vitest must not think it runs inside this one.
  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== 'TEST'),
    ),
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
  return {
    root,
    run: (command, args, timeoutMs = 300_000) =>
      new Promise((resolve, reject) => {
        const child = spawn(command, [...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      }),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
