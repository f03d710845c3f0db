import { createHash, createPublicKey } from 'node:crypto';
import { TendrilError } from '@tendril/core';
import { releaseSignatureValid, type UpgradeRelease } from '@tendril/hub';

/**
 * Checks downloaded release bytes against what the hub announced and the release key this install
 * shipped with, in order: size, SHA-256, then the Ed25519 signature. Only bytes that pass all three
 * are ever written out and unpacked (upgrade/stage-release.ts). The hash alone would only prove the
 * hub sent what it stored; the signature proves the release came from whoever holds the release
 * key, so a compromised hub cannot push its own code. Throws TENDRIL_E_UPGRADE_VERIFY naming which
 * check failed.
 */
export function verifyRelease(bytes: Buffer, release: UpgradeRelease, publicKeyPem: string): void {
  const fail = (what: string) =>
    new TendrilError(
      'TENDRIL_E_UPGRADE_VERIFY',
      `release ${release.version}: ${what}; nothing was unpacked or switched. Add the release to the hub again from the files \`pnpm release\` wrote`,
    );
  if (bytes.length !== release.bytes)
    throw fail(`the download has ${bytes.length} bytes, the hub announced ${release.bytes}`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== release.sha256) throw fail('the SHA-256 of the download does not match the announced one');
  let key;
  try {
    key = createPublicKey(publicKeyPem);
  } catch {
    throw fail("this install's release key (lib/release-public-key.pem) cannot be read");
  }
  if (!releaseSignatureValid(bytes, release.signature, key))
    throw fail(
      "the Ed25519 signature does not verify against this install's release key (lib/release-public-key.pem)",
    );
}
