import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpgradeRelease } from '@tendril/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageRelease } from './stage-release.js';

const SITE = 'st_stage';
const CREDENTIAL = 'cred-stage-secret';
const VERSION = '0.2.0';

/**
 * stageRelease against a real HTTP server that checks the Basic credentials: every check (size,
 * SHA-256, signature) must refuse before anything is written to the upgrades folder.
 */
describe('stageRelease: download, verify, then unpack', () => {
  const work = mkdtempSync(join(tmpdir(), 'tendril-stage-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let tarball: Buffer;
  let served: Buffer;
  let server: Server;
  let hubUrl: string;
  const authorizations: (string | undefined)[] = [];

  beforeAll(async () => {
    // A minimal release as `pnpm release` lays it out.
    const name = `tendril-${VERSION}-linux-x64`;
    mkdirSync(join(work, 'build', name, 'lib', 'dist'), { recursive: true });
    writeFileSync(join(work, 'build', name, 'lib', 'dist', 'bin.js'), '// the agent\n');
    writeFileSync(join(work, 'build', name, 'RELEASE.json'), JSON.stringify({ version: VERSION }));
    const tar = spawnSync('tar', ['-czf', join(work, 'r.tar.gz'), '-C', join(work, 'build'), name]);
    expect(tar.status).toBe(0);
    tarball = readFileSync(join(work, 'r.tar.gz'));
    server = createServer((req, res) => {
      authorizations.push(req.headers.authorization);
      const expected = `Basic ${Buffer.from(`${SITE}:${CREDENTIAL}`).toString('base64')}`;
      if (req.headers.authorization !== expected || req.url !== `/agent/v1/releases/${VERSION}/artifact`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/gzip' }).end(served);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hubUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  const releaseOf = (bytes: Buffer, overrides: Partial<UpgradeRelease> = {}): UpgradeRelease => ({
    version: VERSION,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    signature: sign(null, bytes, privateKey).toString('base64'),
    bytes: bytes.length,
    path: `/agent/v1/releases/${VERSION}/artifact`,
    ...overrides,
  });

  const stage = (release: UpgradeRelease, dir: string, credential = CREDENTIAL) =>
    stageRelease({ release, hubUrl, siteId: SITE, credential, dir, publicKeyPem });

  it('unpacks a release whose size, SHA-256 and signature match, and returns its lib/dist/bin.js', async () => {
    served = tarball;
    const dir = join(work, 'ok');
    const { entry } = await stage(releaseOf(tarball), dir);
    expect(entry).toBe(join(dir, VERSION, `tendril-${VERSION}-linux-x64`, 'lib', 'dist', 'bin.js'));
    expect(readFileSync(entry, 'utf8')).toBe('// the agent\n');
  });

  it('refuses a signature by another key, before anything is written', async () => {
    served = tarball;
    const dir = join(work, 'bad-sig');
    const other = generateKeyPairSync('ed25519').privateKey;
    const release = releaseOf(tarball, { signature: sign(null, tarball, other).toString('base64') });
    await expect(stage(release, dir)).rejects.toMatchObject({
      code: 'TENDRIL_E_UPGRADE_VERIFY',
      message: expect.stringContaining('Ed25519 signature does not verify') as string,
    });
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses bytes whose SHA-256 differs from the announced one, before anything is written', async () => {
    const tampered = Buffer.from(tarball);
    tampered[tampered.length - 1]! ^= 1;
    served = tampered;
    const dir = join(work, 'bad-hash');
    // Signed as served: only the announced hash is wrong, so the hash check alone must catch it.
    const release = releaseOf(tampered, { sha256: createHash('sha256').update(tarball).digest('hex') });
    await expect(stage(release, dir)).rejects.toMatchObject({
      code: 'TENDRIL_E_UPGRADE_VERIFY',
      message: expect.stringContaining('SHA-256') as string,
    });
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a download of another size than announced, before anything is written', async () => {
    served = tarball;
    const dir = join(work, 'bad-size');
    // Longer than announced: reading stops at the limit.
    await expect(stage(releaseOf(tarball, { bytes: tarball.length - 10 }), dir)).rejects.toMatchObject({
      code: 'TENDRIL_E_UPGRADE_VERIFY',
      message: expect.stringContaining('longer than') as string,
    });
    // Shorter than announced.
    await expect(stage(releaseOf(tarball, { bytes: tarball.length + 10 }), dir)).rejects.toMatchObject({
      code: 'TENDRIL_E_UPGRADE_VERIFY',
      message: expect.stringContaining(`has ${tarball.length} bytes`) as string,
    });
    expect(existsSync(dir)).toBe(false);
  });

  it('says the hub refused the download, and never puts the credential in the message', async () => {
    served = tarball;
    const dir = join(work, 'refused');
    const error = await stage(releaseOf(tarball), dir, 'wrong-credential').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TENDRIL_E_UPGRADE_DOWNLOAD' });
    expect((error as Error).message).toContain('HTTP 401');
    expect((error as Error).message).not.toContain('wrong-credential');
    expect(authorizations.at(-1)).toBe(`Basic ${Buffer.from(`${SITE}:wrong-credential`).toString('base64')}`);
    expect(existsSync(dir)).toBe(false);
  });
});
