import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TendrilError } from '@tendril/core';
import { ReleaseVersion } from './link/protocol.js';
import { releaseSignatureValid } from './release-signature.js';

/** A release tarball read from disk with its checksum and signature, checked and ready to store. */
export interface ReleaseFile {
  readonly version: string;
  readonly platform: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly signature: string;
  readonly content: Buffer;
}

/** `tendril-<version>-<platform>.tar.gz`, as `pnpm release` names it (scripts/release.mjs). */
const NAME = /^tendril-(.+)-([a-z0-9]+-[a-z0-9_]+)\.tar\.gz$/;

function readText(path: string, what: string, fix: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new TendrilError('TENDRIL_E_USAGE', `${what} ${path} cannot be read; ${fix}`);
  }
}

/**
 * Reads a release as `pnpm release` leaves it (docs/release.md): the tarball, `<tarball>.sha256`
 * (sha256sum format) and `<tarball>.sig` (a detached Ed25519 signature, base64) beside it. The
 * hub refuses a tarball whose bytes do not match its `.sha256` — a truncated copy would otherwise
 * be handed to every agent that upgrades — and, when hub.yaml names `releases.publicKey`, one
 * whose signature does not verify (agents verify it too, against the key they shipped with).
 */
export function readReleaseFile(tarball: string, publicKeyFile?: string): ReleaseFile {
  const fileName = basename(tarball);
  const named = NAME.exec(fileName);
  const version = named ? ReleaseVersion.safeParse(named[1]) : undefined;
  if (!named || !version?.success)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${fileName}: a release tarball is named tendril-<version>-<platform>.tar.gz (as pnpm release makes it), with a version like 0.2.0; rename it or rebuild it`,
    );
  let content: Buffer;
  try {
    content = readFileSync(tarball);
  } catch {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `the release tarball ${tarball} cannot be read; check the path`,
    );
  }
  const checksumFile = `${tarball}.sha256`;
  const expected = /^([0-9a-fA-F]{64})\b/.exec(
    readText(
      checksumFile,
      'the checksum file',
      'it must sit beside the tarball, as pnpm release writes it',
    ).trim(),
  )?.[1];
  if (!expected)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${checksumFile} does not start with a SHA-256 (64 hex digits); use the file pnpm release wrote`,
    );
  const sha256 = createHash('sha256').update(content).digest('hex');
  if (sha256 !== expected.toLowerCase())
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${fileName} does not match ${checksumFile} (the tarball is damaged or not the one that was released); copy the tarball again and retry`,
    );
  const signatureFile = `${tarball}.sig`;
  const signature = readText(
    signatureFile,
    'the signature file',
    'it must sit beside the tarball, as pnpm release writes it',
  ).trim();
  const signatureBytes = Buffer.from(signature, 'base64');
  if (signatureBytes.length !== 64 || signatureBytes.toString('base64') !== signature)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${signatureFile} is not a base64 Ed25519 signature (64 bytes); use the file pnpm release wrote`,
    );
  if (publicKeyFile) {
    let key;
    try {
      key = createPublicKey(readFileSync(publicKeyFile));
    } catch {
      throw new TendrilError(
        'TENDRIL_E_CONFIG_INVALID',
        `releases.publicKey: ${publicKeyFile} is not a readable PEM public key; give the release key's public half (openssl pkey -pubout)`,
      );
    }
    if (!releaseSignatureValid(content, signature, key))
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `${signatureFile} does not verify with releases.publicKey (${publicKeyFile}): the tarball was not signed with the release key; use the release pnpm release built and signed`,
      );
  }
  return { version: version.data, platform: named[2]!, fileName, sha256, signature, content };
}
