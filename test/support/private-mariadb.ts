import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

/**
 * A throwaway MariaDB server of our own (own datadir in a temp dir, own port and socket), for
 * tests that must stop and restart the database: the shared server on 3306 is never touched.
 */
export interface PrivateMariaDb {
  readonly port: number;
  readonly dir: string;
  /** Starts (or restarts) the server on the same datadir and port; resolves once it accepts logins. */
  start(): Promise<void>;
  /** SIGKILL, as a crash or a pulled cable would: no clean shutdown. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops the server and removes the datadir. */
  destroy(): Promise<void>;
  connect(database?: string): Promise<mysql.Connection>;
}

export async function createPrivateMariaDb(
  prefix: string,
  options: {
    /** More server options, e.g. `--ssl-cert=…` for a server with TLS. */
    serverArgs?: readonly string[];
  } = {},
): Promise<PrivateMariaDb> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const datadir = join(dir, 'data');
  const install = spawnSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  // A port in 33100–33899 that nothing answers on.
  let port = 0;
  for (let attempt = 0; attempt < 20 && port === 0; attempt++) {
    const candidate = 33100 + Math.floor(Math.random() * 800);
    const probe = await mysql
      .createConnection({ host: '127.0.0.1', port: candidate, user: 'root', connectTimeout: 500 })
      .catch(() => undefined);
    if (probe) await probe.end();
    else port = candidate;
  }
  if (port === 0) throw new Error('no free port for the private MariaDB');
  let server: ChildProcess | undefined;

  const db: PrivateMariaDb = {
    port,
    dir,
    async start() {
      server = spawn(
        'mariadbd',
        [
          '--no-defaults',
          `--datadir=${datadir}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${join(dir, 'mariadb.sock')}`,
          `--pid-file=${join(dir, 'mariadb.pid')}`,
          '--user=root',
          '--innodb-buffer-pool-size=32M',
          '--skip-log-bin',
          ...(options.serverArgs ?? []),
        ],
        { stdio: 'ignore' },
      );
      const deadline = Date.now() + 30_000;
      for (;;) {
        const connection = await mysql
          .createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 })
          .catch(() => undefined);
        if (connection) {
          await connection.end();
          return;
        }
        if (Date.now() > deadline) throw new Error('the private MariaDB did not start');
        await sleep(100);
      }
    },
    async kill() {
      const running = server;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
    async destroy() {
      await db.kill();
      rmSync(dir, { recursive: true, force: true });
    },
    connect(database) {
      return mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: 'root',
        ...(database ? { database } : {}),
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        timezone: '+00:00',
        multipleStatements: true,
      });
    },
  };
  return db;
}
