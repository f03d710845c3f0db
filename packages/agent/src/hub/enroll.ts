import { cellText, TendrilError } from '@tendril/core';
import type { EnrollmentDetails } from '@tendril/hub';

/** Where a hub is, checked the same way as `hub.url` in tendril.yaml. */
export function hubBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--hub ${url}: not a URL; give the hub address such as https://hub.example.com`,
    );
  }
  const loopback = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/.test(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--hub ${url}: use https:// (plain http:// only for a hub on this machine)`,
    );
  return parsed.toString().replace(/\/$/, '');
}

async function call(base: string, key: string, method: 'GET' | 'POST'): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(`${base}/v1/enroll`, {
      method,
      headers: { authorization: `Bearer ${key.trim()}` },
      signal: AbortSignal.timeout(20_000),
    });
  } catch (cause) {
    throw new TendrilError(
      'TENDRIL_E_HUB_UNREACHABLE',
      `cannot reach the hub at ${base} (${(cause as { cause?: { code?: string } }).cause?.code ?? 'network error'}); check the address and that this server may connect out to it`,
      { cause },
    );
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new TendrilError(
      'TENDRIL_E_HUB_REFUSED',
      `the hub refused the enrollment key (${cellText(body['code'] ?? response.status)}): ${cellText(body['message'] ?? 'no reason given')}`,
    );
  }
  return body;
}

/** What the key opens, without spending it: the pre-filled answers of the install form. */
export async function previewEnrollment(base: string, key: string): Promise<EnrollmentDetails> {
  return (await call(base, key, 'GET')) as unknown as EnrollmentDetails;
}

/** Spends the key for the site's agent credential (shown to nobody: it goes to secrets.enc). */
export async function spendEnrollment(
  base: string,
  key: string,
): Promise<EnrollmentDetails & { credential: string }> {
  const body = await call(base, key, 'POST');
  if (typeof body['credential'] !== 'string')
    throw new TendrilError('TENDRIL_E_INTERNAL', 'the hub answered without a credential');
  return body as unknown as EnrollmentDetails & { credential: string };
}
