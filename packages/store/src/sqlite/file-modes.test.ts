import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './open.js';

let dir: string;
let counter = 0;
const fresh = (): string => join(dir, `case-${(counter += 1)}`);
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-modes-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const posix = process.platform !== 'win32';

describe.runIf(posix)('the SQLite store file modes (docs/security.md, "PHI at rest")', () => {
  it('creates the folder 0700 and the file, -wal and -shm 0600 under a permissive umask', async () => {
    const folder = join(fresh(), 'nested', '.tendril');
    const file = join(folder, 'tendril.db');
    const previous = process.umask(0o000);
    try {
      const store = openSqliteStore(file);
      await store.migrate();
      expect(await store.countEvents()).toBe(0);
      expect(mode(folder)).toBe('700');
      expect(mode(file)).toBe('600');
      expect(existsSync(`${file}-wal`)).toBe(true);
      expect(mode(`${file}-wal`)).toBe('600');
      expect(mode(`${file}-shm`)).toBe('600');
      await store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('tightens an existing looser folder, file and -wal/-shm at open and keeps their data', async () => {
    const folder = fresh();
    const file = join(folder, 'tendril.db');
    const first = openSqliteStore(file);
    await first.migrate();
    await first.saveStreamState('c1', 'patients', { mode: 'timestamp', watermark: 'w1' });
    await first.close();
    chmodSync(folder, 0o755);
    chmodSync(file, 0o644);
    writeFileSync(`${file}-wal`, '');
    chmodSync(`${file}-wal`, 0o666);
    const reopened = openSqliteStore(file);
    expect(mode(folder)).toBe('700');
    expect(mode(file)).toBe('600');
    expect(mode(`${file}-wal`)).toBe('600');
    expect(await reopened.getStreamState('c1', 'patients')).toEqual({ mode: 'timestamp', watermark: 'w1' });
    await reopened.close();
  });

  // Only root can hand the agent a file it may write but not chmod: another user's folder.
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  it.runIf(root)(
    'refuses with TENDRIL_E_STORE_PERMISSIONS naming the path and the fix when it may not chmod',
    () => {
      chmodSync(dir, 0o711); // the unprivileged child must reach the folder
      const folder = fresh();
      mkdirSync(folder);
      chmodSync(folder, 0o777); // root's folder: others may write in it, only root may chmod it
      const file = join(folder, 'tendril.db');
      const modes = fileURLToPath(new URL('../../dist/sqlite/file-modes.js', import.meta.url));
      expect(existsSync(modes), 'run pnpm build first: the unprivileged child runs the built store').toBe(
        true,
      );
      const script = `import(${JSON.stringify(modes)}).then((m) => { try { m.secureStoreFile(${JSON.stringify(file)}); console.log('opened'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } });`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      expect(child.stderr).toBe('');
      const result = JSON.parse(child.stdout) as { code: string; message: string };
      expect(result.code).toBe('TENDRIL_E_STORE_PERMISSIONS');
      expect(result.message).toContain(folder);
      expect(result.message).toContain(`chmod 700 ${folder}`);
      expect(mode(folder)).toBe('777');
    },
  );
});
