import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TendrilError } from '@tendril/core';

/** The secrets file's name; it lives beside the config file. */
export const SECRETS_FILE_NAME = 'secrets.enc';
const FORMAT = 'tendril-secrets';
const VERSION = 1;
const KEY_INFO = 'tendril secrets.enc v1 aes-256-gcm';
const KEY_ID_INFO = 'tendril site key id v1';

/** A secret's name as written in `${secret:NAME}`. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * On disk: JSON with the HKDF salt, the GCM nonce, tag and ciphertext (base64), and a key id (a
 * one-way tag of the site key) so "this file belongs to another key" is told apart from "corrupt".
 * The header is bound to the ciphertext as additional authenticated data.
 */
interface SecretsEnvelope {
  format: typeof FORMAT;
  version: typeof VERSION;
  kdf: 'hkdf-sha256';
  cipher: 'aes-256-gcm';
  keyId: string;
  salt: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/** The secrets file of a config file: `secrets.enc` in the same folder. */
export function secretsFileFor(configFile: string): string {
  return join(dirname(configFile), SECRETS_FILE_NAME);
}

function deriveKey(siteKey: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', siteKey, salt, KEY_INFO, 32));
}

/** A short, one-way identifier of a site key (first 8 bytes of an HKDF output, hex). */
export function siteKeyId(siteKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', siteKey, Buffer.alloc(0), KEY_ID_INFO, 8)).toString('hex');
}

function aad(envelope: Pick<SecretsEnvelope, 'format' | 'version' | 'keyId' | 'salt'>): Buffer {
  return Buffer.from(`${envelope.format}|${envelope.version}|${envelope.keyId}|${envelope.salt}`, 'utf8');
}

/** Encrypts name → value with AES-256-GCM under a key derived (HKDF-SHA256, fresh salt) from the site key. */
export function encryptSecrets(siteKey: Buffer, secrets: Readonly<Record<string, string>>): string {
  for (const name of Object.keys(secrets)) {
    if (!SECRET_NAME_PATTERN.test(name)) {
      throw new TendrilError(
        'TENDRIL_E_SECRETS',
        `secret name "${name}" may use only letters, digits, ".", "_" and "-"`,
      );
    }
  }
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header = {
    format: FORMAT,
    version: VERSION,
    keyId: siteKeyId(siteKey),
    salt: salt.toString('base64'),
  } as const;
  const cipher = createCipheriv('aes-256-gcm', deriveKey(siteKey, salt), iv);
  cipher.setAAD(aad(header));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
  const envelope: SecretsEnvelope = {
    ...header,
    kdf: 'hkdf-sha256',
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
  return `${JSON.stringify(envelope, null, 2)}\n`;
}

/** Decrypts a secrets file's text. Wrong key and tampering are told apart; values never appear in errors. */
export function decryptSecrets(
  siteKey: Buffer,
  text: string,
  label = SECRETS_FILE_NAME,
): Record<string, string> {
  let envelope: SecretsEnvelope;
  try {
    envelope = JSON.parse(text) as SecretsEnvelope;
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `${label} is not a Tendril secrets file (not JSON); restore it from backup or run \`tendril init\` again`,
      { cause },
    );
  }
  if (envelope?.format !== FORMAT || envelope.version !== VERSION) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `${label} is not a version ${VERSION} Tendril secrets file; restore it or run \`tendril init\` again`,
    );
  }
  if (envelope.keyId !== siteKeyId(siteKey)) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `${label} was encrypted with a different site key; set TENDRIL_SITE_KEY (or TENDRIL_SITE_KEY_FILE) to the key \`tendril init\` showed for this site`,
    );
  }
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      deriveKey(siteKey, Buffer.from(envelope.salt, 'base64')),
      Buffer.from(envelope.iv, 'base64'),
    );
    decipher.setAAD(aad(envelope));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
    const plain = Buffer.concat([
      decipher.update(Buffer.from(envelope.ciphertext, 'base64')),
      decipher.final(),
    ]).toString('utf8');
    const parsed = JSON.parse(plain) as unknown;
    if (
      !parsed ||
      typeof parsed !== 'object' ||
      Array.isArray(parsed) ||
      Object.values(parsed).some((v) => typeof v !== 'string')
    ) {
      throw new Error('secrets are not a name → text map');
    }
    return parsed as Record<string, string>;
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `${label} failed its integrity check (changed or damaged); restore it from backup or run \`tendril init\` again`,
      { cause },
    );
  }
}

/** Reads and decrypts a secrets file. */
export async function readSecretsFile(file: string, siteKey: Buffer): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `cannot read the secrets file ${file}; it is written by \`tendril init\` beside the config file`,
      { cause },
    );
  }
  return decryptSecrets(siteKey, text, file);
}

/** Encrypts and writes a secrets file (mode 0600, replaced atomically). */
export async function writeSecretsFile(
  file: string,
  siteKey: Buffer,
  secrets: Readonly<Record<string, string>>,
): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, encryptSecrets(siteKey, secrets), { mode: 0o600 });
    await rename(temporary, file);
  } catch (cause) {
    if (cause instanceof TendrilError) throw cause;
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `cannot write the secrets file ${file}; check that the folder exists and is writable`,
      { cause },
    );
  }
}
