import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * This agent's version: the `version` of `@tendril/agent`'s package.json, which the release sets
 * (`tendril --version`, `/v1/status`). Read once; "unknown" only if the file is missing.
 */
export function agentVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    cached = pkg.version ?? 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
