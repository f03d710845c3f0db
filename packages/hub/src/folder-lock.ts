import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { TendrilError } from '@tendril/core';

/** Whether a process with this id runs on this machine (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

export interface FolderLock {
  readonly file: string;
  release(): void;
}

/** The process holding a lock file, when one does and it still runs. */
export function lockHolder(file: string): number | undefined {
  try {
    const pid = Number((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes an exclusive lock file (created with O_EXCL, holding this pid). PGlite is one process's
 * database: a second process writing the same folder would write rows the running hub never
 * sees, so the hub and the admin commands take this lock first. A lock left by a process that no
 * longer runs (kill -9) is taken over.
 */
export function acquireFolderLock(file: string, what: string): FolderLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
      closeSync(fd);
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const holder = lockHolder(file);
      if (holder !== undefined && holder !== process.pid) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `${what} is in use by process ${holder} (lock ${file}); stop it first, or run the command through it`,
        );
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new TendrilError('TENDRIL_E_USAGE', `could not take the lock ${file}; remove it if no hub runs`);
}
