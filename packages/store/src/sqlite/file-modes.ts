import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TendrilError } from '@tendril/core';

/** The store file and SQLite's files beside it: owner read/write only (docs/security.md, "PHI at rest"). */
export const STORE_FILE_MODE = 0o600;
/** The folder holding them: owner only. */
export const STORE_FOLDER_MODE = 0o700;
/** SQLite's files next to the database (WAL, shared memory, rollback journal). */
const SIDE_FILES = ['-wal', '-shm', '-journal'] as const;

/**
 * Makes the folder of a SQLite store file (0700) and the file itself (0600) before SQLite opens it,
 * so the file is never readable by others, not even for a moment; an existing folder or file that
 * others may read is tightened. SQLite gives its -wal/-shm files the database file's mode; existing
 * ones are tightened too. Nothing is done on Windows, where modes are not permissions.
 */
export function secureStoreFile(file: string): void {
  const path = resolve(file);
  const folder = dirname(path);
  mkdirSync(folder, { recursive: true, mode: STORE_FOLDER_MODE });
  if (process.platform === 'win32') return;
  tighten(folder, STORE_FOLDER_MODE, 'folder');
  // 'a' creates without truncating; the mode applies only when the file is new.
  if (!existsSync(path)) closeSync(openSync(path, 'a', STORE_FILE_MODE));
  tighten(path, STORE_FILE_MODE, 'file');
  secureSideFiles(path);
}

/** Tightens SQLite's -wal/-shm/-journal files of `file` where they exist (after the WAL pragma made them). */
export function secureSideFiles(file: string): void {
  if (process.platform === 'win32') return;
  for (const suffix of SIDE_FILES) {
    const side = `${resolve(file)}${suffix}`;
    if (existsSync(side)) tighten(side, STORE_FILE_MODE, 'file');
  }
}

/** Removes every permission `allowed` does not grant; refuses with the fix when chmod is not permitted. */
function tighten(path: string, allowed: number, kind: 'file' | 'folder'): void {
  const current = statSync(path).mode & 0o777;
  if ((current & ~allowed) === 0) return;
  const wanted = current & allowed;
  try {
    chmodSync(path, wanted);
  } catch (cause) {
    const code = (cause as { code?: unknown } | null)?.code;
    throw new TendrilError(
      'TENDRIL_E_STORE_PERMISSIONS',
      `The agent store ${kind} ${path} can be read by other users (mode ${current.toString(8)}) and the agent may not change that (${typeof code === 'string' ? code : 'chmod failed'}); run \`chmod ${allowed.toString(8)} ${path}\` as its owner, or \`chown\` it to the user the agent runs as.`,
      { cause, details: { path, mode: current.toString(8), wanted: allowed.toString(8) } },
    );
  }
}
