import { verify, type KeyObject } from 'node:crypto';

/**
 * True when `signature` (base64, the `.sig` file of `pnpm release`) is the release key's Ed25519
 * signature of `bytes`. The one check behind both ends of a remote upgrade: the hub, when it stores
 * a release and names `releases.publicKey`, and the agent, against the key its install shipped
 * with. A key of another type never verifies, and a malformed signature is false, not a throw.
 */
export function releaseSignatureValid(bytes: Buffer, signature: string, key: KeyObject): boolean {
  if (key.asymmetricKeyType !== 'ed25519') return false;
  try {
    return verify(null, bytes, key, Buffer.from(signature.trim(), 'base64'));
  } catch {
    return false;
  }
}
