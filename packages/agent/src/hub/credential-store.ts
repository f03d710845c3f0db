import { HUB_CREDENTIAL_SECRET, TendrilError } from '@tendril/core';
import { readSecretsFile, writeSecretsFile } from '../secrets/secrets-file.js';
import { loadSiteKey } from '../secrets/site-key.js';

/**
 * Stores a rotated agent credential in secrets.enc (where `tendril init --enroll` put the first
 * one), so the next start uses it. Only when the config reads the credential from there: a
 * credential given another way (an environment variable) cannot be rewritten by the agent.
 */
export async function storeRotatedCredential(options: {
  secretsFile: string | undefined;
  env: NodeJS.ProcessEnv;
  current: string;
  next: string;
}): Promise<void> {
  if (!options.secretsFile)
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      'no secrets.enc beside the config: the rotated credential cannot be stored',
    );
  const siteKey = await loadSiteKey(options.env);
  if (!siteKey)
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      'no site key in the environment: the rotated credential cannot be stored',
    );
  const secrets = await readSecretsFile(options.secretsFile, siteKey.key);
  if (secrets[HUB_CREDENTIAL_SECRET] !== options.current)
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `hub.credential is not \${secret:${HUB_CREDENTIAL_SECRET}}: the rotated credential cannot be stored where the config reads it`,
    );
  await writeSecretsFile(options.secretsFile, siteKey.key, {
    ...secrets,
    [HUB_CREDENTIAL_SECRET]: options.next,
  });
}
