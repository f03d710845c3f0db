import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openDental } from '@tendril/connector-open-dental';
import { createSqlClient } from '@tendril/sql';
import { seedOpenDental } from '@tendril/connector-open-dental/testing';
import { createTablesFromDeclarations } from '@tendril/testing';
import mysql from 'mysql2/promise';
import { MARIADB } from './mariadb.js';
import { CLI, REPO_ROOT } from './paths.js';

/** One small Open Dental–shaped practice database of a test fleet. */
export interface FleetDatabase {
  readonly id: string;
  readonly name: string;
  /** The URL as stored in the fleet: the password as an environment reference. */
  readonly storedUrl: string;
  /** The URL the test itself uses. */
  readonly url: string;
}

/**
 * Creates `count` MariaDB databases `<prefix>_<run>_<n>` with the Open Dental tables the connector
 * reads (from its declarations) and a few generated patients each, `parallel` at a time.
 */
export async function createFleetDatabases(
  prefix: string,
  count: number,
  options: { patients: number; parallel?: number; stamp: Date },
): Promise<FleetDatabase[]> {
  const run = randomBytes(3).toString('hex');
  const admin = await mysql.createConnection({ ...MARIADB });
  const databases: FleetDatabase[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}_${run}_${i}`;
      await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`);
      databases.push({
        id: `practice-${String(i).padStart(3, '0')}`,
        name,
        url: `mysql://root@127.0.0.1:3306/${name}`,
        storedUrl: `mysql://root:\${FLT_DB_PASSWORD}@127.0.0.1:3306/${name}`,
      });
    }
  } finally {
    await admin.end();
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: options.parallel ?? 6 }, async () => {
      while (next < databases.length) {
        const db = databases[next++]!;
        const client = createSqlClient({ url: db.url }, { pool: { min: 0, max: 1 } });
        try {
          await createTablesFromDeclarations(client.knex, Object.values(openDental.streams), 'mysql');
          await seedOpenDental(client.knex, {
            patients: options.patients,
            seed: db.name,
            dialect: 'mysql',
            clinics: 1,
            stamp: options.stamp,
          });
        } finally {
          await client.close();
        }
      }
    }),
  );
  return databases;
}

/** Drops every database whose name starts with `<prefix>_` (this run's and any a crashed run left). */
export async function dropFleetDatabases(names: readonly string[]): Promise<void> {
  const admin = await mysql.createConnection({ ...MARIADB });
  try {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await admin.end();
  }
}

/** A running `tendril run --worker --no-supervise` process. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or null after a signal). */
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function startWorker(configFile: string, env: NodeJS.ProcessEnv): WorkerProcess {
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--worker', '--no-supervise', '--config', configFile, '--grace', '20'],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (stderr.length > 2_000_000) stderr = stderr.slice(-1_000_000);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, pid: child.pid!, exited, stderr: () => stderr };
}
