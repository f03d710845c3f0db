import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSqlClient } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createPrivateMariaDb, type PrivateMariaDb } from './support/private-mariadb.js';

const PASSWORD = `Tls-${randomBytes(6).toString('hex')}`;

interface CheckJson {
  connections: { steps: { step: string; status: string; message: string; fix?: string }[] }[];
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl, in `dir`). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Tendril test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.pem'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

/**
 * TLS for MySQL/MariaDB connections (`database.tls` → mysql2 `ssl`) on a private MariaDB that has
 * a throwaway certificate, and what `tendril check` reports: the negotiated protocol and cipher,
 * an untrusted certificate, verification turned off, a server without TLS.
 */
describe('database.tls on MariaDB, and tendril check', () => {
  let dir: string;
  let server: PrivateMariaDb;
  let certs: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-tls-'));
    certs = makeCertificates(dir);
    server = await createPrivateMariaDb('tendril-tls', {
      serverArgs: [`--ssl-ca=${certs.ca}`, `--ssl-cert=${certs.cert}`, `--ssl-key=${certs.key}`],
    });
    await server.start();
    const root = await server.connect();
    await root.query('CREATE DATABASE od CHARACTER SET utf8mb3');
    await root.query(`CREATE USER 'reader'@'%' IDENTIFIED BY ?`, [PASSWORD]);
    await root.query(`GRANT SELECT ON od.* TO 'reader'@'%'`);
    await root.end();
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      `mysql://root@127.0.0.1:${server.port}/od`,
      '--patients',
      '20',
    ]);
    expect(seeded.code, seeded.stderr).toBe(0);
    await sleep(1100);
  });

  afterAll(async () => {
    await server?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function config(name: string, database: string, port = server.port): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        `store: { sqlite: ${join(dir, `${name}.db`)} }`,
        'connections:',
        '  - id: tls-site',
        '    connector: open-dental',
        '    timezone: America/New_York',
        `    database: { url: "mysql://reader:${PASSWORD}@127.0.0.1:${port}/od"${database} }`,
        '    sync: { settleSeconds: 0 }',
        '',
      ].join('\n'),
    );
    return file;
  }

  async function check(file: string) {
    const result = await runCli(['check', '--config', file, '--json']);
    const json = JSON.parse(result.stdout || '{"connections":[{"steps":[]}]}') as CheckJson;
    return {
      code: result.code,
      stderr: result.stderr,
      tls: json.connections[0]!.steps.find((s) => s.step === 'tls'),
    };
  }

  it('encrypts with the CA given as tls.ca: check reports the negotiated protocol, and sync reads through it', async () => {
    const file = config('verified', `, tls: { ca: "${certs.ca}" }`);
    const { code, tls, stderr } = await check(file);
    expect(code, stderr).toBe(0);
    expect(tls?.status).toBe('ok');
    expect(tls?.message).toMatch(/^TLS negotiated: TLSv1\.[23], \S+; the server's certificate was verified$/);

    const synced = await runCli(['sync', '--config', file, '--once', '--json']);
    expect(synced.code, synced.stderr).toBe(0);
    const patients = (
      JSON.parse(synced.stdout) as { connections: { streams: { stream: string; read: number }[] }[] }
    ).connections[0]!.streams.find((s) => s.stream === 'patients')!;
    expect(patients.read).toBe(20);

    // The agent's own client: the session is encrypted.
    const client = createSqlClient({
      url: `mysql://reader:${PASSWORD}@127.0.0.1:${server.port}/od`,
      tls: { ca: certs.ca, rejectUnauthorized: true },
    });
    try {
      const [row] = await client.execute(client.knex.raw("SHOW SESSION STATUS LIKE 'Ssl_version'"));
      expect(String(row!['Value'])).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await client.close();
    }
  });

  it('refuses a certificate this machine does not trust, exit 10 with the fix', async () => {
    const { code, tls } = await check(config('untrusted', ', tls: {}'));
    expect(code).toBe(10);
    expect(tls?.status).toBe('failed');
    expect(tls?.message).toMatch(/the TLS handshake with 127\.0\.0\.1 failed .*not trusted/);
    expect(tls?.fix).toMatch(/database\.tls\.ca/);
  });

  it('warns when verification is turned off', async () => {
    const { code, tls } = await check(config('unverified', ', tls: { rejectUnauthorized: false }'));
    expect(code).toBe(0);
    expect(tls?.status).toBe('warning');
    expect(tls?.message).toMatch(/TLS negotiated: TLSv1\.[23].*NOT verified/);
  });

  it('says the server offers TLS when the config does not ask for it', async () => {
    const { code, tls } = await check(config('plain', ''));
    expect(code).toBe(0);
    expect(tls?.status).toBe('skipped');
    expect(tls?.message).toMatch(
      /unencrypted although the server offers TLS; to encrypt it, set database\.tls/,
    );
  });

  it('explains a server without TLS, exit 10', async () => {
    // The shared MariaDB of the test machine has no certificate.
    const { code, tls } = await check(config('no-tls-server', `, tls: { ca: "${certs.ca}" }`, 3306));
    expect(code).toBe(10);
    expect(tls?.message).toMatch(/does not offer TLS, but database\.tls asks for it/);
  });

  it('rejects tls on a SQL Server connection and a certificate without its key, exit 2', async () => {
    const file = join(dir, 'invalid.yaml');
    writeFileSync(
      file,
      [
        'connections:',
        '  - id: a',
        '    connector: dentrix-enterprise',
        '    timezone: America/New_York',
        '    database: { url: "mssql://u:p@sql01/dentrix", tls: { ca: /x.pem } }',
        '  - id: b',
        '    connector: open-dental',
        '    timezone: America/New_York',
        '    database: { url: "mysql://u:p@db/od", tls: { cert: /client.pem } }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['check', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('- connections.0.database.tls: is for MySQL/MariaDB connections');
    expect(result.stderr).toContain('- connections.1.database.tls: cert and key go together');
  });
});
