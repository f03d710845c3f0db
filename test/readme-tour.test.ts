import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { MARIADB } from './support/mariadb.js';
import { REPO_ROOT } from './support/paths.js';

const README = readFileSync(resolve(REPO_ROOT, 'README.md'), 'utf8');

/** The fenced block after the README's "runs the next block verbatim" marker, exactly as written. */
function tourBlock(): string {
  const marker = README.indexOf('<!-- test/readme-tour.test.ts runs the next block verbatim');
  expect(marker, 'the tour marker in README.md').toBeGreaterThan(0);
  const open = README.indexOf('```sh\n', marker);
  const close = README.indexOf('\n```\n', open);
  return README.slice(open + '```sh\n'.length, close + 1);
}

/** The patients entry the README shows for the backload. */
function documentedPatients(): Record<string, unknown> {
  const marker = README.indexOf('<!-- test/readme-tour.test.ts checks that this is the patients entry');
  const match = /\{"stream":"patients"[^}]*\}/.exec(README.slice(marker));
  expect(match, 'the documented patients entry').not.toBeNull();
  return JSON.parse(match![0]) as Record<string, unknown>;
}

function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

/** Whether this machine lets us give the tour a network namespace of its own (root or user namespaces). */
function privateNetworkAvailable(): boolean {
  return spawnSync('unshare', ['--net', 'true']).status === 0 && spawnSync('ip', ['-V']).status === 0;
}

/**
 * The README's two-minute tour, run verbatim with bash: the block is extracted from README.md and
 * nothing in it is changed. It runs in a fresh folder holding only `bin` (a link to this
 * checkout's `bin/`), with a clean environment, against MariaDB on 127.0.0.1:3306 as the README
 * says. So that it can create `opendental` and `tendril_reader` without touching the shared server,
 * it runs in a network namespace of its own where a private MariaDB listens on 127.0.0.1:3306;
 * where namespaces are not allowed it runs against the shared server, refusing to start if either
 * name exists there, and drops both afterwards.
 */
describe('README tour', () => {
  const work = mkdtempSync(join(tmpdir(), 'tendril-tour-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('works as written: creates the database and the reader, backloads, holds back fresh edits, reads them', async () => {
    symlinkSync(resolve(REPO_ROOT, 'bin'), join(work, 'bin'));
    writeFileSync(join(work, 'tour.sh'), `set -euo pipefail\n${tourBlock()}`);
    const env: NodeJS.ProcessEnv = {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
      HOME: work,
      LANG: 'C.UTF-8',
    };
    let result: { code: number | null; output: string };
    let grants: string;
    if (privateNetworkAvailable()) {
      const dir = join(work, 'mariadb');
      mkdirSync(dir);
      const install = spawnSync(
        'mariadb-install-db',
        [
          '--no-defaults',
          `--datadir=${join(dir, 'data')}`,
          '--user=root',
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
        ],
        { encoding: 'utf8' },
      );
      expect(install.status, install.stderr).toBe(0);
      const outer = [
        'set -u',
        'ip link set lo up',
        `mariadbd --no-defaults --datadir=${join(dir, 'data')} --port=3306 --bind-address=127.0.0.1 --socket=${join(dir, 'sock')} --pid-file=${join(dir, 'pid')} --user=root --skip-log-bin --innodb-buffer-pool-size=64M >${join(dir, 'log')} 2>&1 &`,
        'db=$!',
        "for _ in $(seq 1 150); do mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done",
        'bash tour.sh',
        'rc=$?',
        `mariadb -h127.0.0.1 -uroot -N -e "SHOW GRANTS FOR 'tendril_reader'@'%'" > grants.txt 2>&1`,
        'kill $db; wait $db',
        'exit $rc',
      ].join('\n');
      writeFileSync(join(work, 'outer.sh'), outer);
      result = await run('unshare', ['--net', 'bash', 'outer.sh'], { cwd: work, env });
      grants = readFileSync(join(work, 'grants.txt'), 'utf8');
    } else {
      const admin = await mysql.createConnection({ ...MARIADB });
      try {
        const [[lock]] = (await admin.query(
          "SELECT GET_LOCK('tendril-readme-tour', 600) AS ok",
        )) as unknown as [{ ok: number }[]];
        expect(lock!.ok).toBe(1);
        const [dbs] = (await admin.query("SHOW DATABASES LIKE 'opendental'")) as unknown as [unknown[]];
        const [users] = (await admin.query(
          "SELECT 1 FROM mysql.user WHERE user = 'tendril_reader'",
        )) as unknown as [unknown[]];
        if (dbs.length > 0 || users.length > 0)
          throw new Error(
            'the shared MariaDB already has `opendental` or `tendril_reader`: the tour would not start clean',
          );
        try {
          result = await run('bash', ['tour.sh'], { cwd: work, env });
          const [rows] = (await admin.query("SHOW GRANTS FOR 'tendril_reader'@'%'")) as unknown as [
            Record<string, string>[],
          ];
          grants = rows.map((r) => Object.values(r)[0]).join('\n');
        } finally {
          await admin.query('DROP DATABASE IF EXISTS opendental');
          await admin.query("DROP USER IF EXISTS 'tendril_reader'@'%'");
        }
      } finally {
        await admin.end();
      }
    }

    expect(result.code, result.output).toBe(0);
    const out = result.output;
    expect(out).toContain('open-dental  Open Dental 24.3');
    expect(out).toMatch(/seeded .*10,000 patient/);
    // The reader `tendril grants` created may only read.
    const privileges = grants.trim().split('\n');
    expect(privileges.length).toBeGreaterThan(1);
    for (const line of privileges) expect(line).toMatch(/^GRANT (USAGE|SELECT) ON /);

    const reports = out
      .split('\n')
      .filter((line) => line.startsWith('{"connections"'))
      .map((line) => JSON.parse(line) as { connections: { streams: Record<string, unknown>[] }[] });
    expect(reports).toHaveLength(2);
    const patients = (i: number) =>
      reports[i]!.connections[0]!.streams.find((s) => s['stream'] === 'patients')!;
    // The backload prints exactly what the README shows.
    expect(patients(0)).toEqual(documentedPatients());
    // The ten edits: held back right after the UPDATE, with when they will be read…
    expect(out).toMatch(
      /held back by the settle window \(rows of smile-dental-main changed in the last 10 s, sync\.settleSeconds\): patients 10\b/,
    );
    expect(out).toMatch(/a sync from \d\d:\d\d:\d\d \(in \d+ s\) reads them/);
    // …and read as exactly ten updates once the window passed.
    expect(patients(1)).toMatchObject({ updated: 10, created: 0, deleted: 0 });
    // The last command printed three FHIR resources from the local outbox, without the EHR password.
    const tail = out.slice(out.lastIndexOf('{"connections"'));
    const resources = tail.split('\n').filter((line) => line === '{').length;
    expect(resources).toBe(3);
    expect(tail).toContain('"resourceType"');
  }, 600_000);
});
