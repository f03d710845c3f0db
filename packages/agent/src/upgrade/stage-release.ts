import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TendrilError } from '@tendril/core';
import type { UpgradeRelease } from '@tendril/hub';
import { verifyRelease } from './verify-release.js';

export interface StageReleaseOptions {
  readonly release: UpgradeRelease;
  /** The hub's base URL (`hub.url`); the tarball is at `release.path` on it. */
  readonly hubUrl: string;
  readonly siteId: string;
  /** The link's current credential (after a rotation: the new one). Never logged or put in a message. */
  readonly credential: string;
  /** The upgrades folder (upgrade/upgrade-state.ts); the release goes to `<dir>/<version>/`. */
  readonly dir: string;
  /** The public half of the release key this install shipped with. */
  readonly publicKeyPem: string;
  readonly fetch?: typeof fetch;
}

/** Reads a response body, giving up as soon as it is longer than announced (a hub cannot fill the disk). */
async function readCapped(response: Response, limit: number, version: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = (await reader.read()) as {
      done: boolean;
      value?: Uint8Array;
    };
    if (done || !value) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new TendrilError(
        'TENDRIL_E_UPGRADE_VERIFY',
        `release ${version}: the download is longer than the ${limit} bytes the hub announced; stopped reading, nothing was unpacked or switched`,
      );
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/**
 * The child's half of a remote upgrade (docs/hub.md, "Remote upgrade"): downloads the release from
 * the hub with the link's Basic credentials, verifies size, SHA-256 and signature BEFORE anything
 * touches the disk (verify-release.ts), then unpacks it into `<dir>/<version>/` and returns the
 * staged `lib/dist/bin.js`. The running agent is not touched: the supervisor switches
 * (supervisor/upgrade-launcher.ts).
 */
export async function stageRelease(options: StageReleaseOptions): Promise<{ entry: string }> {
  const { release } = options;
  const url = new URL(release.path, options.hubUrl.endsWith('/') ? options.hubUrl : `${options.hubUrl}/`);
  const auth = Buffer.from(`${options.siteId}:${options.credential}`).toString('base64');
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { headers: { authorization: `Basic ${auth}` } });
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_UPGRADE_DOWNLOAD',
      `release ${release.version}: the hub (hub.url) could not be reached for the download; nothing was changed, send the upgrade again`,
      { cause },
    );
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new TendrilError(
      'TENDRIL_E_UPGRADE_DOWNLOAD',
      `release ${release.version}: the hub answered HTTP ${response.status} to the download of ${release.path}; nothing was changed. Check that the release is on the hub (tendril hub release add) and send the upgrade again`,
    );
  }
  const bytes = await readCapped(response, release.bytes, release.version);
  verifyRelease(bytes, release, options.publicKeyPem);

  const folder = join(options.dir, release.version);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const tarball = join(folder, 'release.tar.gz');
  writeFileSync(tarball, bytes, { mode: 0o600 });
  const unpacked = spawnSync('tar', ['-xzf', tarball, '-C', folder], { encoding: 'utf8' });
  const tops = unpacked.status === 0 ? readdirSync(folder).filter((e) => e !== 'release.tar.gz') : [];
  const root = tops.length === 1 ? join(folder, tops[0]!) : undefined;
  const entry = root ? join(root, 'lib', 'dist', 'bin.js') : undefined;
  let stamped: string | undefined;
  try {
    stamped = root
      ? (JSON.parse(readFileSync(join(root, 'RELEASE.json'), 'utf8')) as { version?: string }).version
      : undefined;
  } catch {
    stamped = undefined;
  }
  if (!entry || !existsSync(entry) || stamped !== release.version) {
    rmSync(folder, { recursive: true, force: true });
    throw new TendrilError(
      'TENDRIL_E_UPGRADE_VERIFY',
      `release ${release.version}: the signed tarball is not a Tendril release of that version (one folder with lib/dist/bin.js and RELEASE.json saying ${release.version}); nothing was switched`,
    );
  }
  return { entry };
}
